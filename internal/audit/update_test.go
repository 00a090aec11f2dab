package audit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mayflyhq/mayfly"
)

// TestUpdateCommitsChangeWithEntry: what a unit writes and the entries it
// records are durable together once Update returns, at the indexes Audit
// gave, and what it asked to run after the commit has run.
func TestUpdateCommitsChangeWithEntry(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	var idx []uint64
	after := false
	err := f.log.Update(ctx, func(tx mayfly.Tx) error {
		if err := f.st.PutSetting(tx, "test.changed", []byte("yes")); err != nil {
			return err
		}
		for range 2 {
			i, err := tx.Audit(mayfly.AuditEntry{Action: "test.change"})
			if err != nil {
				return err
			}
			idx = append(idx, i)
		}
		tx.AfterCommit(func() { after = true })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 2 || idx[0] != 3 || idx[1] != 4 {
		t.Errorf("indexes %v; want [3 4], after the 3 entries already there", idx)
	}
	if v, err := f.st.Setting(ctx, "test.changed"); err != nil || string(v) != "yes" {
		t.Errorf("setting: %q, %v; want the change committed", v, err)
	}
	recs, err := f.st.AuditEntries(ctx, mayfly.AuditFilter{Action: "test.change"})
	if err != nil || len(recs) != 2 || recs[0].Index != 3 || recs[1].Index != 4 {
		t.Errorf("entries: %v, %v; want two, at 3 and 4", recs, err)
	}
	if !after {
		t.Error("AfterCommit's function did not run before Update returned")
	}
	if got := f.log.Size(); got != 5 {
		t.Errorf("log size %d; want 5", got)
	}
	if rep, err := f.log.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("verify: %+v, %v", rep, err)
	}
}

// TestUpdateFailureLeavesNothing: a unit that fails leaves neither its
// writes nor its entries, and what it asked to run after never runs.
func TestUpdateFailureLeavesNothing(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	failed := errors.New("the change was refused")
	after := false
	err := f.log.Update(ctx, func(tx mayfly.Tx) error {
		if err := f.st.PutSetting(tx, "test.changed", []byte("yes")); err != nil {
			return err
		}
		if _, err := tx.Audit(mayfly.AuditEntry{Action: "test.change"}); err != nil {
			return err
		}
		tx.AfterCommit(func() { after = true })
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Update: %v; want the unit's own error", err)
	}
	if _, err := f.st.Setting(ctx, "test.changed"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("setting after a failed unit: %v; want ErrNotFound", err)
	}
	if recs, _ := f.st.AuditEntries(ctx, mayfly.AuditFilter{Action: "test.change"}); len(recs) != 0 {
		t.Errorf("entries after a failed unit: %v; want none", recs)
	}
	if after {
		t.Error("AfterCommit's function ran for a unit that did not commit")
	}
	// The log goes on from where it was.
	idx, err := f.log.Append(ctx, mayfly.AuditEntry{Action: "test.next"})
	if err != nil || idx != 3 {
		t.Errorf("next append: %d, %v; want index 3", idx, err)
	}
	if rep, err := f.log.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("verify: %+v, %v", rep, err)
	}
}
