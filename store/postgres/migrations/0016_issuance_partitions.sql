-- Issuance records by day: a range partition of iat per UTC day, named
-- issuances_YYYYMMDD, so that retention drops a day whole instead of
-- deleting hundreds of millions of rows, and a lookup by jti reads the
-- jti's day only. issuances_default takes a record whose day has no
-- partition yet (the store makes them ahead), so no record is ever
-- refused; the store moves such records into their day's partition when
-- it makes it, which keeps the default empty.
--
-- A partitioned table's unique indexes must hold the partition key, and
-- its identity columns need PostgreSQL 17: seq, which nothing reads,
-- keeps its numbers from a sequence, without an index. Every other index
-- is made on every partition. Existing records move in this transaction.
ALTER TABLE issuances RENAME TO issuances_unpartitioned;
ALTER INDEX issuances_jti RENAME TO issuances_unpartitioned_jti;
ALTER INDEX issuances_client RENAME TO issuances_unpartitioned_client;
ALTER INDEX issuances_key RENAME TO issuances_unpartitioned_key;
ALTER INDEX issuances_subject RENAME TO issuances_unpartitioned_subject;

CREATE SEQUENCE issuances_seq AS BIGINT;
CREATE TABLE issuances (
	seq           BIGINT NOT NULL DEFAULT nextval('issuances_seq'),
	jti           TEXT COLLATE "C" NOT NULL,
	key_ref       BIGINT NOT NULL,
	client_ref    BIGINT NOT NULL,
	principal_ref BIGINT NOT NULL,
	source_ip     TEXT NOT NULL,
	user_agent    TEXT NOT NULL,
	iat           BIGINT NOT NULL,
	exp           BIGINT NOT NULL,
	digest        TEXT NOT NULL DEFAULT '',
	subject       TEXT NOT NULL DEFAULT '',
	actor         TEXT NOT NULL DEFAULT '',
	sid           TEXT NOT NULL DEFAULT ''
) PARTITION BY RANGE (iat);
ALTER SEQUENCE issuances_seq OWNED BY issuances.seq;
CREATE INDEX issuances_jti ON issuances(jti);
CREATE INDEX issuances_client ON issuances(client_ref, jti);
CREATE INDEX issuances_key ON issuances(key_ref, jti);
CREATE INDEX issuances_subject ON issuances(subject, jti) WHERE subject <> '';

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

INSERT INTO issuances (seq, jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp, digest, subject, actor, sid)
	SELECT seq, jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp, digest, subject, actor, sid
	FROM issuances_unpartitioned;
SELECT setval('issuances_seq', max(seq)) FROM issuances_unpartitioned HAVING count(*) > 0;
DROP TABLE issuances_unpartitioned;
