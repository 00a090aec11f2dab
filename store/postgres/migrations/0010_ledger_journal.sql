-- The ledger's journal: each batch of verified reports the ingest
-- accepted, kept from its acknowledgement until it is merged into
-- ledger_buckets. received is Unix nanoseconds; body is the batch as
-- internal/ledger.EncodeBatch encodes it; seen is set once detection has
-- seen it.
CREATE TABLE ledger_journal (
	id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	received BIGINT NOT NULL,
	service  TEXT NOT NULL,
	body     BYTEA NOT NULL,
	seen     BOOLEAN NOT NULL DEFAULT FALSE
);
