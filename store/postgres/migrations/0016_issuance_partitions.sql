-- Issuance records by day: a range partition of iat per UTC day, named
-- issuances_YYYYMMDD, so that retention drops a day whole instead of
-- deleting hundreds of millions of rows, and a lookup by jti reads the
-- jti's day only. issuances_default takes a record whose day has no
-- partition yet (the store makes them ahead), so no record is ever
-- refused; the store moves such records into their day's partition when
-- it makes it, which keeps the default empty.
--
-- The new table has the old one's columns and defaults, whatever earlier
-- migrations added, and its indexes, made again on every partition once
-- the records have moved (in this transaction). A partitioned table's
-- unique indexes must hold the partition key, and its identity columns
-- need PostgreSQL 17: seq, which nothing reads, keeps its numbers from a
-- sequence, without an index.
CREATE TEMPORARY TABLE issuance_indexes ON COMMIT DROP AS
	SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	WHERE i.indrelid = 'issuances'::regclass AND NOT i.indisprimary;
DO $$
DECLARE
	r RECORD;
BEGIN
	FOR r IN SELECT name FROM issuance_indexes LOOP
		EXECUTE format('DROP INDEX %I', r.name);
	END LOOP;
END
$$;
ALTER TABLE issuances RENAME TO issuances_unpartitioned;

CREATE SEQUENCE issuances_seq AS BIGINT;
CREATE TABLE issuances (LIKE issuances_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (iat);
ALTER TABLE issuances ALTER COLUMN seq SET DEFAULT nextval('issuances_seq');
ALTER SEQUENCE issuances_seq OWNED BY issuances.seq;

DO $$
DECLARE
	day BIGINT;
BEGIN
	FOR day IN SELECT DISTINCT (iat - (((iat % 86400) + 86400) % 86400)) FROM issuances_unpartitioned ORDER BY 1 LOOP
		EXECUTE format('CREATE TABLE %I PARTITION OF issuances FOR VALUES FROM (%s) TO (%s)',
			'issuances_' || to_char(to_timestamp(day) AT TIME ZONE 'UTC', 'YYYYMMDD'), day, day + 86400);
	END LOOP;
END
$$;
CREATE TABLE issuances_default PARTITION OF issuances DEFAULT;

INSERT INTO issuances SELECT * FROM issuances_unpartitioned;
SELECT setval('issuances_seq', max(seq)) FROM issuances_unpartitioned HAVING count(*) > 0;
DROP TABLE issuances_unpartitioned;

DO $$
DECLARE
	r RECORD;
BEGIN
	FOR r IN SELECT def FROM issuance_indexes LOOP
		EXECUTE r.def;
	END LOOP;
END
$$;
