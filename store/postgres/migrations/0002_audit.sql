-- The audit log: entries in their canonical bytes, the RFC 6962 tree nodes
-- completed so far above the leaves (leaf hashes live with the entries), and
-- signed checkpoints. Search columns copy fields of the entry body;
-- verification uses only the bodies. A time range is served by an index on
-- time (SQLite binary-searches idx instead; entry times grow with the index,
-- so both select the same entries).
CREATE TABLE audit_entries (
	idx       BIGINT PRIMARY KEY,
	body      BYTEA NOT NULL,
	leaf_hash BYTEA NOT NULL,
	time      BIGINT NOT NULL,
	action    TEXT NOT NULL,
	principal TEXT NOT NULL,
	client    TEXT NOT NULL,
	kid       TEXT NOT NULL
);
CREATE INDEX audit_time ON audit_entries(time);
CREATE INDEX audit_action ON audit_entries(action, idx);
CREATE INDEX audit_principal ON audit_entries(principal, idx) WHERE principal <> '';
CREATE INDEX audit_client ON audit_entries(client, idx) WHERE client <> '';
CREATE INDEX audit_kid ON audit_entries(kid, idx) WHERE kid <> '';

CREATE TABLE audit_nodes (
	level INTEGER NOT NULL,
	idx   BIGINT NOT NULL,
	hash  BYTEA NOT NULL,
	PRIMARY KEY (level, idx)
);

CREATE TABLE audit_checkpoints (
	size BIGINT PRIMARY KEY,
	note TEXT NOT NULL,
	time BIGINT NOT NULL
);

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);
