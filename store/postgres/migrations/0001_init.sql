-- The tables of store/sqlite's 0001_init.sql, with the same meaning. Times
-- are Unix nanoseconds, except issuance iat/exp: Unix seconds, as in the
-- token. Names and token IDs compare byte by byte (COLLATE "C"), as in
-- SQLite, whatever the database's collation.
CREATE TABLE principals (
	ref        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	name       TEXT COLLATE "C" NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	status     TEXT NOT NULL,
	owner_id   TEXT REFERENCES principals(id),
	created_at BIGINT NOT NULL
);

CREATE TABLE rings (
	name       TEXT PRIMARY KEY,
	alg        TEXT NOT NULL,
	lifetime   BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE keys (
	ref           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kid           TEXT NOT NULL UNIQUE,
	ring          TEXT NOT NULL REFERENCES rings(name),
	alg           TEXT NOT NULL,
	public        BYTEA NOT NULL,
	sealed        BYTEA,
	created_at    BIGINT NOT NULL,
	activate_at   BIGINT NOT NULL,
	deactivate_at BIGINT NOT NULL,
	retire_at     BIGINT NOT NULL,
	revoked_at    BIGINT
);

CREATE TABLE clients (
	ref               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id                TEXT NOT NULL UNIQUE,
	name              TEXT NOT NULL,
	owner_id          TEXT NOT NULL REFERENCES principals(id),
	scopes            TEXT NOT NULL,
	audiences         TEXT NOT NULL,
	token_ttl         BIGINT NOT NULL,
	ring              TEXT NOT NULL REFERENCES rings(name),
	secret_hash       BYTEA,
	jwks              BYTEA,
	created_at        BIGINT NOT NULL,
	secret_rotated_at BIGINT,
	revoked_at        BIGINT
);

-- Issuance records grow to hundreds of millions of rows: integer references
-- instead of repeated strings, and only the indexes forensics needs. Token
-- IDs begin with their issue time, so every index here is appended to at its
-- end, a time range is a jti range (no separate iat index), and "newest
-- first" is a backward scan of whichever index the filter picks.
CREATE TABLE issuances (
	seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	jti           TEXT COLLATE "C" NOT NULL,
	key_ref       BIGINT NOT NULL,
	client_ref    BIGINT NOT NULL,
	principal_ref BIGINT NOT NULL,
	source_ip     TEXT NOT NULL,
	user_agent    TEXT NOT NULL,
	iat           BIGINT NOT NULL,
	exp           BIGINT NOT NULL
);
CREATE INDEX issuances_jti ON issuances(jti);
CREATE INDEX issuances_client ON issuances(client_ref, jti);
CREATE INDEX issuances_key ON issuances(key_ref, jti);

-- An identity column's sequence never hands out a number twice, even after
-- pruning or a rolled-back transaction.
CREATE TABLE revocations (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind    TEXT NOT NULL,
	subject TEXT NOT NULL,
	until   BIGINT,
	at      BIGINT NOT NULL,
	reason  TEXT NOT NULL
);

CREATE TABLE assertions (
	client_id TEXT NOT NULL,
	jti       TEXT NOT NULL,
	exp       BIGINT NOT NULL,
	PRIMARY KEY (client_id, jti)
);

CREATE TABLE admin_credentials (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	hash       BYTEA NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);
