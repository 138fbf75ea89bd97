-- Checkpoints of NATS consumers, written in the same transaction as their effects.
CREATE TABLE consumer_checkpoints (
    name        text PRIMARY KEY,
    stream_seq  bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The shared clock: wall time, or a virtual instant moved by `parcours clock advance`.
CREATE TABLE virtual_clock (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    now     timestamptz NOT NULL
);
