-- Admission and discharge alerts (notifications.domain.alerts): the router remembers why
-- a task was cancelled (a pause keeps its assignee in the care circle) and the status of
-- each enrolment (a followed patient has one that is not closed).
ALTER TABLE notification_tasks ADD COLUMN cause text;

CREATE TABLE notification_enrolments (
    enrolment_id  uuid PRIMARY KEY,
    cpts          text        NOT NULL,
    patient_id    uuid        NOT NULL,
    status        text        NOT NULL,  -- active, paused, closed
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_enrolments_patient ON notification_enrolments (cpts, patient_id);
CREATE INDEX notification_tasks_patient ON notification_tasks (cpts, patient_id);
