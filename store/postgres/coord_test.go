package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// patience bounds every wait, so that a broken store fails instead of
// hanging. No test asserts how long anything takes.
const patience = 10 * time.Second

// watch runs s.Watch until the test ends and returns what it reports.
func watch(t *testing.T, s mayfly.Store) <-chan mayfly.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan mayfly.Change, 100)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(c mayfly.Change) { ch <- c }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v after its context ended; want nil", err)
			}
		case <-time.After(patience):
			t.Errorf("Watch did not return after its context ended")
		}
	})
	return ch
}

// expect waits for want and fails on any other change first.
func expect(t *testing.T, ch <-chan mayfly.Change, want mayfly.Change) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("Watch reported %q; want %q", got, want)
		}
	case <-time.After(patience):
		t.Fatalf("Watch did not report %q", want)
	}
}

// quiet fails if ch reports anything for a little while.
func quiet(t *testing.T, ch <-chan mayfly.Change) {
	t.Helper()
	select {
	case got := <-ch:
		t.Errorf("Watch reported %q; want nothing", got)
	case <-time.After(200 * time.Millisecond):
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestWatchReconnects: when its connection dies, Watch connects again and
// reports ChangeAll, as notices may have been missed, and then changes again.
func TestWatchReconnects(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	ch := watch(t, s)
	expect(t, ch, mayfly.ChangeAll)

	admin := connect(t, dsn)
	var killed int
	err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND query = 'LISTEN ' || quote_ident('mayfly.' || current_schema())`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminating the listening session: %d terminated, %v; want 1", killed, err)
	}
	expect(t, ch, mayfly.ChangeAll)
	if err := putSetting(t, s, "x", []byte("1")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	expect(t, ch, mayfly.ChangeSettings)
}

// TestWatchOnlyCommitted: a change rolled back is not reported.
func TestWatchOnlyCommitted(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	ch := watch(t, s)
	expect(t, ch, mayfly.ChangeAll)
	if err := putSetting(t, s, "x", []byte("1")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	expect(t, ch, mayfly.ChangeSettings)
	// The second PutSetting of a name fails: its transaction rolls back,
	// and with it any notice.
	if err := putSetting(t, s, "x", []byte("2")); err == nil {
		t.Fatalf("PutSetting of an existing name: got nil error, want one")
	}
	quiet(t, ch)
	// A transaction whose write succeeded, then rolled back, announces
	// nothing either.
	rolledBack := errors.New("rolled back")
	err := mayfly.Transact(t.Context(), s, func(tx mayfly.Tx) error {
		return errors.Join(s.PutSetting(tx, "y", []byte("1")), rolledBack)
	})
	if !errors.Is(err, rolledBack) {
		t.Fatalf("transaction putting a setting, rolled back: %v", err)
	}
	quiet(t, ch)
}

// putSetting puts a setting in a transaction of its own.
func putSetting(t *testing.T, s *postgres.Store, name string, value []byte) error {
	return mayfly.Transact(t.Context(), s, func(tx mayfly.Tx) error { return s.PutSetting(tx, name, value) })
}

// TestSchemasIndependent: stores in two schemas of one database share no
// locks and no change notices.
func TestSchemasIndependent(t *testing.T) {
	a, b := open(t, pgtest.DSN(t)), open(t, pgtest.DSN(t))
	unlock, err := a.Lock(t.Context(), "rotate/main")
	if err != nil {
		t.Fatalf("Lock in the first schema: %v", err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	unlockB, err := b.Lock(ctx, "rotate/main")
	if err != nil {
		t.Fatalf("Lock of the same name in another schema: %v; want it granted", err)
	}
	unlockB()

	ch := watch(t, b)
	expect(t, ch, mayfly.ChangeAll)
	if err := putSetting(t, a, "x", []byte("1")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	quiet(t, ch)
}

// TestUnlockAfterClose: an unlock function still held when its store
// closed does nothing, and returns.
func TestUnlockAfterClose(t *testing.T) {
	s := open(t, pgtest.DSN(t))
	unlock, err := s.Lock(t.Context(), "a")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	unlock()
	unlock()
	if _, err := s.Lock(t.Context(), "a"); err == nil {
		t.Errorf("Lock after Close: got nil error, want one")
	}
}

// TestWatchEndsOnClose: a watch of a store that closes returns.
func TestWatchEndsOnClose(t *testing.T) {
	s := open(t, pgtest.DSN(t))
	ch := make(chan mayfly.Change, 10)
	done := make(chan error, 1)
	go func() { done <- s.Watch(t.Context(), func(c mayfly.Change) { ch <- c }) }()
	expect(t, ch, mayfly.ChangeAll)
	s.Close()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatalf("Watch did not return after its store closed")
	}
}
