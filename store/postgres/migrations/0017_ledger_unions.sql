-- Day unions of the access ledger (mayfly.LedgerUnion): per day (Unix
-- seconds of a UTC midnight), namespace, dimension and value, the buckets
-- that share the value (their keys and what they say of themselves, in
-- sqlstore's encoding), how many, and where enough do the union of their
-- records. ledger_union_days lists the days whose unions are made, with
-- every service that reported in the day (a JSON array) and whether a
-- bucket kept only some of its own; a merge into a day deletes them.
CREATE TABLE ledger_unions (
	day       BIGINT NOT NULL,
	namespace TEXT NOT NULL,
	dim       TEXT NOT NULL,
	value     TEXT NOT NULL,
	bucket_count BIGINT NOT NULL,
	buckets   BYTEA NOT NULL,
	records   BYTEA,
	PRIMARY KEY (day, dim, value, namespace)
);
CREATE TABLE ledger_union_days (
	day BIGINT PRIMARY KEY,
	services      TEXT NOT NULL,
	services_more BOOLEAN NOT NULL
);
