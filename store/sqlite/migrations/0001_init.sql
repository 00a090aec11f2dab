-- Times are Unix nanoseconds, except issuance iat/exp: Unix seconds, as in the token.
CREATE TABLE principals (
	ref        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	status     TEXT NOT NULL,
	owner_id   TEXT REFERENCES principals(id),
	created_at INTEGER NOT NULL
);

CREATE TABLE rings (
	name       TEXT PRIMARY KEY,
	alg        TEXT NOT NULL,
	lifetime   INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE keys (
	ref           INTEGER PRIMARY KEY,
	kid           TEXT NOT NULL UNIQUE,
	ring          TEXT NOT NULL REFERENCES rings(name),
	alg           TEXT NOT NULL,
	public        BLOB NOT NULL,
	sealed        BLOB,
	created_at    INTEGER NOT NULL,
	activate_at   INTEGER NOT NULL,
	deactivate_at INTEGER NOT NULL,
	retire_at     INTEGER NOT NULL,
	revoked_at    INTEGER
);

CREATE TABLE clients (
	ref               INTEGER PRIMARY KEY,
	id                TEXT NOT NULL UNIQUE,
	name              TEXT NOT NULL,
	owner_id          TEXT NOT NULL REFERENCES principals(id),
	scopes            TEXT NOT NULL,
	audiences         TEXT NOT NULL,
	token_ttl         INTEGER NOT NULL,
	ring              TEXT NOT NULL REFERENCES rings(name),
	secret_hash       BLOB,
	jwks              BLOB,
	created_at        INTEGER NOT NULL,
	secret_rotated_at INTEGER,
	revoked_at        INTEGER
);

-- Issuance records grow to hundreds of millions of rows: integer references
-- instead of repeated strings, and only the indexes forensics needs. Token
-- IDs begin with their issue time, so every index here is appended to at its
-- end, a time range is a jti range (no separate iat index), and "newest
-- first" is a backward scan of whichever index the filter picks.
CREATE TABLE issuances (
	seq           INTEGER PRIMARY KEY,
	jti           TEXT NOT NULL,
	key_ref       INTEGER NOT NULL,
	client_ref    INTEGER NOT NULL,
	principal_ref INTEGER NOT NULL,
	source_ip     TEXT NOT NULL,
	user_agent    TEXT NOT NULL,
	iat           INTEGER NOT NULL,
	exp           INTEGER NOT NULL
);
CREATE INDEX issuances_jti ON issuances(jti);
CREATE INDEX issuances_client ON issuances(client_ref, jti);
CREATE INDEX issuances_key ON issuances(key_ref, jti);

-- AUTOINCREMENT: a sequence number is never reused, even after pruning.
CREATE TABLE revocations (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT NOT NULL,
	subject TEXT NOT NULL,
	until   INTEGER,
	at      INTEGER NOT NULL,
	reason  TEXT NOT NULL
);

CREATE TABLE assertions (
	client_id TEXT NOT NULL,
	jti       TEXT NOT NULL,
	exp       INTEGER NOT NULL,
	PRIMARY KEY (client_id, jti)
);

CREATE TABLE admin_credentials (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
