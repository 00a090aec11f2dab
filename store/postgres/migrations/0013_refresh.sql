-- Refresh token families and their tokens. Times are Unix nanoseconds;
-- current is the generation of the token that may be used next, and a
-- rotation moves it on only from the generation it read, so two
-- rotations of one family cannot both win. Only a token's SHA-256 is
-- stored. Families are pruned by absolute expiry, which never changes,
-- so the index costs nothing per rotation.
CREATE TABLE refresh_families (
	id              TEXT PRIMARY KEY,
	client_id       TEXT NOT NULL,
	subject         TEXT NOT NULL,
	jkt             TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	last_used       BIGINT NOT NULL,
	idle_expires_at BIGINT NOT NULL,
	expires_at      BIGINT NOT NULL,
	current         BIGINT NOT NULL,
	revoked_at      BIGINT,
	reason          TEXT NOT NULL
);
CREATE INDEX refresh_families_expiry ON refresh_families(expires_at);

CREATE TABLE refresh_tokens (
	hash       BYTEA PRIMARY KEY,
	family_id  TEXT NOT NULL,
	generation BIGINT NOT NULL,
	issued_at  BIGINT NOT NULL,
	source     TEXT NOT NULL,
	used_at    BIGINT,
	used_from  TEXT NOT NULL,
	retired_at BIGINT
);
CREATE UNIQUE INDEX refresh_tokens_family ON refresh_tokens(family_id, generation);
