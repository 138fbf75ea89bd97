-- Patient identity, per CPTS: the only place where INS and traits live.
-- Events carry the internal patient id only; deleting a row here (erasure)
-- leaves the event log intact and no longer identifying.
CREATE TABLE patient_identities (
    cpts        text        NOT NULL,
    ins         text        NOT NULL,
    ins_oid     text        NOT NULL,
    patient_id  uuid        NOT NULL UNIQUE,
    traits      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    commune     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cpts, ins)
);
