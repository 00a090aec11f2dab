#!/usr/bin/env bash
# Access ledger ingest over HTTP on loopback, durable, on the embedded
# store (SQLite): a service posting batches of reports with its own
# client, 10 record IDs a report, then 1,000. Each run has a server in the
# load tool's process on a fresh data directory; a CPU profile of each is
# left in the working directory.
# Usage: bench/ledger.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conc=${2:-8}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/ledgerload" ./bench/ledgerload
"$tmp/ledgerload" -self -d "${secs}s" -c "$conc" -ids 10 -lines 1000 -cpuprofile ledger-10ids.prof
"$tmp/ledgerload" -self -d "${secs}s" -c "$conc" -ids 1000 -lines 100 -cpuprofile ledger-1000ids.prof
