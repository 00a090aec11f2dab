#!/usr/bin/env bash
# Token issuance and revocation propagation: one server on SQLite, one on
# PostgreSQL, and three replicas sharing one PostgreSQL, all on loopback.
# Starts a throwaway PostgreSQL (scripts/pg.sh) unless MAYFLY_TEST_POSTGRES
# names one.
# Usage: bench/replicas.sh [seconds] [concurrency] [revocations]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
secs=${1:-10}; conc=${2:-64}; revs=${3:-200}
[ -n "${MAYFLY_TEST_POSTGRES:-}" ] || pg_start
tmp=$(mktemp -d)
pids=()
stop_servers() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop_servers; pg_stop; rm -rf "$tmp"' EXIT
go build -o "$tmp/mayfly" ./cmd/mayfly
go build -o "$tmp/tokenload" ./bench/tokenload
go build -o "$tmp/revokeprop" ./bench/revokeprop

# run NAME N STORE: N servers on STORE, then the token load and the
# propagation timing against all of them.
run() {
	local name=$1 n=$2 store=$3 urls="" i
	mkdir -p "$tmp/$name"
	for i in $(seq 0 $((n - 1))); do
		local port=$((18750 + i)) dir="$tmp/$name/$i"
		"$tmp/mayfly" serve --data "$dir" --store "${store:-$dir/mayfly.db}" --root-key-file "$tmp/$name/root.key" \
			--addr "127.0.0.1:$port" --issuer "http://mayfly.bench" --log-level warn 2>"$dir.log" &
		pids+=($!)
		for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
		urls="${urls:+$urls,}http://127.0.0.1:$port"
	done
	echo "=== $name: $n server(s)"
	"$tmp/tokenload" -url "$urls" -admin-token "$(cat "$tmp/$name/0/admin.token")" -alg ES256 -d "${secs}s" -c "$conc"
	"$tmp/revokeprop" -url "$urls" -admin-token "$(cat "$tmp/$name/0/admin.token")" -n "$revs"
	stop_servers
}

run sqlite 1 ""
psql -q "$MAYFLY_TEST_POSTGRES" -c 'CREATE SCHEMA bench1; CREATE SCHEMA bench3'
run postgres-1 1 "$MAYFLY_TEST_POSTGRES&search_path=bench1"
run postgres-3 3 "$MAYFLY_TEST_POSTGRES&search_path=bench3"
