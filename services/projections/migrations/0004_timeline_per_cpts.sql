-- Event ids are unique per CPTS (parcours/migrations/0003): so is a timeline line.
ALTER TABLE timeline DROP CONSTRAINT timeline_pkey;
ALTER TABLE timeline ADD PRIMARY KEY (event_id, cpts);
