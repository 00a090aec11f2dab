-- Refresh token families and their tokens. Times are Unix nanoseconds;
-- current is the generation of the token that may be used next, and a
-- rotation moves it on only from the generation it read, so two
-- rotations of one family cannot both win. Only a token's SHA-256 is
-- stored. Families are pruned by absolute expiry, which never changes,
-- so the index costs nothing per rotation. Without rowids, a row lives in
-- its primary key's tree: one tree fewer to write per insert.
CREATE TABLE refresh_families (
	id              TEXT PRIMARY KEY,
	client_id       TEXT NOT NULL,
	subject         TEXT NOT NULL,
	jkt             TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	last_used       INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	current         INTEGER NOT NULL,
	revoked_at      INTEGER,
	reason          TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX refresh_families_expiry ON refresh_families(expires_at);

CREATE TABLE refresh_tokens (
	hash       BLOB PRIMARY KEY,
	family_id  TEXT NOT NULL,
	generation INTEGER NOT NULL,
	issued_at  INTEGER NOT NULL,
	source     TEXT NOT NULL,
	used_at    INTEGER,
	used_from  TEXT NOT NULL,
	retired_at INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX refresh_tokens_family ON refresh_tokens(family_id, generation);
