-- Identity: what an identity provider says of a principal, and a version
-- that counts a principal's changes, so that an update made from a stale
-- read is refused; the role of an admin credential and the person it
-- belongs to; custody records; offboarding runs. Times are Unix nanoseconds.
-- Plain attributes are '' when unset; only references are NULL.
ALTER TABLE principals ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE principals ADD COLUMN updated_at INTEGER;

ALTER TABLE admin_credentials ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE admin_credentials ADD COLUMN owner_id TEXT REFERENCES principals(id);

-- Custody records are only ever added. AUTOINCREMENT: an id is never
-- reused: ids grow as records are added.
CREATE TABLE custody (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	principal_id TEXT NOT NULL REFERENCES principals(id),
	asset        TEXT NOT NULL,
	asset_id     TEXT NOT NULL,
	kind         TEXT NOT NULL,
	reason       TEXT NOT NULL,
	actor        TEXT NOT NULL,
	at           INTEGER NOT NULL
);
CREATE INDEX custody_principal ON custody(principal_id);
CREATE INDEX custody_asset ON custody(asset, asset_id);

-- An offboarding run is saved whole after every step: done (the steps
-- completed) and actions (the report) are JSON arrays.
CREATE TABLE offboardings (
	id           TEXT PRIMARY KEY,
	principal_id TEXT NOT NULL,
	reason       TEXT NOT NULL,
	transfer_to  TEXT NOT NULL,
	actor        TEXT NOT NULL,
	started_at   INTEGER NOT NULL,
	finished_at  INTEGER,
	done         TEXT NOT NULL,
	actions      TEXT NOT NULL
);
