-- Pending actions: changes waiting for an administrator's decision.
-- params is a JSON object of strings, kept as text; material is what
-- carrying the action out needs and no one reads, such as a hash. Times
-- are Unix nanoseconds; decided_at and done_at are NULL until they happen.
CREATE TABLE pending_actions (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	subject      TEXT NOT NULL,
	params       TEXT NOT NULL,
	why          TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	requester    TEXT NOT NULL,
	requested_at INTEGER NOT NULL,
	status       TEXT NOT NULL,
	decided_by   TEXT NOT NULL,
	decider      TEXT NOT NULL,
	decided_at   INTEGER,
	reason       TEXT NOT NULL,
	done_at      INTEGER,
	result       TEXT NOT NULL,
	material     BLOB NOT NULL,
	version      INTEGER NOT NULL
);
CREATE INDEX pending_actions_status ON pending_actions(status, requested_at);
