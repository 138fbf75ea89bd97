-- Every read of a patient's identity: who, what, when, why (the route).
CREATE TABLE identity_access_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cpts        text        NOT NULL,
    reader      text        NOT NULL,
    reader_role text        NOT NULL,
    patient_id  uuid        NOT NULL,
    route       text        NOT NULL,
    granted     boolean     NOT NULL,
    read_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_access_log_patient ON identity_access_log (cpts, patient_id, read_at);
