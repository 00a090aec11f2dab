# Sourced by the benchmarks that measure a revision and the working tree side
# by side: side_by_side BASE starts a throwaway PostgreSQL if the run asks
# for one, makes a temporary directory ($tmp) holding a worktree of BASE
# ($tmp/base), and on exit stops the server under test ($pid), removes both
# and stops the PostgreSQL. cpu PID is a process's user + system time in
# clock ticks, $ticks of them a second.
. scripts/pg.sh

side_by_side() {
	if [ "${MAYFLY_TEST_STORE:-}" = postgres ] && [ -z "${MAYFLY_TEST_POSTGRES:-}" ]; then pg_start; fi
	tmp=$(mktemp -d)
	pid=
	trap side_by_side_cleanup EXIT
	git worktree add --detach "$tmp/base" "$1" >/dev/null 2>&1
}

side_by_side_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	pg_stop
}

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
