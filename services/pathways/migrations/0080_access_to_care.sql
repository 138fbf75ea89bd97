-- Access to care (ACI mission 1, issue 14).
-- Timers of GP-access and unscheduled-care requests name their request.
ALTER TABLE timers ADD COLUMN request_id uuid;

-- Where each access request lives (its patient stream), for the commands that name it;
-- built by the timer index from GPAccessRequested / UnscheduledCareRequested.
CREATE TABLE access_request_index (
    request_id  uuid PRIMARY KEY,
    cpts        text NOT NULL,
    stream      text NOT NULL,
    kind        text NOT NULL  -- 'gp-access' or 'unscheduled'
);

-- The unscheduled-care slots professionals declared, by day and zone: the request's
-- edge reads who to offer it to. Written with the SNPSlotsDeclared event, in its
-- transaction (the event on the professional's stream is the record).
CREATE TABLE snp_slots (
    cpts          text    NOT NULL,
    professional  text    NOT NULL,
    day           date    NOT NULL,
    zone          text    NOT NULL,
    role          text    NOT NULL,
    slots         integer NOT NULL,
    PRIMARY KEY (cpts, day, zone, professional)
);
