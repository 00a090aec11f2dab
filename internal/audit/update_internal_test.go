package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/store/postgres"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/mayflyhq/mayfly/store/sqlite"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// openLog opens a log on a new store of the backend the suite runs on.
func openLog(t *testing.T) (*Log, Store) {
	t.Helper()
	ctx := context.Background()
	var st mayfly.Store
	var err error
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		st, err = postgres.Open(ctx, pgtest.DSN(t))
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "mayfly.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, seal.RootKeySize)
	rand.Read(root)
	s, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, Config{Store: st, Sealer: s, Clock: fixedClock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, Rand: rand.Reader,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Origin: "mayfly.test/audit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); st.Close() })
	return l, st
}

// TestSharedTransactionIsolatesFailure: units that commit in one
// transaction each run in a savepoint of their own, so the one that fails
// takes only its own writes and entries with it; the others commit, their
// entries numbered densely as if it had never run.
func TestSharedTransactionIsolatesFailure(t *testing.T) {
	l, st := openLog(t)
	ctx := context.Background()
	failed := errors.New("refused")
	var ran []string
	unitFor := func(name string, fail bool) *unit {
		return &unit{ctx: ctx, fn: func(tx mayfly.Tx) error {
			if err := st.PutSetting(tx, "test."+name, []byte(name)); err != nil {
				return err
			}
			if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.Action("test." + name)}); err != nil {
				return err
			}
			tx.AfterCommit(func() { ran = append(ran, name) })
			if fail {
				return failed
			}
			return nil
		}}
	}
	units := []*unit{unitFor("first", false), unitFor("refused", true), unitFor("last", false)}
	if err := l.flush(ctx, units); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for i, want := range []error{nil, failed, nil} {
		if !errors.Is(units[i].err, want) {
			t.Errorf("unit %d: error %v; want %v", i, units[i].err, want)
		}
	}
	for name, kept := range map[string]bool{"first": true, "refused": false, "last": true} {
		_, err := st.Setting(ctx, "test."+name)
		if kept != (err == nil) {
			t.Errorf("setting of %s: %v; kept should be %v", name, err, kept)
		}
	}
	recs, err := st.AuditEntries(ctx, mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range recs {
		got = append(got, string(r.Entry.Action))
		if r.Index != uint64(i) || r.Entry.Index != uint64(i) {
			t.Errorf("entry %d stored at index %d, claims %d; want dense indexes", i, r.Index, r.Entry.Index)
		}
	}
	if len(got) != 2 || got[0] != "test.first" || got[1] != "test.last" {
		t.Errorf("entries %v; want test.first, test.last", got)
	}
	if len(ran) != 2 || ran[0] != "first" || ran[1] != "last" {
		t.Errorf("after commit ran %v; want first, last", ran)
	}
	if rep, err := l.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("verify: %+v, %v", rep, err)
	}
}

// TestBatchesInOneCommit: the items of one Batch in a commit are written
// by one call of its Write, in the order they came, and the Batches in
// their Order whatever order their items came in. A Batch that fails
// takes its writes with it and is written again item by item, so that
// only the item that cannot be written fails.
func TestBatchesInOneCommit(t *testing.T) {
	l, st := openLog(t)
	ctx := context.Background()
	failed := errors.New("refused")
	var calls []string
	var ran []string
	batch := func(name string, order int) *mayfly.Batch[string] {
		return &mayfly.Batch[string]{Order: order, Write: func(tx mayfly.Tx, items []string) error {
			calls = append(calls, name+":"+strings.Join(items, ","))
			for _, it := range items {
				if err := st.PutSetting(tx, "test."+it, []byte(it)); err != nil {
					return err
				}
			}
			if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.Action("test." + name)}); err != nil {
				return err
			}
			if slices.Contains(items, "x") {
				return failed
			}
			tx.AfterCommit(func() { ran = append(ran, name) })
			return nil
		}}
	}
	late, early, mixed := batch("late", mayfly.OrderIssue), batch("early", mayfly.OrderSpend), batch("mixed", mayfly.OrderSession)
	item := func(it mayfly.BatchItem) *unit { return &unit{ctx: ctx, item: it} }
	units := []*unit{item(late.Item("l1")), item(mixed.Item("m1")), item(early.Item("e1")), item(mixed.Item("x")), item(late.Item("l2")),
		item(early.Item("e2"))}
	if err := l.flush(ctx, units); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if want := []string{"early:e1,e2", "mixed:m1,x", "mixed:m1", "mixed:x", "late:l1,l2"}; !slices.Equal(calls, want) {
		t.Errorf("writes %v; want %v", calls, want)
	}
	for i, want := range []error{nil, nil, nil, failed, nil, nil} {
		if !errors.Is(units[i].err, want) {
			t.Errorf("item %d: error %v; want %v", i, units[i].err, want)
		}
	}
	for _, name := range []string{"e1", "e2", "m1", "l1", "l2", "x"} {
		_, err := st.Setting(ctx, "test."+name)
		if kept := name != "x"; kept != (err == nil) {
			t.Errorf("setting of %s: %v; kept should be %v", name, err, kept)
		}
	}
	recs, err := st.AuditEntries(ctx, mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Entry.Action))
	}
	if want := []string{"test.early", "test.mixed", "test.late"}; !slices.Equal(got, want) {
		t.Errorf("entries %v; want %v", got, want)
	}
	if want := []string{"early", "mixed", "late"}; !slices.Equal(ran, want) {
		t.Errorf("after commit ran %v; want %v", ran, want)
	}
	if rep, err := l.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("verify: %+v, %v", rep, err)
	}
}
