-- The ledger's journal: each batch of verified reports the ingest
-- accepted, kept from its acknowledgement until it is merged into
-- ledger_buckets. received is Unix nanoseconds; body is the batch as
-- internal/ledger.EncodeBatch encodes it; seen is set once detection has
-- seen it. AUTOINCREMENT: an ID is never reused, even after the highest
-- is deleted, so a process can tell batches apart by ID alone.
CREATE TABLE ledger_journal (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	received INTEGER NOT NULL,
	service  TEXT NOT NULL,
	body     BLOB NOT NULL,
	seen     BOOLEAN NOT NULL DEFAULT FALSE
);
