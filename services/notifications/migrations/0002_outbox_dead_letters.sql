-- A notification NATS refuses stays in the outbox, set aside (dead_at), with a dead
-- letter naming its event; `parcours dead-letters replay notifications-outbox` clears it.
ALTER TABLE notification_outbox ADD COLUMN dead_at timestamptz;
CREATE INDEX notification_outbox_pending ON notification_outbox (id) WHERE dead_at IS NULL;
