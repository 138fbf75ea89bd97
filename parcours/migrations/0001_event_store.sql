-- The event store: the source of truth. One row per event, never updated.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL,
    stream          text        NOT NULL,
    version         integer     NOT NULL,
    type            text        NOT NULL,
    cpts            text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    correlation_id  text        NOT NULL,
    causation_id    text,
    actor_id        text        NOT NULL,
    actor_role      text        NOT NULL,
    schema_version  smallint    NOT NULL DEFAULT 1,
    data            jsonb       NOT NULL,
    -- the writing transaction: readers only pass rows whose transaction is
    -- older than every transaction still in flight (see parcours/eventstore.py)
    txid            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream, version)
);
CREATE INDEX events_txid_position ON events (txid, position);
CREATE INDEX events_cpts_recorded ON events (cpts, recorded_at);

-- Wake readers (the relay) when events commit.
CREATE FUNCTION parcours_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('parcours_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION parcours_events_notify();

-- Checkpoints of readers of the event store (the relay, rebuilds).
CREATE TABLE store_checkpoints (
    name        text PRIMARY KEY,
    txid        xid8   NOT NULL DEFAULT '0'::xid8,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
