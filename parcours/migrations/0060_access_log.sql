-- The one access log of every service: who read which patients' data, when (the service
-- clock: virtual in simulations), through which route, granted or not, and whether a
-- break-the-glass grant let them. Never rebuilt, never truncated (pathways' identity
-- reads and the projections' reads are copied in by their 0060/0061 migrations).
CREATE TABLE access_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    logged_at      timestamptz NOT NULL DEFAULT now(),
    cpts           text        NOT NULL,
    sub            text        NOT NULL,
    role           text        NOT NULL,
    route          text        NOT NULL,
    purpose        text        NOT NULL,
    patient_ids    uuid[]      NOT NULL,
    granted        boolean     NOT NULL DEFAULT true,
    break_glass    boolean     NOT NULL DEFAULT false,
    correlation_id text
);
CREATE INDEX access_log_cpts_at ON access_log (cpts, at);
CREATE INDEX access_log_patients ON access_log USING gin (patient_ids);
