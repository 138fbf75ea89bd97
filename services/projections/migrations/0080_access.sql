-- Access to care (ACI mission 1, issue 14): GP-access requests, unscheduled-care requests
-- and GP capacity, copied from the events by the `access` view (current state per row).
CREATE TABLE proj_gp_requests (
    request_id     uuid PRIMARY KEY,
    cpts           text        NOT NULL,
    patient_id     uuid        NOT NULL,
    pseudonym      text        NOT NULL,
    status         text        NOT NULL,  -- waiting, taken, closed
    priority       text        NOT NULL,
    score          integer     NOT NULL,
    criteria       text[]      NOT NULL,
    target_days    integer     NOT NULL,
    age_band       text        NOT NULL,
    zone           text,
    source         text        NOT NULL,
    requested_at   timestamptz NOT NULL,
    taken_by       text,
    taken_at       timestamptz,
    declared_gp    text,
    declared_at    timestamptz,
    outcome        text,
    closed_at      timestamptz,
    declined       integer     NOT NULL DEFAULT 0,
    escalations    text[]      NOT NULL DEFAULT '{}',
    evidence       uuid[]      NOT NULL DEFAULT '{}'  -- the events that made the row
);
CREATE INDEX proj_gp_requests_list ON proj_gp_requests (cpts, status, score DESC, requested_at);

CREATE TABLE proj_snp_requests (
    request_id        uuid PRIMARY KEY,
    cpts              text        NOT NULL,
    patient_id        uuid        NOT NULL,
    pseudonym         text        NOT NULL,
    within_hours      integer     NOT NULL,
    requested_at      timestamptz NOT NULL,
    deadline          timestamptz NOT NULL,
    requested_by_role text        NOT NULL,
    zone              text,
    offered           integer     NOT NULL,
    accepted_by       text,
    accepted_at       timestamptz,
    escalated         boolean     NOT NULL DEFAULT false,
    outcome           text,
    closed_at         timestamptz,
    evidence          uuid[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX proj_snp_requests_cpts ON proj_snp_requests (cpts, requested_at);

CREATE TABLE proj_gp_capacity (
    cpts          text        NOT NULL,
    gp            text        NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL,
    new_patients  integer     NOT NULL,
    profiles      text[]      NOT NULL,
    declared_at   timestamptz NOT NULL,
    PRIMARY KEY (cpts, gp, period_start, period_end)
);
