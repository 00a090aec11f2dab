# Sourced by test.sh and the benchmarks: starts a throwaway PostgreSQL in a
# temporary directory, listening only on a Unix socket there, and stops it
# on exit. As root it installs Debian's postgresql package if it is missing
# and runs the server as the unprivileged "postgres" user.

pg_bindir() {
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# pg_start [extra postgres -c settings...]: on success exports
# MAYFLY_TEST_POSTGRES; on failure prints why and returns 1.
pg_start() {
	local bindir dir
	bindir=$(pg_bindir)
	if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test: installing PostgreSQL (Debian package postgresql)" >&2
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null 2>&1 || true
		bindir=$(pg_bindir)
	fi
	if [ -z "$bindir" ]; then
		echo "test: no PostgreSQL server found (install Debian's postgresql package, or set MAYFLY_TEST_POSTGRES)" >&2
		return 1
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/mayfly-pg.XXXXXX")
	local as=()
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1; then
			echo "test: running as root but there is no unprivileged postgres user to run the server" >&2
			return 1
		fi
		chown postgres "$dir"
		as=(runuser -u postgres --)
	fi
	PG_DIR=$dir
	PG_AS=("${as[@]}")
	PG_BIN=$bindir
	trap pg_stop EXIT
	if ! "${as[@]}" "$bindir/initdb" -D "$dir/data" -U mayfly --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1; then
		echo "test: initdb failed:" >&2; cat "$dir/initdb.log" >&2
		return 1
	fi
	local opts="-k $dir -c listen_addresses= -c max_connections=500 -c shared_buffers=256MB"
	for o in "$@"; do opts="$opts -c $o"; done
	if ! "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w start >/dev/null; then
		echo "test: PostgreSQL did not start:" >&2; cat "$dir/server.log" >&2
		return 1
	fi
	"${as[@]}" "$bindir/createdb" -h "$dir" -U mayfly mayfly
	export MAYFLY_TEST_POSTGRES="postgres://mayfly@/mayfly?host=$dir"
}

pg_stop() {
	if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
		"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
		rm -rf "$PG_DIR"
	fi
}
