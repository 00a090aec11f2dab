package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

func unite(t *testing.T, s LedgerStore, day time.Time, min int) (ok bool, err error) {
	err = commit(t, s, func(tx mayfly.Tx) error {
		ok, err = s.UniteLedgerDay(tx, day, min)
		return err
	})
	return ok, err
}

// unionsOf lists a day's unions of dim as "namespace/value:buckets:ids".
func unionsOf(t *testing.T, s LedgerStore, f mayfly.LedgerUnionFilter) []string {
	t.Helper()
	us, err := s.LedgerUnions(t.Context(), f)
	must(t, "LedgerUnions", err)
	var out []string
	for _, u := range us {
		if !u.Day.Equal(f.Day) || u.Dim != f.Dim {
			t.Errorf("LedgerUnions(%v, %q) returned a union of %v, %q", f.Day, f.Dim, u.Day, u.Dim)
		}
		v := fmt.Sprintf("%s/%s:%d", u.Namespace, u.Value, u.Count)
		if f.Buckets {
			var jtis []string
			for _, b := range u.Buckets {
				if !b.Start.Equal(f.Day) || b.Width != mayfly.LedgerDay || b.Namespace != u.Namespace || b.Records != nil {
					t.Errorf("union %s: bucket %+v is not a day bucket of the union's day and namespace, without records", v, b)
				}
				jtis = append(jtis, b.Token.JTI)
			}
			v += fmt.Sprint(jtis)
		} else if u.Buckets != nil {
			t.Errorf("LedgerUnions without buckets returned %d of them", len(u.Buckets))
		}
		if f.Records && u.Records == nil {
			v += ":-"
		} else if f.Records {
			v += fmt.Sprint(":", ids(t, u.Records))
		} else if u.Records != nil {
			t.Errorf("LedgerUnions without records returned %d bytes of them", len(u.Records))
		}
		out = append(out, v)
	}
	return out
}

var errRollback = errors.New("rolled back")

func testLedgerUnions(t *testing.T, s LedgerStore) {
	ctx := t.Context()
	day := t0.Truncate(mayfly.LedgerDay)
	next, empty := day.Add(mayfly.LedgerDay), day.Add(2*mayfly.LedgerDay)
	token := func(b mayfly.LedgerBucket, kid, client, principal string, sources ...string) mayfly.LedgerBucket {
		b.Token.KID, b.Token.ClientID, b.Token.PrincipalID, b.Sources = kid, client, principal, sources
		return b
	}
	// Two buckets kept only some of their services, one only some of its
	// sources.
	more := func(b mayfly.LedgerBucket, sourcesMore bool, services ...string) mayfly.LedgerBucket {
		b.Services, b.ServicesMore, b.SourcesMore = services, true, sourcesMore
		return b
	}
	must(t, "MergeLedger", merge(t, s,
		more(token(bucket("jti-1", day, mayfly.LedgerDay, "customer", 1, 2, 3), "k1", "c1", "p1", "10.0.0.1", "10.0.1.2"), false, "api"),
		more(token(bucket("jti-2", day, mayfly.LedgerDay, "customer", 3, big), "k1", "c2", "p1", "10.0.0.9"), true, "api", "billing"),
		token(bucket("jti-3", day, mayfly.LedgerDay, "order", 7), "k2", "c2", "", "2001:db8:1:2::1"),
		token(bucket("jti-4", day, mayfly.LedgerDay, ""), "k1", "c1", "p1"),
		bucket("jti-5", next.Add(time.Hour), time.Hour, "customer", 9),
	))
	for _, tt := range []struct {
		day  time.Time
		want bool
	}{{day, true}, {next, false}, {empty, true}} {
		ok, err := unite(t, s, tt.day, 1)
		must(t, "UniteLedgerDay", err)
		if ok != tt.want {
			t.Errorf("UniteLedgerDay(%v) = %v, want %v (false: not all day buckets)", tt.day, ok, tt.want)
		}
	}
	_, err := unite(t, s, day.Add(time.Hour), 1)
	wantErr(t, "UniteLedgerDay at 01:00", err, mayfly.ErrInvalid)

	days := func(from, to time.Time) []time.Time {
		t.Helper()
		ds, err := s.LedgerUnionDays(ctx, from, to)
		must(t, "LedgerUnionDays", err)
		return ds
	}
	for _, tt := range []struct {
		from, to time.Time
		want     []time.Time
	}{
		{time.Time{}, time.Time{}, []time.Time{day, empty}},
		{day, empty.Add(mayfly.LedgerDay), []time.Time{day, empty}},
		{day.Add(time.Second), time.Time{}, []time.Time{empty}},     // a day begun before from is not within
		{time.Time{}, empty.Add(time.Hour), []time.Time{day}},       // nor one ending after to
		{time.Time{}, next.Add(-time.Nanosecond), []time.Time(nil)}, // day ends after to
	} {
		if got := days(tt.from, tt.to); !slices.EqualFunc(got, tt.want, time.Time.Equal) {
			t.Errorf("LedgerUnionDays(%v, %v) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}

	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	all := fmt.Sprint([]uint64{1, 2, 3, big})
	check("kid unions", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimKID, Records: true}),
		[]string{"/k1:1:-", "customer/k1:2:" + all, "order/k2:1:[7]"}) // no records in namespace ""
	check("every bucket's union", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimAll, Records: true}),
		[]string{"/:1:-", "customer/:2:" + all, "order/:1:[7]"})
	check("source unions", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimSource}),
		[]string{"customer/*:1", "customer/10.0.0.0/24:2", "customer/10.0.1.0/24:1", "order/2001:db8:1::/48:1"})
	check("service unions", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimService, Buckets: true}),
		[]string{"customer/*:2[jti-1 jti-2]", "customer/api:2[jti-1 jti-2]", "customer/billing:1[jti-2]"})
	check("principal unions", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimPrincipal}),
		[]string{"/p1:1", "customer/p1:2"}) // a bucket naming no principal is in no principal's union
	check("client unions with their buckets", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimClient, Buckets: true}),
		[]string{"/c1:1[jti-4]", "customer/c1:1[jti-1]", "customer/c2:1[jti-2]", "order/c2:1[jti-3]"})
	check("client unions by value and namespace", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimClient,
		Values: []string{"c2", "c9"}, Namespaces: []string{"order"}, Records: true}), []string{"order/c2:1:[7]"})
	check("no values", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimClient, Values: []string{}}), nil)
	check("values no bucket has", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimClient, Values: []string{"c9"}}), nil)
	check("a day of no buckets", unionsOf(t, s, mayfly.LedgerUnionFilter{Day: empty, Dim: mayfly.LedgerDimAll}), nil)
	_, err = s.LedgerUnions(ctx, mayfly.LedgerUnionFilter{Day: next, Dim: mayfly.LedgerDimAll})
	wantErr(t, "LedgerUnions of a day without them", err, mayfly.ErrNotFound)
	// What a union lists is what a scan of the day returns.
	us, err := s.LedgerUnions(ctx, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimSource, Values: []string{"10.0.0.0/24"}, Buckets: true})
	must(t, "LedgerUnions", err)
	scanned := buckets(t, s, mayfly.LedgerFilter{From: day, To: next, KIDs: []string{"k1"}, Namespaces: []string{"customer"}})
	if len(us) != 1 || len(scanned) != 2 {
		t.Fatalf("got %d unions and %d buckets scanned, want 1 and 2", len(us), len(scanned))
	}
	for i := range scanned {
		scanned[i].Records = nil
		if got := us[0].Buckets[i]; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", scanned[i]) {
			t.Errorf("union's bucket %d:\n got %+v\nwant %+v", i, got, scanned[i])
		}
	}

	// Made again with a higher minimum, records only where two buckets
	// share a value.
	if ok, err := unite(t, s, day, 2); err != nil || !ok {
		t.Fatalf("UniteLedgerDay again: %v, %v", ok, err)
	}
	var kept []string
	for _, dim := range mayfly.LedgerUnionDims {
		for _, u := range unionsOf(t, s, mayfly.LedgerUnionFilter{Day: day, Dim: dim, Records: true}) {
			if !strings.HasSuffix(u, ":-") {
				kept = append(kept, u)
			}
		}
	}
	// Those of the buckets that kept only some of their lists have none.
	check("unions with records", kept, []string{"customer/:2:" + all, "customer/k1:2:" + all, "customer/p1:2:" + all, "customer/api:2:" + all,
		"customer/10.0.0.0/24:2:" + all})

	// A rolled-back merge into the day changes nothing; a merge drops the
	// day's unions, and the day is not made again until it is all day
	// buckets.
	err = commit(t, s, func(tx mayfly.Tx) error {
		if err := s.MergeLedger(tx, []mayfly.LedgerBucket{bucket("jti-1", day, mayfly.LedgerDay, "customer", 4)}); err != nil {
			return err
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatalf("rolled-back merge: %v", err)
	}
	if got := days(time.Time{}, time.Time{}); len(got) != 2 {
		t.Errorf("after a rolled-back merge: union days %v, want both still", got)
	}
	must(t, "MergeLedger", merge(t, s, bucket("jti-6", day.Add(time.Minute), time.Minute, "customer", 5)))
	if got := days(time.Time{}, time.Time{}); !slices.EqualFunc(got, []time.Time{empty}, time.Time.Equal) {
		t.Errorf("after a merge into the day: union days %v, want only %v", got, empty)
	}
	_, err = s.LedgerUnions(ctx, mayfly.LedgerUnionFilter{Day: day, Dim: mayfly.LedgerDimAll})
	wantErr(t, "LedgerUnions of a day merged into", err, mayfly.ErrNotFound)
	if ok, err := unite(t, s, day, 1); err != nil || ok {
		t.Errorf("UniteLedgerDay with a minute bucket in the day: %v, %v; want false", ok, err)
	}
	// A bucket wider than a day drops the unions of every day it overlaps.
	week := 7 * mayfly.LedgerDay
	secs := int64(week / time.Second)
	must(t, "MergeLedger", merge(t, s, bucket("jti-7", time.Unix(empty.Unix()/secs*secs, 0), week, "customer", 6)))
	if got := days(time.Time{}, time.Time{}); len(got) != 0 {
		t.Errorf("after a merge of a week: union days %v, want none", got)
	}

	// Pruning takes the unions of the days it prunes.
	later := empty.Add(30 * mayfly.LedgerDay)
	for _, d := range []time.Time{day.Add(-mayfly.LedgerDay), later} {
		if ok, err := unite(t, s, d, 1); err != nil || !ok {
			t.Fatalf("UniteLedgerDay(%v): %v, %v", d, ok, err)
		}
	}
	_, err = prune(t, s, later)
	must(t, "PruneLedger", err)
	if got := days(time.Time{}, time.Time{}); !slices.EqualFunc(got, []time.Time{later}, time.Time.Equal) {
		t.Errorf("after pruning the days before: union days %v, want only %v", got, later)
	}
	_, err = prune(t, s, later.Add(mayfly.LedgerDay))
	must(t, "PruneLedger", err)
	if got := days(time.Time{}, time.Time{}); len(got) != 0 {
		t.Errorf("after pruning every day: union days %v, want none", got)
	}
}

// testLedgerConcurrentUnite: one handle making a day's unions over and
// over while the other merges into the day, new buckets and old: once
// both are done, the day's unions, if it still has them, are what making
// them again from its buckets gives.
func testLedgerConcurrentUnite(t *testing.T, a, b LedgerStore) {
	day := t0.Truncate(mayfly.LedgerDay)
	const rounds = 30
	seed := func(r int) mayfly.LedgerBucket {
		d := bucket(fmt.Sprintf("jti-%02d", r%8), day, mayfly.LedgerDay, "customer", uint64(r), big+uint64(r))
		d.Token.KID = fmt.Sprintf("k%d", r%3)
		return d
	}
	state := func() []string {
		var out []string
		for _, dim := range mayfly.LedgerUnionDims {
			out = append(out, unionsOf(t, a, mayfly.LedgerUnionFilter{Day: day, Dim: dim, Buckets: true, Records: true})...)
		}
		return out
	}
	stood := 0
	for round := range 4 {
		var wg sync.WaitGroup
		var merged atomic.Bool
		errs := make([]error, 2)
		wg.Go(func() {
			// Until the merges end: the last making may have begun
			// before the last merge committed.
			for !merged.Load() {
				if _, err := unite(t, a, day, 2); err != nil {
					errs[0] = err
					return
				}
			}
		})
		wg.Go(func() {
			defer merged.Store(true)
			for r := range rounds {
				// New buckets in the first round, more records for old
				// ones after.
				if err := merge(t, b, seed(round*rounds+r)); err != nil {
					errs[1] = err
					return
				}
			}
		})
		wg.Wait()
		must(t, "unite and merge", errors.Join(errs...))
		days, err := a.LedgerUnionDays(t.Context(), time.Time{}, time.Time{})
		must(t, "LedgerUnionDays", err)
		if len(days) == 0 {
			continue // the last merge dropped them
		}
		stood++
		before := state()
		if ok, err := unite(t, a, day, 2); err != nil || !ok {
			t.Fatalf("UniteLedgerDay: %v, %v", ok, err)
		}
		if after := state(); !slices.Equal(before, after) {
			t.Errorf("round %d: the unions left standing are stale:\n got %q\nwant %q", round, before, after)
		}
	}
	t.Logf("unions stood after %d of 4 rounds", stood)
}
