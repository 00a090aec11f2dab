package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// AlertStore is the store the Alert suites run on: alerts, and the change
// feed their streams follow.
type AlertStore interface {
	mayfly.AlertStore
	mayfly.TxStore
	mayfly.Coordinator
}

// Alerts runs the suite of mayfly.AlertStore.
func Alerts(t *testing.T, open func(t *testing.T) AlertStore) {
	t.Helper()
	run(t, open, []test[AlertStore]{
		{"RaiseDedup", testAlertRaiseDedup},
		{"Evidence", testAlertEvidence},
		{"States", testAlertStates},
		{"Filter", testAlertFilter},
		{"NotFound", testAlertNotFound},
		{"Notice", testAlertNotice},
	})
}

// AlertsShared runs the checks that need two handles on one database, as
// two processes have. A backend one process holds alone passes one handle
// twice.
func AlertsShared(t *testing.T, open func(t *testing.T) (AlertStore, AlertStore)) {
	t.Helper()
	t.Run("ConcurrentRaises", func(t *testing.T) {
		a, b := open(t)
		testAlertConcurrentRaises(t, a, b)
	})
}

func signal(rule mayfly.Rule, subject string, at time.Time, detail string) mayfly.AlertSignal {
	return mayfly.AlertSignal{Rule: rule, Subject: subject, Summary: string(rule) + " on " + subject,
		Evidence: mayfly.AlertEvidence{Time: at, Service: "orders", JTI: "jti-1", Observed: 3, Limit: 2, Detail: detail}}
}

// raise raises s in a transaction of its own.
func raise(t *testing.T, s AlertStore, sig mayfly.AlertSignal, id string) (*mayfly.Alert, bool) {
	t.Helper()
	var a *mayfly.Alert
	var created bool
	err := commit(t, s, func(tx mayfly.Tx) (err error) {
		a, created, err = s.RaiseAlert(tx, sig, id, t0)
		return err
	})
	must(t, "RaiseAlert", err)
	return a, created
}

func testAlertRaiseDedup(t *testing.T, s AlertStore) {
	a, created := raise(t, s, signal(mayfly.RuleForgedToken, "kid:k1", t0.Add(time.Second), "first"), "alt-1")
	if !created || a.ID != "alt-1" || a.Count != 1 || a.State != mayfly.AlertOpen || a.Seq <= 0 {
		t.Fatalf("first raise: created %v, %+v; want alt-1, open, count 1, seq above 0", created, a)
	}
	b, created := raise(t, s, signal(mayfly.RuleForgedToken, "kid:k1", t0.Add(3*time.Second), "second"), "alt-2")
	if created || b.ID != "alt-1" || b.Count != 2 || b.Seq <= a.Seq {
		t.Fatalf("second raise: created %v, id %s, count %d, seq %d; want alt-1 counted to 2, seq above %d", created, b.ID, b.Count, b.Seq, a.Seq)
	}
	got, err := s.Alert(t.Context(), "alt-1")
	must(t, "Alert", err)
	var d diff
	d.time("first_seen", got.FirstSeen, t0.Add(time.Second))
	d.time("last_seen", got.LastSeen, t0.Add(3*time.Second))
	d.eq("count", got.Count, int64(2))
	d.eq("summary", got.Summary, "forged-token on kid:k1")
	d.eq("evidence", len(got.Evidence), 2)
	d.eq("seq", got.Seq, b.Seq)
	d.report(t, "alert after two raises")
	// An earlier firing reported late moves first_seen back, not last_seen.
	raise(t, s, signal(mayfly.RuleForgedToken, "kid:k1", t0, "late"), "alt-3")
	got, err = s.Alert(t.Context(), "alt-1")
	must(t, "Alert", err)
	if !sameTime(got.FirstSeen, t0) || !sameTime(got.LastSeen, t0.Add(3*time.Second)) {
		t.Errorf("after a late firing: first %s last %s; want %s and %s", fmtTime(got.FirstSeen), fmtTime(got.LastSeen), fmtTime(t0), fmtTime(t0.Add(3*time.Second)))
	}
	// Another subject, or another rule on the subject, is another alert.
	if _, created := raise(t, s, signal(mayfly.RuleForgedToken, "kid:k2", t0, ""), "alt-4"); !created {
		t.Errorf("another subject was added to an existing alert")
	}
	if _, created := raise(t, s, signal(mayfly.RuleRevokedInUse, "kid:k1", t0, ""), "alt-5"); !created {
		t.Errorf("another rule was added to an existing alert")
	}
}

func testAlertEvidence(t *testing.T, s AlertStore) {
	const n = mayfly.AlertMaxEvidence + 15
	for i := range n {
		raise(t, s, signal(mayfly.RuleBulkRead, "client:c1", t0.Add(time.Duration(i)*time.Second), fmt.Sprint(i)), fmt.Sprintf("alt-%d", i))
	}
	got, err := s.Alert(t.Context(), "alt-0")
	must(t, "Alert", err)
	if got.Count != n || len(got.Evidence) != mayfly.AlertMaxEvidence {
		t.Fatalf("count %d with %d pieces of evidence; want %d and %d", got.Count, len(got.Evidence), n, mayfly.AlertMaxEvidence)
	}
	keep := mayfly.AlertMaxEvidence / 2
	for i, e := range got.Evidence {
		want := i // the first firings are kept
		if i >= keep {
			want = n - (mayfly.AlertMaxEvidence - i) // then the latest, oldest first
		}
		if e.Detail != fmt.Sprint(want) {
			t.Errorf("evidence %d: firing %s; want %d", i, e.Detail, want)
		}
	}
	e := got.Evidence[0]
	if e.Service != "orders" || e.JTI != "jti-1" || e.Observed != 3 || e.Limit != 2 || !sameTime(e.Time, t0) {
		t.Errorf("evidence did not round-trip: %+v", e)
	}
}

func testAlertStates(t *testing.T, s AlertStore) {
	a, _ := raise(t, s, signal(mayfly.RuleNewNetwork, "principal:p1", t0, ""), "alt-1")
	stale := *a
	a.State, a.UpdatedAt, a.UpdatedBy, a.Note, a.Actions = mayfly.AlertAcknowledged, t0.Add(time.Minute), "adm-1", "looking", []string{"suspended principal p1"}
	before := a.Seq
	must(t, "UpdateAlert", do(t, s, s.UpdateAlert, a))
	if a.Seq <= before {
		t.Errorf("UpdateAlert left seq at %d; want above %d", a.Seq, before)
	}
	got, err := s.Alert(t.Context(), "alt-1")
	must(t, "Alert", err)
	var d diff
	d.eq("state", got.State, mayfly.AlertAcknowledged)
	d.time("updated_at", got.UpdatedAt, t0.Add(time.Minute))
	d.eq("updated_by", got.UpdatedBy, "adm-1")
	d.eq("note", got.Note, "looking")
	d.strings("actions", got.Actions, []string{"suspended principal p1"})
	d.eq("seq", got.Seq, a.Seq)
	d.report(t, "acknowledged alert")
	// An update made from a stale read stores nothing.
	stale.State = mayfly.AlertResolved
	wantErr(t, "UpdateAlert from a stale read", do(t, s, s.UpdateAlert, &stale), mayfly.ErrConflict)
	if got, _ := s.Alert(t.Context(), "alt-1"); got.State != mayfly.AlertAcknowledged {
		t.Errorf("a stale update stored state %s", got.State)
	}
	// A raise adds to an acknowledged alert; once resolved, a raise makes
	// a new one.
	if b, created := raise(t, s, signal(mayfly.RuleNewNetwork, "principal:p1", t0, ""), "alt-2"); created || b.ID != "alt-1" || b.State != mayfly.AlertAcknowledged {
		t.Errorf("raise on an acknowledged alert: created %v, %s %s", created, b.ID, b.State)
	}
	got, _ = s.Alert(t.Context(), "alt-1")
	got.State = mayfly.AlertResolved
	must(t, "UpdateAlert", do(t, s, s.UpdateAlert, got))
	if b, created := raise(t, s, signal(mayfly.RuleNewNetwork, "principal:p1", t0, ""), "alt-3"); !created || b.ID != "alt-3" || b.Count != 1 {
		t.Errorf("raise after resolution: created %v, %s count %d; want a new alt-3", created, b.ID, b.Count)
	}
	if got, _ := s.Alert(t.Context(), "alt-1"); got.State != mayfly.AlertResolved {
		t.Errorf("the resolved alert became %s", got.State)
	}
}

func testAlertFilter(t *testing.T, s AlertStore) {
	raise(t, s, signal(mayfly.RuleForgedToken, "kid:k1", t0.Add(1*time.Second), ""), "alt-a")
	raise(t, s, signal(mayfly.RuleBulkRead, "client:c1", t0.Add(2*time.Second), ""), "alt-b")
	b, _ := raise(t, s, signal(mayfly.RuleForgedToken, "kid:k2", t0.Add(3*time.Second), ""), "alt-c")
	raise(t, s, signal(mayfly.RuleForgedToken, "kid:k1", t0.Add(4*time.Second), ""), "alt-x") // adds to alt-a
	c, _ := s.Alert(t.Context(), "alt-c")
	c.State = mayfly.AlertAcknowledged
	must(t, "UpdateAlert", do(t, s, s.UpdateAlert, c))
	ids := func(f mayfly.AlertFilter) []string {
		all, err := s.Alerts(t.Context(), f)
		must(t, "Alerts", err)
		var out []string
		for _, a := range all {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    mayfly.AlertFilter
		want []string
	}{
		{"all, newest last-seen first", mayfly.AlertFilter{}, []string{"alt-a", "alt-c", "alt-b"}},
		{"rule", mayfly.AlertFilter{Rule: mayfly.RuleForgedToken}, []string{"alt-a", "alt-c"}},
		{"state", mayfly.AlertFilter{State: mayfly.AlertAcknowledged}, []string{"alt-c"}},
		{"subject", mayfly.AlertFilter{Subject: "client:c1"}, []string{"alt-b"}},
		{"since", mayfly.AlertFilter{Since: t0.Add(3 * time.Second)}, []string{"alt-a", "alt-c"}},
		{"limit", mayfly.AlertFilter{Limit: 1}, []string{"alt-a"}},
		{"by seq", mayfly.AlertFilter{BySeq: true}, []string{"alt-b", "alt-a", "alt-c"}},
		{"after seq", mayfly.AlertFilter{AfterSeq: b.Seq}, []string{"alt-a", "alt-c"}},
		{"after seq, limited", mayfly.AlertFilter{AfterSeq: b.Seq, Limit: 1}, []string{"alt-a"}},
		{"no match", mayfly.AlertFilter{Rule: mayfly.RuleSharedSource}, nil},
	} {
		if got := ids(tt.f); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func testAlertNotFound(t *testing.T, s AlertStore) {
	_, err := s.Alert(t.Context(), "alt-nosuch")
	wantErr(t, "Alert", err, mayfly.ErrNotFound)
	err = do(t, s, s.UpdateAlert, &mayfly.Alert{ID: "alt-nosuch", State: mayfly.AlertResolved, Seq: 1})
	wantErr(t, "UpdateAlert", err, mayfly.ErrNotFound)
}

func testAlertNotice(t *testing.T, s AlertStore) {
	w := watch(t, s)
	a, _ := raise(t, s, signal(mayfly.RuleStaleVerifier, "service:orders", t0, ""), "alt-1")
	w.expect(t, mayfly.ChangeAlerts)
	a.State = mayfly.AlertAcknowledged
	must(t, "UpdateAlert", do(t, s, s.UpdateAlert, a))
	w.expect(t, mayfly.ChangeAlerts)
}

// testAlertConcurrentRaises raises one rule and subject from many
// transactions on two handles at once: one alert counts them all, and
// every change has its own Seq.
func testAlertConcurrentRaises(t *testing.T, a, b AlertStore) {
	const n = 16
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		s := []AlertStore{a, b}[i%2]
		wg.Go(func() {
			errs[i] = commit(t, s, func(tx mayfly.Tx) error {
				al, _, err := s.RaiseAlert(tx, signal(mayfly.RuleSharedSource, "source:192.0.2.7", t0, fmt.Sprint(i)), fmt.Sprintf("alt-%d", i), t0)
				if err == nil {
					seqs[i] = al.Seq
				}
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		must(t, fmt.Sprintf("raise %d", i), err)
	}
	all, err := b.Alerts(t.Context(), mayfly.AlertFilter{Rule: mayfly.RuleSharedSource})
	must(t, "Alerts", err)
	if len(all) != 1 || all[0].Count != n {
		t.Fatalf("%d raises at once made %d alerts; want one counting %d", n, len(all), n)
	}
	seen := map[int64]bool{}
	for _, q := range seqs {
		if seen[q] {
			t.Errorf("seq %d was given twice", q)
		}
		seen[q] = true
	}
	if last := slices.Max(seqs); all[0].Seq != last {
		t.Errorf("the alert's seq is %d; want the last change's, %d", all[0].Seq, last)
	}
}
