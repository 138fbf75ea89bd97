-- The projections' copy of each patient's care circle (from CareCircleChanged) and of
-- the break-the-glass grants (BreakGlassGranted): what the read API checks. A view:
-- rebuilt from the event store.
CREATE TABLE proj_care_circle (
    cpts        text        NOT NULL,
    patient_id  uuid        NOT NULL,
    rpps        text        NOT NULL,
    role        text        NOT NULL,
    source      text        NOT NULL,
    since       timestamptz NOT NULL,
    event_id    uuid        NOT NULL,
    PRIMARY KEY (cpts, patient_id, rpps)
);
CREATE INDEX proj_care_circle_member ON proj_care_circle (cpts, rpps);

-- the patient's oppositions to sharing with a named professional (SharingOpposed facts)
CREATE TABLE proj_sharing_opposed (
    cpts        text        NOT NULL,
    patient_id  uuid        NOT NULL,
    rpps        text        NOT NULL,
    PRIMARY KEY (cpts, patient_id, rpps)
);

CREATE TABLE proj_break_glass (
    access_id   uuid        PRIMARY KEY,
    cpts        text        NOT NULL,
    patient_id  uuid        NOT NULL,
    rpps        text        NOT NULL,
    role        text        NOT NULL,
    reason      text        NOT NULL,
    granted_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX proj_break_glass_reader ON proj_break_glass (cpts, patient_id, rpps, expires_at);

-- The projections' copy of the CPTS directory (ProfessionalListed events that the
-- notifications service records when its directory changes): the zones of the pools a
-- professional may look into.
CREATE TABLE proj_directory (
    cpts        text        NOT NULL,
    rpps        text        NOT NULL,
    role        text        NOT NULL,
    specialty   text,
    zones       text[]      NOT NULL,
    active      boolean     NOT NULL,
    event_id    uuid        NOT NULL,
    PRIMARY KEY (cpts, rpps)
);
