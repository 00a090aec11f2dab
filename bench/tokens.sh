#!/usr/bin/env bash
# Token endpoint throughput on loopback: builds mayfly and the load tool,
# starts a server on a fresh data directory, and drives it per algorithm.
# Usage: bench/tokens.sh [seconds] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conc=${2:-64}; port=${PORT:-18740}
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/mayfly" ./cmd/mayfly
go build -o "$tmp/tokenload" ./bench/tokenload
"$tmp/mayfly" serve --data "$tmp/data" --addr "127.0.0.1:$port" --log-level warn 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/data/admin.token" ] && break; sleep 0.1; done
for alg in ES256 EdDSA RS256; do
	"$tmp/tokenload" -url "http://127.0.0.1:$port" -admin-token "$(cat "$tmp/data/admin.token")" -alg "$alg" -d "${secs}s" -c "$conc"
done
