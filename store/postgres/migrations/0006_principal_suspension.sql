-- The columns and index of store/sqlite's 0006_principal_suspension.sql,
-- with the same meaning: who suspended a principal and when ('' and NULL
-- unless it is suspended), and names unique whatever their letter case.
-- Names are ASCII, which lower() folds. A schema holding two names that
-- differ only in case cannot take this migration: rename one of them first.
ALTER TABLE principals
	ADD COLUMN suspended_by TEXT NOT NULL DEFAULT '',
	ADD COLUMN suspended_at BIGINT;
CREATE UNIQUE INDEX principals_name_lower ON principals (lower(name));
