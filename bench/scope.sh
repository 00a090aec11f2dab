#!/usr/bin/env bash
# Scope on the embedded store (BenchmarkScope: a generated ledger of day
# buckets written through the store, 90 days, 100 tokens a credential),
# then the same questions answered by PostgreSQL with COUNT(DISTINCT)
# over a plain table of one row per record-read (bench/scope-pg.sql).
# The ledger is kept in MAYFLY_SCOPE_BENCH_DIR between runs.
# Usage: bench/scope.sh [record-reads] [tokens] [postgres rows]
set -euo pipefail
cd "$(dirname "$0")/.."
reads=${1:-100000000}; tokens=${2:-100000}; rows=${3:-100000000}
export MAYFLY_SCOPE_BENCH_DIR=${MAYFLY_SCOPE_BENCH_DIR:-$(mktemp -d)}
MAYFLY_SCOPE_BENCH_READS=$reads MAYFLY_SCOPE_BENCH_TOKENS=$tokens \
	go test ./internal/scope -run '^$' -bench BenchmarkScope -benchtime 3x -timeout 4h -v
[ "$rows" = 0 ] && exit 0
. scripts/pg.sh
pg_start
psql -X -q "$MAYFLY_TEST_POSTGRES" -v rows="$rows" -f bench/scope-pg.sql
