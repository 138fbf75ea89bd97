-- Patient timeline: every fact and task event of a patient, in business-time order.
CREATE TABLE timeline (
    event_id     uuid PRIMARY KEY,
    cpts         text        NOT NULL,
    patient_id   uuid        NOT NULL,
    version      integer     NOT NULL,
    type         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    label_fr     text        NOT NULL,
    label_en     text        NOT NULL,
    data         jsonb       NOT NULL
);
CREATE INDEX timeline_patient ON timeline (cpts, patient_id, occurred_at, version);
