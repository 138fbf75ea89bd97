-- The notifications service's own tables (same database, its own names).

-- What the router knows of each task, kept from the task events it consumed:
-- who holds it, which pool, its window and status. Feeds routing of later
-- events, GET /v1/me/tasks, digests and receipts.
CREATE TABLE notification_tasks (
    task_id        uuid PRIMARY KEY,
    cpts           text        NOT NULL,
    patient_id     uuid,
    enrolment_id   uuid        NOT NULL,
    protocol       text        NOT NULL,
    activity       text        NOT NULL,
    occurrence     integer     NOT NULL,
    role           text        NOT NULL,
    zone           text        NOT NULL,   -- pool zone (subject token)
    assignee       text,                   -- RPPS; NULL = in the pool
    earliest       timestamptz NOT NULL,
    due            timestamptz NOT NULL,
    urgent         boolean     NOT NULL DEFAULT false,
    status         text        NOT NULL,
    overdue        boolean     NOT NULL DEFAULT false,
    reason         text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_tasks_assignee ON notification_tasks (cpts, assignee)
    WHERE status IN ('requested', 'accepted', 'in-progress');
CREATE INDEX notification_tasks_pool ON notification_tasks (cpts, role, zone)
    WHERE assignee IS NULL AND status IN ('requested', 'accepted', 'in-progress');

-- Transactional outbox: written with the router's checkpoint, emptied by the
-- publisher once JetStream acknowledged (Nats-Msg-Id = msg_id).
CREATE TABLE notification_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject     text        NOT NULL,
    msg_id      text        NOT NULL,
    kind        text        NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The professional directory of each CPTS, managed by its coordinators.
CREATE TABLE directory_professionals (
    cpts        text        NOT NULL,
    rpps        text        NOT NULL,
    role        text        NOT NULL,
    specialty   text,
    zones       text[]      NOT NULL DEFAULT '{}',
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cpts, rpps)
);

-- Per-CPTS routing settings: the sector of pool tasks whose patient has no zone.
CREATE TABLE directory_sectors (
    cpts          text PRIMARY KEY,
    default_zone  text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One digest per professional per local day, whatever restarts happen.
CREATE TABLE notification_digests (
    cpts     text        NOT NULL,
    rpps     text        NOT NULL,
    day      date        NOT NULL,
    sent_at  timestamptz NOT NULL,
    items    integer     NOT NULL,
    PRIMARY KEY (cpts, rpps, day)
);

-- Receipts reported by apps; each (task, professional, status) becomes one event.
CREATE TABLE notification_receipts (
    task_id   uuid        NOT NULL,
    rpps      text        NOT NULL,
    status    text        NOT NULL,   -- delivered | seen
    at        timestamptz NOT NULL,
    event_id  uuid        NOT NULL,
    PRIMARY KEY (task_id, rpps, status)
);
