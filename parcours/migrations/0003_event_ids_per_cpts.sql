-- Event ids are unique per CPTS (the tenant), not across tenants: an id re-sent by
-- another CPTS is an independent event there, and no tenant can learn that an id
-- exists elsewhere. event_id leads the key, so lookups by event id keep their index.
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
ALTER TABLE events ADD CONSTRAINT events_event_id_cpts_key UNIQUE (event_id, cpts);
