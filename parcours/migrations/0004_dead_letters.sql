-- Events a consumer could not handle (parcours/deadletters.py): the consumer, the event
-- and why (never identity). ``parked_behind`` names the failed event of the same stream
-- that this one waits behind (NULL: this event failed itself). Replayed rows stay, with
-- ``replayed_at``, as the record of what happened.
CREATE TABLE dead_letters (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer       text        NOT NULL,
    event_id       uuid        NOT NULL,
    cpts           text        NOT NULL,
    stream         text        NOT NULL,
    type           text        NOT NULL,
    position       bigint      NOT NULL,
    reason         text        NOT NULL,
    parked_behind  uuid,
    attempts       integer     NOT NULL DEFAULT 1,
    dead_at        timestamptz NOT NULL DEFAULT now(),
    replayed_at    timestamptz
);
CREATE UNIQUE INDEX dead_letters_open ON dead_letters (consumer, event_id, cpts)
    WHERE replayed_at IS NULL;
CREATE INDEX dead_letters_parked ON dead_letters (consumer, stream) WHERE replayed_at IS NULL;
CREATE INDEX dead_letters_cpts ON dead_letters (cpts, dead_at);
