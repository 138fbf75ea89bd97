-- Identity reads join the shared access log (parcours 0060_access_log).
INSERT INTO access_log (at, logged_at, cpts, sub, role, route, purpose, patient_ids, granted)
SELECT read_at, read_at, cpts, reader, reader_role, 'GET ' || route, 'patient identity',
       ARRAY[patient_id], granted
FROM identity_access_log ORDER BY id;
DROP TABLE identity_access_log;
