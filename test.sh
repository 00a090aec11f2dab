#!/usr/bin/env bash
# The whole test suite: every package on SQLite, the PostgreSQL conformance
# and multi-replica tests, and then every server-level test again with
# PostgreSQL as the store; last, the Kubernetes manifests' tests, a module
# of their own in deploy/kubernetes. Arguments go to `go test` (such as
# -race, -run).
#
# Unless MAYFLY_TEST_POSTGRES names a database, a throwaway PostgreSQL is
# started for the run and removed after it. If none can be started, the
# PostgreSQL tests are skipped, loudly; with CI=true that is a failure.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/pg.sh

kubernetes() {
	echo "--- go test in deploy/kubernetes (its own module)"
	(cd deploy/kubernetes && go test "$@" ./...)
}

if [ -z "${MAYFLY_TEST_POSTGRES:-}" ] && ! pg_start; then
	if [ "${CI:-}" = true ]; then
		echo "test: CI=true and no PostgreSQL: failing rather than skipping the PostgreSQL tests" >&2
		exit 1
	fi
	echo "################################################################" >&2
	echo "# test: PostgreSQL TESTS SKIPPED: no PostgreSQL could be started #" >&2
	echo "################################################################" >&2
	go test "$@" ./...
	kubernetes "$@"
	exit 0
fi

echo "--- go test ./... (SQLite; PostgreSQL for the store and replica tests)"
go test "$@" ./...
echo "--- go test ./... with MAYFLY_TEST_STORE=postgres (every server on PostgreSQL)"
MAYFLY_TEST_STORE=postgres go test "$@" ./...
kubernetes "$@"
