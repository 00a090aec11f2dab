-- Principals: who suspended one and when ('' and NULL unless it is
-- suspended), and names unique whatever their letter case. Names are
-- ASCII, which lower() folds. A database holding two names that differ
-- only in case cannot take this migration: rename one of them first.
ALTER TABLE principals ADD COLUMN suspended_by TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN suspended_at INTEGER;
CREATE UNIQUE INDEX principals_name_lower ON principals(lower(name));
