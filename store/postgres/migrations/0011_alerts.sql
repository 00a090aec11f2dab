-- Alerts that detection rules raised. At most one alert per rule and
-- subject is not resolved (the partial unique index), so raises from any
-- process add to it. evidence and actions are JSON arrays; times are Unix
-- nanoseconds. seq numbers every change to an alert, taken from the one
-- row of alert_seq: the row's lock, held until the transaction ends,
-- makes the numbers follow commit order, so a stream that has sent seq N
-- never misses a change numbered below it.
CREATE TABLE alerts (
	id         TEXT PRIMARY KEY,
	rule       TEXT NOT NULL,
	state      TEXT NOT NULL,
	subject    TEXT NOT NULL,
	summary    TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	count      BIGINT NOT NULL,
	evidence   TEXT NOT NULL,
	actions    TEXT NOT NULL,
	seq        BIGINT NOT NULL,
	updated_at BIGINT,
	updated_by TEXT NOT NULL,
	note       TEXT NOT NULL
);
CREATE UNIQUE INDEX alerts_unresolved ON alerts(rule, subject) WHERE state <> 'resolved';
CREATE UNIQUE INDEX alerts_seq ON alerts(seq);
CREATE INDEX alerts_last_seen ON alerts(last_seen);

CREATE TABLE alert_seq (
	id  BIGINT PRIMARY KEY CHECK (id = 1),
	seq BIGINT NOT NULL
);
INSERT INTO alert_seq (id, seq) VALUES (1, 0);
