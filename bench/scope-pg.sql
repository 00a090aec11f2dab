-- The same questions as BenchmarkScope, answered by PostgreSQL over a
-- plain table of one row per record-read, (time, jti, record_id) and the
-- key beside it, with COUNT(DISTINCT record_id). Run by bench/scope.sh
-- with -v rows=N. The table is unlogged, as a load is, and has no index:
-- each question reads it whole, as the scope reads every bucket.
\timing on
DROP TABLE IF EXISTS reads;
CREATE UNLOGGED TABLE reads (time timestamptz NOT NULL, jti text NOT NULL, kid text NOT NULL, record_id bigint NOT NULL);
INSERT INTO reads
SELECT timestamptz '2031-01-01 00:00:00+00' + (i % 7776000) * interval '1 second',
	'jti-' || (i % 100000), 'kid-' || (i % 100000 / 100 % 10), (random() * 100000000)::bigint
FROM generate_series(1, :rows) AS i;
VACUUM ANALYZE reads;
SELECT count(*) AS rows, pg_size_pretty(pg_total_relation_size('reads')) AS size FROM reads;
SHOW work_mem;
-- Each question twice: the second is warm.
SELECT COUNT(DISTINCT record_id) AS kid FROM reads WHERE kid = 'kid-3';
SELECT COUNT(DISTINCT record_id) AS kid FROM reads WHERE kid = 'kid-3';
SELECT COUNT(DISTINCT record_id) AS window FROM reads WHERE time >= '2031-01-01' AND time < '2031-04-01';
SELECT COUNT(DISTINCT record_id) AS window FROM reads WHERE time >= '2031-01-01' AND time < '2031-04-01';
