#!/usr/bin/env bash
# Token endpoint on loopback: tokens/s, latency percentiles and the server's
# CPU per token, at 16 and 64 connections, for ES256 and EdDSA, and
# introspection beside it. Each row is a fresh server on a fresh data
# directory (SQLite, synchronous=FULL: every token's record durable before
# it is returned). The load comes from wrk (one thread, keep-alive), which
# is installed from Debian when missing and possible, and from the Go load
# generator (bench/tokenload) otherwise.
#
# Usage: bench/tokens.sh [seconds] [rounds] [BASE]
# With BASE (a revision), that revision is built too and the rounds
# alternate builds: base, head, base, head, so that both see the same
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/side-by-side.sh
secs=${1:-10}; rounds=${2:-1}; base=${3:-}; port=${PORT:-18740}

if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null 2>&1 || true
fi
command -v wrk >/dev/null || echo "tokens: wrk is not installed; using the Go load generator (its client costs CPU on the same cores)" >&2

builds=head
if [ -n "$base" ]; then
	side_by_side "$base"
	builds="base head"
else
	tmp=$(mktemp -d); pid=
	trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fi
for b in $builds; do
	src=.; [ "$b" = base ] && src=$tmp/base
	(cd "$src" && go build -o "$tmp/$b-mayfly" ./cmd/mayfly)
done
# The current load tool for both builds: it only sets up through the API.
go build -o "$tmp/tokenload" ./bench/tokenload

cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
wrk.body = os.getenv("BODY")
EOF

# one BUILD ALG CONNS ENDPOINT: a fresh server, one warm-up and one measured run.
one() {
	local b=$1 alg=$2 conns=$3 ep=$4 dir=$tmp/data-$RANDOM$RANDOM
	"$tmp/$b-mayfly" serve --data "$dir" --addr "127.0.0.1:$port" --log-level warn 2>"$dir.log" &
	pid=$!
	for _ in $(seq 100); do [ -s "$dir/admin.token" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
	local url=http://127.0.0.1:$port creds id secret tok path body
	creds=$("$tmp/tokenload" -url "$url" -admin-token "$(cat "$dir/admin.token")" -alg "$alg" -print-client)
	read -r id secret <<<"$(head -1 <<<"$creds")"
	tok=$(sed -n 2p <<<"$creds")
	path=/oauth2/token body=grant_type=client_credentials
	[ "$ep" = introspect ] && path=/oauth2/introspect body="token=$tok"
	local before after out rate p50 p90 p99 bad
	if command -v wrk >/dev/null; then
		export BASIC BODY
		BASIC=$(printf '%s:%s' "$id" "$secret" | base64 -w0) BODY=$body
		wrk -t1 -c"$conns" -d2s -s "$tmp/post.lua" "$url$path" >/dev/null
		before=$(cpu "$pid")
		out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$tmp/post.lua" "$url$path")
		after=$(cpu "$pid")
		rate=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p90=$(awk '$1 == "90%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); bad=${bad:-0}
		# Socket errors (connect, read, write, timeout) count as failures too.
		bad=$((bad + $(awk '/Socket errors/ {gsub(/,/, ""); n = $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")))
	else
		local epn=token; [ "$ep" = introspect ] && epn=introspect
		before=$(cpu "$pid")
		out=$("$tmp/tokenload" -url "$url" -admin-token "$(cat "$dir/admin.token")" -alg "$alg" -endpoint "$epn" -d "${secs}s" -c "$conns")
		after=$(cpu "$pid")
		rate=$(grep -oE '(tokens|requests)/s=[0-9.]+' <<<"$out" | head -1 | cut -d= -f2)
		p50=$(grep -oE 'p50=[^ ]+' <<<"$out" | cut -d= -f2); p90=$(grep -oE 'p90=[^ ]+' <<<"$out" | cut -d= -f2); p99=$(grep -oE 'p99=[^ ]+' <<<"$out" | cut -d= -f2)
		bad=$(grep -oE 'errors=[0-9]+' <<<"$out" | cut -d= -f2); bad=${bad:-0}
	fi
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	rm -rf "$dir"
	awk -v r="$r" -v b="$b" -v a="$alg" -v c="$conns" -v e="$ep" -v rate="$rate" -v p50="$p50" -v p90="$p90" -v p99="$p99" \
		-v bad="$bad" -v cpu=$((after - before)) -v hz="$ticks" -v s="$secs" \
		'BEGIN { printf "| %d | %s | %s | %s | %d | %.0f | %s | %s | %s | %.0f | %d |\n", r, b, e, a, c, rate, p50, p90, p99, cpu / hz * 1e6 / (rate * s), bad }'
}

echo "| round | build | endpoint | alg | connections | per second | p50 | p90 | p99 | server CPU µs per request | failed |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for r in $(seq "$rounds"); do
	for b in $builds; do
		for alg in ES256 EdDSA; do
			for c in 16 64; do one "$b" "$alg" "$c" token; done
		done
		one "$b" ES256 64 introspect
	done
done
