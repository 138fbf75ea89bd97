-- Live totals of the indicator cases (view "indicators"), per CPTS, indicator, anchor day
-- and window end: the indicator list and trends read a few hundred rows per quarter here
-- instead of every case. Kept in the same transaction as the cases (projections.views.cases:
-- minus the live versions a batch closes, plus the live versions it adds); rows that reach
-- zero cases are deleted. ``window_end`` is kept for the "open" count (not met, window not
-- closed at the reference day). As-of queries still read proj_indicator_cases.
CREATE TABLE proj_indicator_totals (
    cpts        text    NOT NULL,
    code        text    NOT NULL,
    anchor_day  date    NOT NULL,
    window_end  integer,
    cases       bigint  NOT NULL,
    num         bigint  NOT NULL,
    den         bigint  NOT NULL,
    met         bigint  NOT NULL,
    excluded    bigint  NOT NULL,
    ineligible  bigint  NOT NULL,
    not_met     bigint  NOT NULL
);
CREATE UNIQUE INDEX proj_indicator_totals_key
    ON proj_indicator_totals (cpts, code, anchor_day, window_end)
    INCLUDE (cases, num, den, met, excluded, ineligible, not_met) NULLS NOT DISTINCT;

INSERT INTO proj_indicator_totals
SELECT cpts, code, anchor_day, window_end, count(*), sum(num), sum(den),
       count(*) FILTER (WHERE status = 'met'), count(*) FILTER (WHERE status = 'excluded'),
       count(*) FILTER (WHERE status = 'ineligible'), count(*) FILTER (WHERE status = 'not_met')
FROM proj_indicator_cases WHERE valid_to IS NULL
GROUP BY cpts, code, anchor_day, window_end;
