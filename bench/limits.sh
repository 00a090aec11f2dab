#!/usr/bin/env bash
# What the lockouts and the bound on expensive requests cost, side by side in
# one run: the token endpoint and introspection (ES256, 64 connections),
# measured on the revision BASE, on the working tree, and on the working tree
# with its lockout table first filled by a spray of failed authentications
# (one for each of SPRAY client IDs, so that every request's checks find a
# full table, as during an attack; that server lets one address fail as
# often, or the spray would back it off), in rounds whose order rotates so that all
# three see the same machine. One load generator, the working tree's
# bench/tokenload, drives all three. Everything runs on loopback. With
# MAYFLY_TEST_STORE=postgres, on a throwaway PostgreSQL (scripts/pg.sh), a
# fresh schema per server.
# Usage: bench/limits.sh BASE [rounds] [seconds] [spray]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/side-by-side.sh
base=${1:?usage: bench/limits.sh BASE [rounds] [seconds] [spray]}; rounds=${2:-3}; secs=${3:-10}; spray=${4:-20000}
side_by_side "$base"
(cd "$tmp/base" && go build -o "$tmp/base-mayfly" ./cmd/mayfly)
go build -o "$tmp/head-mayfly" ./cmd/mayfly
go build -o "$tmp/tokenload" ./bench/tokenload
n=0

# measure ROUND ENDPOINT VARIANT: one server, one run.
measure() {
	local r=$1 ep=$2 variant=$3 tree=${3%+spray}
	n=$((n + 1))
	local dir=$tmp/data-$n store=$tmp/data-$n/mayfly.db
	if [ "${MAYFLY_TEST_STORE:-}" = postgres ]; then
		psql -q "$MAYFLY_TEST_POSTGRES" -c "CREATE SCHEMA bench_$n"
		store="$MAYFLY_TEST_POSTGRES&search_path=bench_$n"
	fi
	local extra=()
	[ "$variant" != "$tree" ] && extra=(--lockout-address-failures $((spray + 1)))
	"$tmp/$tree-mayfly" serve --data "$dir" --store "$store" --addr 127.0.0.1:18791 --log-level warn "${extra[@]}" 2>"$dir.log" &
	pid=$!
	for _ in $(seq 100); do [ -s "$dir/admin.token" ] && curl -sf http://127.0.0.1:18791/healthz >/dev/null && break; sleep 0.1; done
	local load=("$tmp/tokenload" -url http://127.0.0.1:18791 -admin-token "$(cat "$dir/admin.token")" -alg ES256 -c 64)
	if [ "$variant" != "$tree" ]; then
		"${load[@]}" -spray "$spray" -d 1ms -warmup 0 >/dev/null
		curl -s http://127.0.0.1:18791/metrics | grep '^mayfly_auth_lockout_keys{kind="client"}' | sed 's/^/               /'
	fi
	local before after out rate
	before=$(cpu "$pid")
	out=$("${load[@]}" -endpoint "$ep" -d "${secs}s")
	after=$(cpu "$pid")
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	rate=$(echo "$out" | grep -oE '/s=[0-9.]+' | cut -d= -f2)
	# The CPU counted includes the warm-up and setup: an upper bound per request.
	awk -v t="$variant" -v r="$r" -v rate="$rate" -v c=$((after - before)) -v hz="$ticks" -v s="$secs" \
		'BEGIN { printf "round %d %-10s %8.0f req/s  server CPU <= %5.1f us/req\n", r, t, rate, c / hz * 1e6 / (rate * s) }'
	echo "$out" | grep -oE 'p50=[^ ]+ p90=[^ ]+ p99=[^ ]+' | sed 's/^/               /'
	echo "$out" | grep -oE 'errors=[0-9]+' | grep -v 'errors=0$' | sed 's/^/               /' || true
}

echo "=== store: ${MAYFLY_TEST_STORE:-sqlite}; base $(git rev-parse --short "$base"), head $(git rev-parse --short HEAD) plus the working tree"
variants=(base head head+spray)
for ep in token introspect; do
	echo "=== $ep endpoint: ES256, 64 connections, ${secs}s after a 2s warm-up; head+spray: $spray failed authentications first"
	for r in $(seq "$rounds"); do
		for i in 0 1 2; do
			measure "$r" "$ep" "${variants[$(((i + r - 1) % 3))]}"
		done
	done
done
