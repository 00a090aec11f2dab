-- The columns and index of store/sqlite's 0006_principal_suspension.sql,
-- with the same meaning: who suspended a principal and when ('' and NULL
-- unless it is suspended), and names unique whatever their letter case.
-- Names are ASCII, which lower() folds. A schema holding two names that
-- differ only in case cannot take this migration: rename one of them first.
ALTER TABLE principals
	ADD COLUMN suspended_by TEXT NOT NULL DEFAULT '',
	ADD COLUMN suspended_at BIGINT;
CREATE UNIQUE INDEX principals_name_lower ON principals (lower(name));

-- Who suspended a principal was known before only from the audit log: the
-- actor of its latest principal.suspended entry, made then.
UPDATE principals p SET suspended_by = COALESCE(s.actor, ''), suspended_at = s.time
FROM (SELECT DISTINCT ON (principal) principal, convert_from(body, 'UTF8')::jsonb ->> 'actor' AS actor, time
	FROM audit_entries WHERE action = 'principal.suspended' ORDER BY principal, idx DESC) s
WHERE p.id = s.principal AND p.status = 'suspended';
