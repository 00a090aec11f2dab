-- Principals: who suspended one and when ('' and NULL unless it is
-- suspended), and names unique whatever their letter case. Names are
-- ASCII, which lower() folds. A database holding two names that differ
-- only in case cannot take this migration: rename one of them first.
ALTER TABLE principals ADD COLUMN suspended_by TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN suspended_at INTEGER;
CREATE UNIQUE INDEX principals_name_lower ON principals(lower(name));

-- Who suspended a principal was known before only from the audit log: the
-- actor of its latest principal.suspended entry, made then.
UPDATE principals SET
	suspended_by = COALESCE((SELECT json_extract(CAST(body AS TEXT), '$.actor') FROM audit_entries
		WHERE action = 'principal.suspended' AND principal = principals.id ORDER BY idx DESC LIMIT 1), ''),
	suspended_at = (SELECT time FROM audit_entries
		WHERE action = 'principal.suspended' AND principal = principals.id ORDER BY idx DESC LIMIT 1)
WHERE status = 'suspended';
