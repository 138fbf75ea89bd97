-- The projections' reads join the shared access log (parcours 0060_access_log).
INSERT INTO access_log (at, logged_at, cpts, sub, role, route, purpose, patient_ids,
                        correlation_id)
SELECT at, at, cpts, sub, role, route, purpose, patient_ids, correlation_id
FROM proj_access_log ORDER BY id;
DROP TABLE proj_access_log;
