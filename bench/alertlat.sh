#!/usr/bin/env bash
# From a request's report to its alert: a service with the SDK's reporter
# accepts tokens forged with its key's stolen material, one at a time, and
# the time from each request's arrival to the forged-token event on GET
# /v1/alerts/stream is measured, on the embedded store (SQLite) and, with
# -postgres, on a throwaway PostgreSQL too. Loopback only, real clock.
# Usage: bench/alertlat.sh [samples] [-postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/alertlat" ./bench/alertlat
"$tmp/alertlat" -n "$n"
if [ "${2:-}" = -postgres ]; then
	. scripts/pg.sh
	pg_start # sets its own EXIT trap
	trap 'pg_stop; rm -rf "$tmp"' EXIT
	"$tmp/alertlat" -n "$n" -store "$MAYFLY_TEST_POSTGRES"
fi
