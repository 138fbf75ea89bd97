-- Fencing of durable consumers run by several instances: the instance that takes the lead
-- of a consumer (its advisory lock) increments `term`, and every apply checks, in the
-- transaction that moves the checkpoint, that the term is still its own.
ALTER TABLE consumer_checkpoints ADD COLUMN term bigint NOT NULL DEFAULT 0;
