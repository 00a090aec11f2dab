package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/mayflyhq/mayfly/store/storetest"
)

// open opens a store on dsn and closes it when the test ends, after the
// cleanups registered later.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mayfly.Store {
		return open(t, pgtest.DSN(t))
	})
}

func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (mayfly.Store, mayfly.Store) {
		dsn := pgtest.DSN(t)
		return open(t, dsn), open(t, dsn)
	})
}

// migrations reads schema_migrations: each version with the number of rows
// that record it.
func migrations(t *testing.T, dsn string) map[int]int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, count(*) FROM schema_migrations GROUP BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	out := map[int]int{}
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatalf("scan schema_migrations: %v", err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("schema_migrations: %v", err)
	}
	return out
}

// migrationFiles returns the versions of the migrations there are, and
// each once, as schema_migrations holds them once all are applied.
func migrationFiles(t *testing.T) (versions []int, once map[int]int) {
	t.Helper()
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	once = map[int]int{}
	for _, f := range files {
		// Versions need not follow one another without a gap.
		v, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration file %s: %v", f.Name(), err)
		}
		versions, once[v] = append(versions, v), 1
	}
	return versions, once
}

// TestMigrationsConcurrent: replicas starting at once on an empty schema all
// open it, and each migration is applied once.
func TestMigrationsConcurrent(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		stores[i].Close()
	}
	got := migrations(t, dsn)
	_, want := migrationFiles(t)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schema_migrations rows by version: got %v, want %v", got, want)
	}
}

// TestMigrateIdempotent: Migrate applies what is pending, then nothing.
func TestMigrateIdempotent(t *testing.T) {
	dsn := pgtest.DSN(t)
	applied, err := postgres.Migrate(t.Context(), dsn)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	all, want := migrationFiles(t)
	if fmt.Sprint(applied) != fmt.Sprint(all) {
		t.Errorf("first Migrate applied %v, want %v", applied, all)
	}
	applied, err = postgres.Migrate(t.Context(), dsn)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want none", applied)
	}
	// A store opens the migrated schema without applying anything either.
	open(t, dsn).Close()
	if got := migrations(t, dsn); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schema_migrations rows by version after Open: got %v, want %v", got, want)
	}
}

// The ledger's suites on their own, so that -run Ledger finds them, with
// the checks that need two handles or the database itself.

func TestLedger(t *testing.T) {
	storetest.Ledger(t, func(t *testing.T) storetest.LedgerStore { return open(t, pgtest.DSN(t)) })
}

func TestLedgerShared(t *testing.T) {
	storetest.LedgerShared(t, func(t *testing.T) (storetest.LedgerStore, storetest.LedgerStore) {
		dsn := pgtest.DSN(t)
		return open(t, dsn), open(t, dsn)
	})
}

func TestLedgerDamaged(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.LedgerDamaged(t, open(t, dsn), func(t *testing.T, records []byte) {
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		if _, err := conn.Exec(t.Context(), `UPDATE ledger_buckets SET records = $1`, records); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLedgerJournal(t *testing.T) {
	storetest.LedgerJournal(t, func(t *testing.T) storetest.LedgerStore { return open(t, pgtest.DSN(t)) })
	storetest.LedgerJournalShared(t, func(t *testing.T) (storetest.LedgerStore, storetest.LedgerStore) {
		dsn := pgtest.DSN(t)
		return open(t, dsn), open(t, dsn)
	})
}

// The alerts' suites on their own, so that -run Alerts finds them.

func TestAlerts(t *testing.T) {
	storetest.Alerts(t, func(t *testing.T) storetest.AlertStore { return open(t, pgtest.DSN(t)) })
}

func TestAlertsShared(t *testing.T) {
	storetest.AlertsShared(t, func(t *testing.T) (storetest.AlertStore, storetest.AlertStore) {
		dsn := pgtest.DSN(t)
		return open(t, dsn), open(t, dsn)
	})
}
