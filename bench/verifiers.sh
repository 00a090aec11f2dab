#!/usr/bin/env bash
# Revocation propagation to many SDK verifiers on loopback: builds mayfly and
# bench/verifiers, starts a server on a fresh SQLite data directory, and
# connects the verifiers to its revocation stream.
# Usage: bench/verifiers.sh [verifiers] [revocations]
# NAMESPACE=customer revokes that subject namespace each time, not a token.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; revs=${2:-100}; port=${PORT:-18770}
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/mayfly" ./cmd/mayfly
go build -o "$tmp/verifiers" ./bench/verifiers
"$tmp/mayfly" serve --data "$tmp/data" --addr "127.0.0.1:$port" --log-level warn 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
"$tmp/verifiers" -url "http://127.0.0.1:$port" -admin-token "$(cat "$tmp/data/admin.token")" -pid "$pid" -n "$n" -revocations "$revs" -namespace "${NAMESPACE:-}"
