#!/usr/bin/env bash
# Token exchange (RFC 8693) beside client_credentials, on one server in one
# run: builds mayfly and the load tool, starts a server on a fresh data
# directory, and drives the token endpoint with client_credentials, then
# as a login service exchanging subject tokens signed with ES256, then
# with EdDSA, then both again authenticating with a secret instead of a
# client assertion. Issuance records are durable in every run; tokens are ES256.
# Usage: bench/exchange.sh [seconds] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conc=${2:-64}; port=${PORT:-18741}
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/mayfly" ./cmd/mayfly
go build -o "$tmp/tokenload" ./bench/tokenload
"$tmp/mayfly" serve --data "$tmp/data" --addr "127.0.0.1:$port" --log-level warn 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/data/admin.token" ] && break; sleep 0.1; done
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# Each run prints tokenload's figures, then the server's CPU per token:
# its user and system time over the run (the 2 s warm-up included, so
# divided by the tokens of the measured seconds scaled up to the run's).
load() {
	local before out n
	before=$(cpu)
	out=$("$tmp/tokenload" -url "http://127.0.0.1:$port" -admin-token "$(cat "$tmp/data/admin.token")" -d "${secs}s" -warmup 2s -c "$conc" "$@")
	echo "$out"
	n=$(echo "$out" | sed -n 's/.* tokens=\([0-9]*\) .*/\1/p')
	awk -v c=$(( $(cpu) - before )) -v t="$tck" -v n="$n" -v s="$secs" \
		'BEGIN { printf "server CPU %.1f s, %.0f us per token\n", c / t, c / t * 1e6 / (n * (s + 2) / s) }'
}
# Enough requests signed before the run for 15,000 a second.
presign=$(( (secs + 2) * 15000 ))
load -grant client_credentials
load -grant exchange -subject-alg ES256 -presign "$presign"
load -grant exchange -subject-alg EdDSA -presign "$presign"
# The login service authenticating with a secret: one signature to verify.
load -grant exchange -subject-alg ES256 -exchange-auth secret -presign "$presign"
load -grant exchange -subject-alg EdDSA -exchange-auth secret -presign "$presign"
