-- The access ledger. A bucket is what one token (jti, digest) did in one
-- namespace during [start, start + width), in Unix seconds: the record IDs
-- it read as a roaring64 bitmap in its portable serialization, request
-- and refusal counts, and the services and source addresses seen, each a
-- JSON array of at most a bound of the least values, with *_more set
-- if there were more. The token's claims are kept beside each bucket.
-- Keys are ordered width first, as buckets are locked in that order.
CREATE TABLE ledger_buckets (
	width         BIGINT NOT NULL,
	start         BIGINT NOT NULL,
	jti           TEXT NOT NULL,
	digest        TEXT NOT NULL,
	namespace     TEXT NOT NULL,
	kid           TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	principal_id  TEXT NOT NULL,
	subject       TEXT NOT NULL,
	records       BYTEA NOT NULL,
	requests      BIGINT NOT NULL,
	refusals      BIGINT NOT NULL,
	services      TEXT NOT NULL,
	services_more BOOLEAN NOT NULL,
	sources       TEXT NOT NULL,
	sources_more  BOOLEAN NOT NULL,
	PRIMARY KEY (width, start, jti, digest, namespace)
);
CREATE INDEX ledger_buckets_token ON ledger_buckets(jti, digest, start);
CREATE INDEX ledger_buckets_start ON ledger_buckets(start);

-- Reports a service dropped between from_time and to_time (Unix
-- nanoseconds).
CREATE TABLE ledger_gaps (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service   TEXT NOT NULL,
	from_time BIGINT NOT NULL,
	to_time   BIGINT NOT NULL,
	dropped   BIGINT NOT NULL
);
CREATE INDEX ledger_gaps_time ON ledger_gaps(from_time);
