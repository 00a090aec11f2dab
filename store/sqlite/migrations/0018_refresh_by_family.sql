-- Refresh tokens keyed by family and generation, which a token names
-- ("FAMILY.GENERATION.SECRET"): a rotation retires one row and inserts
-- the next beside it, one page, where keys by hash put the two rows, and
-- the family index's entry, at three random places. The hash stays, to be
-- checked. Rows are kept as they were; a token issued before this
-- migration names no family and is no longer accepted: its customer logs
-- in again.
CREATE TABLE refresh_tokens_by_family (
	family_id  TEXT NOT NULL,
	generation INTEGER NOT NULL,
	hash       BLOB NOT NULL,
	issued_at  INTEGER NOT NULL,
	source     TEXT NOT NULL,
	used_at    INTEGER,
	used_from  TEXT NOT NULL,
	retired_at INTEGER,
	PRIMARY KEY (family_id, generation)
) WITHOUT ROWID;
INSERT INTO refresh_tokens_by_family (family_id, generation, hash, issued_at, source, used_at, used_from, retired_at)
	SELECT family_id, generation, hash, issued_at, source, used_at, used_from, retired_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_by_family RENAME TO refresh_tokens;
