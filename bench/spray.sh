#!/usr/bin/env bash
# The lockouts' memory under a spray: one `mayfly serve` on SQLite that
# trusts loopback as a proxy, so that each sprayed request comes from an
# X-Forwarded-For address of its own; STAGES times, STAGE failed
# authentications, each for a client ID and an address of its own (the
# server lets one address fail that often). After each stage: the keys each
# lockout tracks, the live heap after the last garbage collection
# (GODEBUG=gctrace=1) and the resident memory. Everything runs on loopback.
# Usage: bench/spray.sh [stage] [stages]
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-50000}; stages=${2:-6}; port=${PORT:-18792}
tmp=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/mayfly" ./cmd/mayfly
go build -o "$tmp/tokenload" ./bench/tokenload
GODEBUG=gctrace=1 "$tmp/mayfly" serve --data "$tmp/data" --addr "127.0.0.1:$port" --log-level warn \
	--trusted-proxies 127.0.0.0/8 --lockout-address-failures $((stage * stages + 1)) 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/data/admin.token" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
report() {
	local keys heap rss
	keys=$(curl -s "http://127.0.0.1:$port/metrics" | grep '^mayfly_auth_lockout_keys' | sed -E 's/.*kind="([a-z]+)"} /\1=/' | tr '\n' ' ')
	heap=$({ grep -oE '[0-9]+->[0-9]+->[0-9]+ MB' "$tmp/serve.log" || echo '->->none yet'; } | tail -n 1 | cut -d'>' -f3)
	rss=$(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")
	printf "%-22s keys: %s live heap after last GC: %s  RSS: %s\n" "$1" "$keys" "$heap" "$rss"
}
report "before"
for s in $(seq "$stages"); do
	"$tmp/tokenload" -url "http://127.0.0.1:$port" -admin-token "$(cat "$tmp/data/admin.token")" \
		-spray "$stage" -spray-from $(((s - 1) * stage)) -spray-xff -d 1ms -warmup 0 >/dev/null
	report "after $((s * stage)) failures"
done
