-- Read models of the projections service (see projections/runner.py and the views).
--
-- Every view keeps its checkpoint as an EVENT-STORE checkpoint (txid, position) of
-- the last event it applied, written in the same transaction as its rows. NATS
-- delivers events in that same order (the relay publishes in read_all order), so a
-- view rebuilt from the event store and the live consumer agree on "where it is".
CREATE TABLE projection_checkpoints (
    view        text PRIMARY KEY,
    txid        bigint NOT NULL DEFAULT 0,
    position    bigint NOT NULL DEFAULT 0,
    events      bigint NOT NULL DEFAULT 0,
    generation  integer NOT NULL DEFAULT 0,   -- bumped by each rebuild swap
    rebuilt_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Versioned rows: a row is valid for recorded instants [valid_from, valid_to);
-- the live row has valid_to NULL. valid_from is the recorded_at of the event that
-- produced the version (never earlier than the previous version's). An as-of
-- query keeps the version with valid_from <= as_of < coalesce(valid_to, infinity).

-- view "care": enrolments, tasks, escalations
CREATE TABLE proj_enrolments (
    enrolment_id     uuid        NOT NULL,
    cpts             text        NOT NULL,
    patient_id       uuid        NOT NULL,
    pseudonym        text        NOT NULL,
    protocol         text        NOT NULL,
    protocol_version text        NOT NULL,
    anchor_type      text        NOT NULL,
    anchor_at        timestamptz NOT NULL,
    anchor_day       date        NOT NULL,   -- local date (Europe/Paris) of the anchor
    zone             text,
    status           text        NOT NULL,   -- active, paused, closed
    close_reason     text,
    ends_at          timestamptz,
    event_id         uuid        NOT NULL,   -- the event that produced this version
    valid_from       timestamptz NOT NULL,
    valid_to         timestamptz
);
CREATE UNIQUE INDEX proj_enrolments_live ON proj_enrolments (enrolment_id) WHERE valid_to IS NULL;
CREATE INDEX proj_enrolments_status ON proj_enrolments (cpts, status, anchor_at) WHERE valid_to IS NULL;
CREATE INDEX proj_enrolments_history ON proj_enrolments (cpts, valid_from);
CREATE INDEX proj_enrolments_pseudonym ON proj_enrolments (cpts, pseudonym);

CREATE TABLE proj_tasks (
    task_id       uuid        NOT NULL,
    cpts          text        NOT NULL,
    patient_id    uuid        NOT NULL,
    enrolment_id  uuid        NOT NULL,
    protocol      text        NOT NULL,
    activity      text        NOT NULL,
    occurrence    integer     NOT NULL,
    role          text        NOT NULL,
    zone          text,
    assignee      text,
    earliest      timestamptz NOT NULL,
    due           timestamptz NOT NULL,
    urgent        boolean     NOT NULL,
    reason        text,
    status        text        NOT NULL,
    overdue       boolean     NOT NULL,
    escalated     boolean     NOT NULL,
    completed_at  timestamptz,
    on_time       boolean,
    event_id      uuid        NOT NULL,
    valid_from    timestamptz NOT NULL,
    valid_to      timestamptz
);
CREATE UNIQUE INDEX proj_tasks_live ON proj_tasks (task_id) WHERE valid_to IS NULL;
CREATE INDEX proj_tasks_open_assignee ON proj_tasks (cpts, assignee, due)
    WHERE valid_to IS NULL AND status IN ('requested', 'accepted', 'in-progress');
CREATE INDEX proj_tasks_open_pool ON proj_tasks (cpts, role, zone, due)
    WHERE valid_to IS NULL AND status IN ('requested', 'accepted', 'in-progress');
CREATE INDEX proj_tasks_history ON proj_tasks (cpts, valid_from);
CREATE INDEX proj_tasks_due ON proj_tasks (cpts, due) WHERE valid_to IS NULL;

CREATE TABLE proj_escalations (
    escalation_id uuid PRIMARY KEY,
    cpts          text        NOT NULL,
    patient_id    uuid        NOT NULL,
    enrolment_id  uuid        NOT NULL,
    task_id       uuid,
    reason        text        NOT NULL,
    urgent        boolean     NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);
CREATE INDEX proj_escalations_cpts ON proj_escalations (cpts, occurred_at);

-- view "indicators": per-patient evidence (msgpack) and versioned case outcomes
CREATE TABLE proj_case_state (
    patient_id  uuid PRIMARY KEY,
    cpts        text  NOT NULL,
    state       bytea NOT NULL
);

CREATE TABLE proj_indicator_cases (
    cpts          text        NOT NULL,
    protocol      text        NOT NULL,
    code          text        NOT NULL,
    enrolment_id  uuid        NOT NULL,
    patient_id    uuid        NOT NULL,
    pseudonym     text        NOT NULL,
    anchor_day    date        NOT NULL,
    status        text        NOT NULL,   -- met, not_met, excluded, ineligible, counted
    reason        text,                   -- exclusion: the fact type; else a short word
    reason_day    integer,                -- days from the anchor of the deciding fact
    num           integer     NOT NULL,
    den           integer     NOT NULL,
    window_end    integer,                -- days from the anchor at which the window closes
    evidence      uuid[]      NOT NULL,   -- ids of the events that decided the case
    valid_from    timestamptz NOT NULL,
    valid_to      timestamptz
);
CREATE UNIQUE INDEX proj_indicator_cases_live ON proj_indicator_cases (enrolment_id, code)
    WHERE valid_to IS NULL;
CREATE INDEX proj_indicator_cases_period ON proj_indicator_cases (cpts, code, anchor_day)
    INCLUDE (status, num, den) WHERE valid_to IS NULL;
CREATE INDEX proj_indicator_cases_history ON proj_indicator_cases (cpts, code, anchor_day, valid_from);

-- Who read identifying data (patient ids), when and through which route. Not a view:
-- never rebuilt, never truncated.
CREATE TABLE proj_access_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    cpts         text        NOT NULL,
    sub          text        NOT NULL,
    role         text        NOT NULL,
    route        text        NOT NULL,
    purpose      text        NOT NULL,
    patient_ids  uuid[]      NOT NULL,
    correlation_id text
);
CREATE INDEX proj_access_log_cpts ON proj_access_log (cpts, at);
