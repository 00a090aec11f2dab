-- The audit log: entries in their canonical bytes, the RFC 6962 tree nodes
-- completed so far above the leaves (leaf hashes live with the entries), and
-- signed checkpoints. Search columns copy fields of the entry body;
-- verification uses only the bodies. Times grow with the index, so a time
-- range is found by binary search on idx rather than kept in an index.
CREATE TABLE audit_entries (
	idx       INTEGER PRIMARY KEY,
	body      BLOB NOT NULL,
	leaf_hash BLOB NOT NULL,
	time      INTEGER NOT NULL,
	action    TEXT NOT NULL,
	principal TEXT NOT NULL,
	client    TEXT NOT NULL,
	kid       TEXT NOT NULL
);
CREATE INDEX audit_action ON audit_entries(action, idx);
CREATE INDEX audit_principal ON audit_entries(principal, idx) WHERE principal != '';
CREATE INDEX audit_client ON audit_entries(client, idx) WHERE client != '';
CREATE INDEX audit_kid ON audit_entries(kid, idx) WHERE kid != '';

CREATE TABLE audit_nodes (
	level INTEGER NOT NULL,
	idx   INTEGER NOT NULL,
	hash  BLOB NOT NULL,
	PRIMARY KEY (level, idx)
) WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
	size INTEGER PRIMARY KEY,
	note TEXT NOT NULL,
	time INTEGER NOT NULL
);

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
