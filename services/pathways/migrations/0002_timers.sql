-- Timers: deadlines, reminders and enrolment ends, fired by the scheduler
-- (several instances may run: FOR UPDATE SKIP LOCKED). Built from the event
-- store by the timer index (checkpoint `pathways-timers` in store_checkpoints).
CREATE TABLE timers (
    key           text PRIMARY KEY,
    cpts          text        NOT NULL,
    stream        text        NOT NULL,
    kind          text        NOT NULL,
    fire_at       timestamptz NOT NULL,
    task_id       uuid,
    enrolment_id  uuid,
    fired_at      timestamptz
);
CREATE INDEX timers_pending ON timers (fire_at) WHERE fired_at IS NULL;
CREATE INDEX timers_task ON timers (task_id) WHERE fired_at IS NULL;

-- Where a task or an enrolment lives (its patient stream), for commands that name them.
CREATE TABLE task_index (
    task_id       uuid PRIMARY KEY,
    cpts          text NOT NULL,
    stream        text NOT NULL,
    enrolment_id  uuid NOT NULL
);
CREATE TABLE enrolment_index (
    enrolment_id  uuid PRIMARY KEY,
    cpts          text NOT NULL,
    stream        text NOT NULL,
    protocol      text NOT NULL,
    version       text NOT NULL,
    status        text NOT NULL DEFAULT 'active'
);
CREATE INDEX enrolment_index_protocol ON enrolment_index (protocol, version) WHERE status <> 'closed';
