package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// updater is a mayfly.Updater for the suites: one transaction per
// Update, the entries it records kept once it commits.
type updater struct {
	s       mayfly.TxStore
	entries []mayfly.AuditEntry
}

type updaterTx struct {
	b       mayfly.BackendTx
	entries []mayfly.AuditEntry
	after   []func()
}

func (t *updaterTx) Audit(e mayfly.AuditEntry) (uint64, error) {
	t.entries = append(t.entries, e)
	return uint64(len(t.entries) - 1), nil
}
func (t *updaterTx) AfterCommit(fn func())     { t.after = append(t.after, fn) }
func (t *updaterTx) Backend() mayfly.BackendTx { return t.b }

func (u *updater) Update(ctx context.Context, fn func(mayfly.Tx) error) error {
	b, err := u.s.Begin(ctx)
	if err != nil {
		return err
	}
	tx := &updaterTx{b: b}
	if err := fn(tx); err != nil {
		b.Rollback()
		return err
	}
	if err := b.Commit(); err != nil {
		return err
	}
	u.entries = append(u.entries, tx.entries...)
	for _, f := range tx.after {
		f()
	}
	return nil
}

// pruneAll runs PruneIssuances to the end, each step recording its entry, and
// returns the steps.
func pruneAll(t *testing.T, s TokenStore, up *updater, now, before time.Time, batch int) []mayfly.IssuancesPruned {
	t.Helper()
	var steps []mayfly.IssuancesPruned
	for range 100 {
		p, err := s.PruneIssuances(t.Context(), up, mayfly.IssuancePrune{Before: before, Now: now, Batch: batch,
			Record: func(tx mayfly.Tx, p mayfly.IssuancesPruned) error {
				_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionIssuancesPruned, Details: p.Details()})
				return err
			}})
		if err != nil {
			t.Fatalf("PruneIssuances before %v: %v", before, err)
		}
		if p == (mayfly.IssuancesPruned{}) {
			return steps
		}
		steps = append(steps, p)
	}
	t.Fatalf("PruneIssuances before %v did not finish in 100 steps", before)
	return nil
}

// sumOf is IssuanceSum's summary of the records of recs whose jti lies
// from first to last.
func sumOf(recs []mayfly.Issuance, first, last string, day time.Time) mayfly.IssuancesPruned {
	recs = slices.Clone(recs)
	slices.SortFunc(recs, mayfly.IssuanceLine)
	sum := mayfly.NewIssuanceSum()
	for _, r := range recs {
		if r.JTI >= first && r.JTI <= last {
			sum.Add(r.JTI, r.Digest)
		}
	}
	return sum.Pruned(day)
}

// testIssuancesPrune: retention deletes exactly the records issued before
// its bound, in steps each summed over what it deleted; what is left is
// found by jti, by subject and in full, whatever day it was issued.
func testIssuancesPrune(t *testing.T, s TokenStore) {
	ctx := t.Context()
	w := seed(t, s)
	d0 := t0.Truncate(24 * time.Hour)
	dayOf := func(n int) time.Time { return d0.AddDate(0, 0, n) }
	var old, kept []mayfly.Issuance
	for _, at := range []time.Time{
		dayOf(-3).Add(time.Hour), dayOf(-3).Add(2 * time.Hour), dayOf(-3).Add(23*time.Hour + 59*time.Minute + 59*time.Second + 900*time.Millisecond),
		dayOf(-2), dayOf(-2).Add(12 * time.Hour),
	} {
		old = append(old, issuance(t, at, w.kA.KID, w.cA, "10.0.0.1"))
	}
	for _, at := range []time.Time{dayOf(-1), dayOf(-1).Add(23*time.Hour + 59*time.Minute + 59*time.Second), dayOf(0).Add(time.Minute), dayOf(1)} {
		kept = append(kept, issuance(t, at, w.kB.KID, w.cB, "10.0.0.2"))
	}
	old[1].Subject, kept[0].Subject, kept[2].Subject = "customer:7", "customer:7", "customer:7"
	// Recorded before the store was asked to make room for their days: a
	// store that keeps days apart has no partition for them yet, and must
	// take them anyway.
	must(t, "RecordIssuances", do(t, s, s.RecordIssuances, append(slices.Clone(old), kept...)))

	up := &updater{s: s}
	// Nothing is issued before the oldest day; a store that keeps days
	// apart makes room for them now, and may drop empty days it made
	// before (for the time it opened).
	for _, p := range pruneAll(t, s, up, dayOf(-3), dayOf(-3), 2) {
		if p.Count != 0 {
			t.Fatalf("pruning before the oldest record: %+v, want nothing", p)
		}
	}
	up.entries = nil
	// A deletion whose record fails deletes nothing that goes unrecorded:
	// the next one deletes it, and records it.
	boom := errors.New("the record failed")
	_, err := s.PruneIssuances(ctx, up, mayfly.IssuancePrune{Before: dayOf(-1), Now: dayOf(0), Batch: 2,
		Record: func(mayfly.Tx, mayfly.IssuancesPruned) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("PruneIssuances whose record fails: %v, want %v", err, boom)
	}
	if len(up.entries) != 0 {
		t.Fatalf("entries after a failed record: %v", up.entries)
	}

	steps := pruneAll(t, s, up, dayOf(0), dayOf(-1), 2)
	var total int64
	for i, p := range steps {
		want := sumOf(old, p.First, p.Last, p.Day)
		if p != want {
			t.Errorf("step %d: got %+v, want %+v (the sum of the records from its first to its last jti)", i, p, want)
		}
		if !p.Day.IsZero() && (p.Day.Before(dayOf(-3)) || !p.Day.Before(dayOf(-1))) {
			t.Errorf("step %d dropped the day %v, not one before %v", i, p.Day, dayOf(-1))
		}
		if p.Day.IsZero() && p.Count > 2 {
			t.Errorf("step %d deleted %d records one by one, more than its batch of 2", i, p.Count)
		}
		if got := up.entries[i].Details; got["sha256"] != p.SHA256 || got["first_jti"] != p.First {
			t.Errorf("step %d recorded %v, want the details of %+v", i, got, p)
		}
		total += p.Count
	}
	if total != int64(len(old)) || len(up.entries) != len(steps) {
		t.Errorf("pruned %d records in %d steps with %d entries, want the %d issued before %v", total, len(steps), len(up.entries), len(old), dayOf(-1))
	}
	if last := steps[len(steps)-1]; last.Last != maxJTI(old) {
		t.Errorf("the last step ends at %s, want the newest pruned record %s", last.Last, maxJTI(old))
	}

	got, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(kept)
	slices.Reverse(want)
	if !sameIssuances(got, want) {
		t.Errorf("after pruning: got %v, want %v", jtis(got), jtis(want))
	}
	for _, r := range append(slices.Clone(kept), old...) {
		got, err := s.Issuances(ctx, mayfly.IssuanceFilter{JTI: r.JTI})
		if err != nil {
			t.Fatal(err)
		}
		if wantOne := slices.Contains(kept, r); len(got) != map[bool]int{true: 1}[wantOne] {
			t.Errorf("jti %s issued %v: %d records, want kept %v", r.JTI, r.IssuedAt, len(got), wantOne)
		}
	}
	got, err = s.Issuances(ctx, mayfly.IssuanceFilter{Subject: "customer:7", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIssuances(got, []mayfly.Issuance{kept[2], kept[0]}) {
		t.Errorf("customer:7 after pruning: got %v, want %v", jtis(got), jtis([]mayfly.Issuance{kept[2], kept[0]}))
	}
	if steps := pruneAll(t, s, up, dayOf(0), dayOf(-1), 2); len(steps) != 0 {
		t.Errorf("pruning again: %+v, want nothing", steps)
	}
	up.entries = nil
	// Records issued after the store made room for their day are kept
	// apart like any other, and pruned alike.
	late := issuance(t, dayOf(2).Add(time.Hour), w.kA.KID, w.cA, "10.0.0.3")
	must(t, "RecordIssuances", do(t, s, s.RecordIssuances, []mayfly.Issuance{late}))
	steps = pruneAll(t, s, up, dayOf(3), dayOf(3), 10)
	total = 0
	for _, p := range steps {
		total += p.Count
	}
	if got, _ := s.Issuances(ctx, mayfly.IssuanceFilter{}); total != int64(len(kept))+1 || len(got) != 0 {
		t.Errorf("pruning everything: %d pruned, %d left; want %d pruned, none left", total, len(got), len(kept)+1)
	}
}

func maxJTI(recs []mayfly.Issuance) string {
	m := ""
	for _, r := range recs {
		m = max(m, r.JTI)
	}
	return m
}

func sameIssuances(got, want []mayfly.Issuance) bool {
	return slices.EqualFunc(got, want, func(a, b mayfly.Issuance) bool {
		return a.JTI == b.JTI && a.Digest == b.Digest && a.Subject == b.Subject && a.IssuedAt.Equal(b.IssuedAt)
	})
}

// IssuancesShared runs the checks of issuance retention on two handles of
// one database, as replicas have.
func IssuancesShared(t *testing.T, open func(t *testing.T) (TokenStore, TokenStore)) {
	t.Helper()
	t.Run("PruneConcurrent", func(t *testing.T) {
		a, b := open(t)
		testIssuancesPruneConcurrent(t, a, b)
	})
}

// testIssuancesPruneConcurrent: replicas pruning at once delete and record
// each record once between them.
func testIssuancesPruneConcurrent(t *testing.T, a, b TokenStore) {
	w := seed(t, a)
	d0 := t0.Truncate(24 * time.Hour)
	var recs []mayfly.Issuance
	for i := range 40 {
		recs = append(recs, issuance(t, d0.AddDate(0, 0, -5).Add(time.Duration(i)*3*time.Hour), w.kA.KID, w.cA, "10.0.0.1"))
	}
	must(t, "RecordIssuances", do(t, a, a.RecordIssuances, recs))
	// Both make room for the days first, so that both drop days.
	for _, s := range []TokenStore{a, b} {
		pruneAll(t, s, &updater{s: s}, d0.AddDate(0, 0, -5), d0.AddDate(0, 0, -5), 3)
	}
	ups := []*updater{{s: a}, {s: b}}
	steps := make([][]mayfly.IssuancesPruned, 2)
	var wg sync.WaitGroup
	for i, s := range []TokenStore{a, b} {
		wg.Go(func() { steps[i] = pruneAll(t, s, ups[i], d0, d0, 3) })
	}
	wg.Wait()
	var total int64
	var all []mayfly.IssuancesPruned
	for i := range steps {
		if len(ups[i].entries) != len(steps[i]) {
			t.Errorf("handle %d: %d steps, %d entries", i, len(steps[i]), len(ups[i].entries))
		}
		all = append(all, steps[i]...)
	}
	slices.SortFunc(all, func(x, y mayfly.IssuancesPruned) int { return strings.Compare(x.First, y.First) })
	for i, p := range all {
		total += p.Count
		if p.Count > 0 && i > 0 && all[i-1].Count > 0 && all[i-1].Last >= p.First {
			t.Errorf("two steps pruned overlapping records: %+v and %+v", all[i-1], p)
		}
	}
	if total != int64(len(recs)) {
		t.Errorf("pruned %d records between two handles, want each of the %d once", total, len(recs))
	}
	if got, err := a.Issuances(t.Context(), mayfly.IssuanceFilter{}); err != nil || len(got) != 0 {
		t.Errorf("left after pruning everything: %d, %v", len(got), err)
	}
}
