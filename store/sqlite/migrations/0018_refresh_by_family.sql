-- Refresh tokens keyed by family and generation, which a token names
-- ("FAMILY.GENERATION.SECRET"), and written once: a rotation inserts the
-- successor and writes nothing else. A token is retired when its
-- successor exists, at the successor's issued_at, and was presented from
-- the successor's source if prev_used; the family's current generation is
-- its latest token, whose issued_at is the family's last use and whose
-- idle_expires_at is the family's. Keyed by hash, a rotation wrote the
-- family, the retired token, its successor and an index entry at four
-- places in the file. A token issued before this migration names no
-- family and is no longer accepted: its customer logs in again.
CREATE TABLE refresh_tokens_by_family (
	family_id       TEXT NOT NULL,
	generation      INTEGER NOT NULL,
	hash            BLOB NOT NULL,
	issued_at       INTEGER NOT NULL,
	source          TEXT NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	prev_used       INTEGER NOT NULL,
	PRIMARY KEY (family_id, generation)
) WITHOUT ROWID;
INSERT INTO refresh_tokens_by_family (family_id, generation, hash, issued_at, source, idle_expires_at, prev_used)
	SELECT t.family_id, t.generation, t.hash, t.issued_at, t.source, f.idle_expires_at, COALESCE(p.used_at IS NOT NULL, 0)
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
	LEFT JOIN refresh_tokens p ON p.family_id = t.family_id AND p.generation = t.generation - 1;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_by_family RENAME TO refresh_tokens;
ALTER TABLE refresh_families DROP COLUMN current;
ALTER TABLE refresh_families DROP COLUMN last_used;
ALTER TABLE refresh_families DROP COLUMN idle_expires_at;
