#!/usr/bin/env bash
# Before and after, side by side in one run: the token endpoint (ES256, 64
# connections, issuance records on), audit appends and offboarding, measured
# on the revision BASE and on the working tree, in alternating rounds so that
# both see the same machine. Everything runs on loopback. With
# MAYFLY_TEST_STORE=postgres, on a throwaway PostgreSQL (scripts/pg.sh),
# a fresh schema per server.
# Usage: bench/compare.sh BASE [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/side-by-side.sh
base=${1:?usage: bench/compare.sh BASE [rounds] [seconds]}; rounds=${2:-3}; secs=${3:-10}
side_by_side "$base"
for tree in base head; do
	src=.; [ "$tree" = base ] && src=$tmp/base
	(cd "$src" && go build -o "$tmp/$tree-mayfly" ./cmd/mayfly && go build -o "$tmp/$tree-tokenload" ./bench/tokenload &&
		go test -c -o "$tmp/$tree-audit.test" ./internal/audit && go test -c -o "$tmp/$tree-offboard.test" ./internal/offboard)
done

echo "=== store: ${MAYFLY_TEST_STORE:-sqlite}"
echo "=== token endpoint: ES256, 64 connections, ${secs}s after a 2s warm-up"
for r in $(seq "$rounds"); do
	for tree in base head; do
		dir=$tmp/$tree-data-$r
		store=$dir/mayfly.db
		if [ "${MAYFLY_TEST_STORE:-}" = postgres ]; then
			psql -q "$MAYFLY_TEST_POSTGRES" -c "CREATE SCHEMA bench_${tree}_$r"
			store="$MAYFLY_TEST_POSTGRES&search_path=bench_${tree}_$r"
		fi
		"$tmp/$tree-mayfly" serve --data "$dir" --store "$store" --addr 127.0.0.1:18790 --log-level warn 2>"$dir.log" &
		pid=$!
		for _ in $(seq 100); do [ -s "$dir/admin.token" ] && curl -sf http://127.0.0.1:18790/healthz >/dev/null && break; sleep 0.1; done
		before=$(cpu "$pid")
		out=$("$tmp/$tree-tokenload" -url http://127.0.0.1:18790 -admin-token "$(cat "$dir/admin.token")" -alg ES256 -d "${secs}s" -c 64)
		after=$(cpu "$pid")
		kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
		rate=$(echo "$out" | grep -oE 'tokens/s=[0-9.]+' | cut -d= -f2)
		# The CPU counted includes the warm-up and setup: an upper bound per token.
		awk -v t="$tree" -v r="$r" -v rate="$rate" -v c=$((after - before)) -v hz="$ticks" -v s="$secs" \
			'BEGIN { printf "round %d %-4s %8.0f tokens/s  server CPU <= %5.1f us/token\n", r, t, rate, c / hz * 1e6 / (rate * s) }'
		echo "$out" | grep -oE 'p50=[^ ]+ p90=[^ ]+ p99=[^ ]+' | sed 's/^/               /'
	done
done

echo "=== audit appends: go test ./internal/audit -bench 'Append\$' -benchtime 3s"
for r in $(seq "$rounds"); do
	for tree in base head; do
		(cd "$tmp" && "./$tree-audit.test" -test.run '^$' -test.bench 'Append$' -test.benchtime 3s) | grep -E '^Benchmark' | sed "s/^/round $r $tree  /"
	done
done

echo "=== offboarding a person with 1,000 clients: go test ./internal/offboard -bench Offboard -benchtime 3x"
for r in $(seq "$rounds"); do
	for tree in base head; do
		(cd "$tmp" && "./$tree-offboard.test" -test.run '^$' -test.bench Offboard -test.benchtime 3x) | grep -E '^Benchmark' | sed "s/^/round $r $tree  /"
	done
done
