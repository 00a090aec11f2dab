-- The tables and columns of store/sqlite's 0005_ssf.sql, with the same
-- meaning: what led to a revocation, the Shared Signals event streams to
-- receivers, and the SETs queued on each. Times are Unix nanoseconds.
ALTER TABLE revocations ADD COLUMN cause TEXT NOT NULL DEFAULT '';

-- events_requested and excluded are JSON arrays of strings, kept as text,
-- as in SQLite. cursor is the last revocation turned into the stream's
-- events; only QueueSETs moves it.
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
	cursor               BIGINT NOT NULL,
	created_at           BIGINT NOT NULL,
	updated_at           BIGINT,
	version              BIGINT NOT NULL
);

-- seq is the queue order. Deleting a stream deletes its queue.
CREATE TABLE ssf_queue (
	stream_id    TEXT NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
	jti          TEXT NOT NULL,
	seq          BIGINT GENERATED ALWAYS AS IDENTITY,
	claims       BYTEA NOT NULL,
	created_at   BIGINT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt BIGINT,
	PRIMARY KEY (stream_id, jti)
);
CREATE INDEX ssf_queue_order ON ssf_queue(stream_id, seq);
