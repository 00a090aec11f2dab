-- Shared Signals: what led to a revocation, the event streams to receivers,
-- and the SETs queued on each. Times are Unix nanoseconds.
ALTER TABLE revocations ADD COLUMN cause TEXT NOT NULL DEFAULT '';

-- events_requested and excluded are JSON arrays of strings. cursor is the
-- last revocation turned into the stream's events; only QueueSETs moves it.
CREATE TABLE ssf_streams (
	id                   TEXT PRIMARY KEY,
	owner                TEXT NOT NULL,
	audience             TEXT NOT NULL,
	method               TEXT NOT NULL,
	endpoint_url         TEXT NOT NULL,
	authorization_header TEXT NOT NULL,
	events_requested     TEXT NOT NULL,
	description          TEXT NOT NULL,
	excluded             TEXT NOT NULL,
	status               TEXT NOT NULL,
	reason               TEXT NOT NULL,
	cursor               INTEGER NOT NULL,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER,
	version              INTEGER NOT NULL
);

-- seq is the queue order: a new row's rowid is above every row present.
-- Deleting a stream deletes its queue.
CREATE TABLE ssf_queue (
	seq          INTEGER PRIMARY KEY,
	stream_id    TEXT NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
	jti          TEXT NOT NULL,
	claims       BLOB NOT NULL,
	created_at   INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER,
	UNIQUE (stream_id, jti)
);
CREATE INDEX ssf_queue_order ON ssf_queue(stream_id, seq);
