package scope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/scope"
)

// TestScopeAgreesWithBruteForce: every filter, combination and breakdown
// answers what the brute force computes from the reports, over a ledger
// with minute, hour and day buckets (a token's and a credential's),
// record IDs above 2^32, and windows that cut through buckets.
func TestScopeAgreesWithBruteForce(t *testing.T) {
	w := newWorld(t, 7, 9, 4000)
	cs := &countingStore{Store: w.st}
	s := scope.New(scope.Config{Store: cs})
	off := w.offAt["dev"]
	cidr := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	queries := map[string]mayfly.ScopeQuery{
		"everything":         {},
		"kid":                {KIDs: []string{"kid-a1"}},
		"kids":               {KIDs: []string{"kid-a1", "kid-b1"}},
		"principal":          {Principals: []string{"dev"}},
		"principal by name":  {Principals: []string{"name-alice"}},
		"custody":            {Principals: []string{"dev"}, Custody: true},
		"client":             {Clients: []string{"cl-mail"}},
		"clients":            {Clients: []string{"cl-mail", "cl-alice"}},
		"subject":            {Subjects: []string{"customer:1", "customer:3"}},
		"service":            {Services: []string{"billing"}},
		"services":           {Services: []string{"search", "zz-03"}},
		"service left out":   {Services: []string{"zz-18"}},       // by the scanner's bucket, which kept zz-00 to zz-15
		"source left out":    {Sources: cidr("203.0.113.192/26")}, // by the scanner's, which used 203.0.113.200; a /26 reads buckets ("source" counts it through unions)
		"source":             {Sources: cidr("203.0.113.0/24")},
		"sources":            {Sources: append(cidr("203.0.113.0/24"), cidr("10.1.0.0/24")...)},
		"source /23":         {Sources: cidr("10.1.0.0/23")},
		"source /8":          {Sources: cidr("10.0.0.0/8")},
		"source /28":         {Sources: cidr("203.0.113.0/28")},
		"forged":             {Forged: true},
		"after offboarding":  {AfterOffboarding: []string{"dev"}},
		"window":             {From: off.Add(-50 * time.Hour), To: off.Add(-3*time.Hour + 17*time.Minute)},
		"recent window":      {From: w.now.Add(-3 * time.Hour), To: w.now.Add(-10 * time.Minute)},
		"namespace":          {Namespaces: []string{"order"}},
		"kid and source":     {KIDs: []string{"kid-a1"}, Sources: cidr("198.51.100.0/24")},
		"kid after offboard": {KIDs: []string{"kid-a1", "kid-a2"}, AfterOffboarding: []string{"dev"}},
		"custody forged":     {Principals: []string{"dev"}, Custody: true, Forged: true, Namespaces: []string{"customer"}},
		"client service":     {Clients: []string{"cl-orders"}, Services: []string{"api", "search"}, From: off.Add(-72 * time.Hour)},
		"by source":          {KIDs: []string{"kid-a1"}, By: mayfly.ScopeBySource},
		"by client":          {By: mayfly.ScopeByClient, Step: mayfly.ScopeHour},
		"by principal":       {Principals: []string{"dev"}, Custody: true, By: mayfly.ScopeByPrincipal},
		"by service":         {Sources: cidr("10.1.0.0/16"), By: mayfly.ScopeByService},
		"by day":             {KIDs: []string{"kid-a1"}, By: mayfly.ScopeByDay, AfterOffboarding: []string{"dev"}},
		"diff": {KIDs: []string{"kid-a1", "kid-a2"}, AfterOffboarding: []string{"dev"},
			Minus: &mayfly.ScopeQuery{Clients: []string{"cl-orders"}, Forged: false, Services: []string{"api"}}},
		"empty window":              {From: w.now.Add(time.Hour), To: w.now.Add(2 * time.Hour)},
		"before offboarding window": {To: off.Add(-24 * time.Hour), AfterOffboarding: []string{"dev"}},
	}
	// Each query is answered from the buckets, then again once every day
	// that can has its unions (every value's, however few buckets share
	// it): the same answer, to the byte.
	// Again with the unions added to a whole taken for dense, as on a
	// large ledger. And once more where the unions list their buckets but
	// keep none of their records (fewer buckets share each value than the
	// minimum).
	var mu sync.Mutex
	fromBuckets := map[string][]byte{}
	// What the brute force computes is the same in every phase: the
	// reports do not change.
	wants := map[string]*mayfly.Scope{}
	for name, q := range queries {
		if name == "principal by name" {
			q.Principals = []string{"alice"}
		}
		wants[name] = w.brute(q)
	}
	for _, phase := range []string{"buckets", "unions", "unions dense", "unions dropped", "lists"} {
		restore := scope.SetDenseWhole(phase == "unions dense")
		defer restore()
		// As if every other day's unions were dropped by a merge between
		// the listing of the days and the reading of them.
		cs.dropped = phase == "unions dropped"
		switch phase {
		case "unions":
			if n := w.unite(t, 1); n < 5 {
				t.Fatalf("unions made for %d days, want the 5 or more that rolled into days", n)
			}
		case "lists":
			days, err := w.st.LedgerUnionDays(t.Context(), time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for _, day := range days {
				err := mayfly.Transact(t.Context(), w.st, func(tx mayfly.Tx) error {
					_, err := w.st.UniteLedgerDay(tx, day, 1<<30)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		// The queries of a phase run at once; the phase ends when all
		// have.
		t.Run(phase, func(t *testing.T) {
			for name, q := range queries {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					var unions atomic.Int64
					got, err := s.Run(context.WithValue(t.Context(), unionsRead{}, &unions), q)
					if err != nil {
						t.Fatal(err)
					}
					want := wants[name]
					leftOut := strings.HasSuffix(name, "left out") // only a bucket that kept some of its lists could match
					if empty := name == "empty window" || name == "before offboarding window" || leftOut; empty != (want.Buckets == 0) ||
						leftOut && want.Completeness.Unsure == 0 {
						t.Errorf("the brute force selects %d buckets, %d unsure: the query does not test what it means to", want.Buckets, want.Completeness.Unsure)
					}
					compare(t, got, want)
					if phase != "buckets" && unitable[name] && unions.Load() == 0 {
						t.Errorf("no union was read: the answer came from buckets alone")
					}
					js, err := json.Marshal(got)
					if err != nil {
						t.Fatal(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if phase == "buckets" {
						fromBuckets[name] = js
					} else if !bytes.Equal(js, fromBuckets[name]) {
						t.Errorf("the answer from unions differs from the answer from buckets:\n%s\n%s", js, fromBuckets[name])
					}
				})
			}
		})
	}
}

// unitable are the queries whose answers unions can stand in for, on the
// days that have them: one filter (or none) of a key, a client, a
// principal, services or a source.
var unitable = map[string]bool{"everything": true, "kid": true, "kids": true, "principal": true, "principal by name": true,
	"custody": true, "client": true, "clients": true, "service": true, "services": true, "source": true, "sources": true, "source /23": true, "source /8": true, "after offboarding": true,
	"window": true, "namespace": true, "kid after offboard": true}

// countingStore counts the unions read with their records, in the
// counter a query's context carries (unionsRead), and if dropped has every
// other day's unions gone once listed.
type countingStore struct {
	scope.Store
	dropped bool
}

type unionsRead struct{}

func (s *countingStore) LedgerUnions(ctx context.Context, f mayfly.LedgerUnionFilter) ([]mayfly.LedgerUnion, error) {
	if s.dropped && f.Day.YearDay()%2 == 0 {
		return nil, mayfly.Errorf(mayfly.NotFound, "the ledger's unions of %s are not made", f.Day.Format(time.DateOnly))
	}
	us, err := s.Store.LedgerUnions(ctx, f)
	if n, ok := ctx.Value(unionsRead{}).(*atomic.Int64); ok && f.Records {
		n.Add(int64(len(us)))
	}
	return us, err
}

func compare(t *testing.T, got, want *mayfly.Scope) {
	t.Helper()
	check := func(what string, g, w any) {
		t.Helper()
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s: got %v, want %v", what, g, w)
		}
	}
	check("namespaces", nsString(got.Namespaces), nsString(want.Namespaces))
	check("tokens", got.Tokens, want.Tokens)
	check("requests", got.Requests, want.Requests)
	check("refusals", got.Refusals, want.Refusals)
	check("buckets", got.Buckets, want.Buckets)
	check("services", got.Services, want.Services)
	check("sources", got.Sources, want.Sources)
	check("timeline", got.Timeline, want.Timeline)
	check("groups", groupString(got.Groups), groupString(want.Groups))
	check("unsure", got.Completeness.Unsure, want.Completeness.Unsure)
}

func nsString(ns []mayfly.ScopeNamespace) []string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s:%d:%s:%s-%s", n.Namespace, n.Records, n.Digest[:12], n.FirstRead.Format(time.RFC3339), n.LastRead.Format(time.RFC3339)))
	}
	return out
}

func groupString(gs []mayfly.ScopeGroup) []string {
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s:%d tokens:%d requests:%v", g.Key, g.Tokens, g.Requests, nsString(g.Namespaces)))
	}
	return out
}

// TestScopeRefuses: names that do not exist are errors that name them;
// an empty window is zero.
func TestScopeRefuses(t *testing.T) {
	w := newWorld(t, 3, 2, 200)
	s := scope.New(scope.Config{Store: w.st})
	for _, tt := range []struct {
		q    mayfly.ScopeQuery
		code error
		name string
	}{
		{mayfly.ScopeQuery{Principals: []string{"nobody"}}, mayfly.ErrNotFound, `"nobody"`},
		{mayfly.ScopeQuery{KIDs: []string{"kid-a1", "kid-unknown"}}, mayfly.ErrNotFound, `"kid-unknown"`},
		{mayfly.ScopeQuery{Clients: []string{"cl-gone"}}, mayfly.ErrNotFound, `"cl-gone"`},
		{mayfly.ScopeQuery{AfterOffboarding: []string{"ghost"}}, mayfly.ErrNotFound, `"ghost"`},
		{mayfly.ScopeQuery{AfterOffboarding: []string{"alice"}}, mayfly.ErrInvalid, `"alice"`},
		{mayfly.ScopeQuery{Custody: true}, mayfly.ErrInvalid, "principal"},
		{mayfly.ScopeQuery{By: "planet"}, mayfly.ErrInvalid, `"planet"`},
		{mayfly.ScopeQuery{Step: "week"}, mayfly.ErrInvalid, `"week"`},
		{mayfly.ScopeQuery{From: w.now, To: w.now.Add(-time.Hour)}, mayfly.ErrInvalid, "after"},
		{mayfly.ScopeQuery{Sources: []netip.Prefix{{}}}, mayfly.ErrInvalid, "CIDR"},
		{mayfly.ScopeQuery{Minus: &mayfly.ScopeQuery{Principals: []string{"nobody"}}}, mayfly.ErrNotFound, `"nobody"`},
	} {
		_, err := s.Run(t.Context(), tt.q)
		if !errors.Is(err, tt.code) || !strings.Contains(mayfly.ErrorMessage(err), tt.name) {
			t.Errorf("%+v: got %v, want a %v error naming %s", tt.q, err, tt.code, tt.name)
		}
	}
	got, err := s.Run(t.Context(), mayfly.ScopeQuery{From: w.now.Add(24 * time.Hour), To: w.now.Add(48 * time.Hour), Namespaces: []string{"customer"}})
	if err != nil {
		t.Fatalf("an empty window: %v, want zero", err)
	}
	if len(got.Namespaces) != 1 || got.Namespaces[0].Records != 0 || got.Tokens != 0 || got.Buckets != 0 {
		t.Errorf("an empty window: got %+v, want customer at zero", got)
	}
}

// TestWorldShape: the generated ledger holds what the comparison relies
// on: every width, roll-ups, forged tokens, IDs above 2^32, and buckets
// that straddle the offboarding.
func TestWorldShape(t *testing.T) {
	w := newWorld(t, 7, 9, 4000)
	bs, err := w.st.LedgerBuckets(t.Context(), mayfly.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	widths := map[time.Duration]int{}
	rolled, forged, straddle := 0, 0, 0
	off := w.offAt["dev"]
	for _, b := range bs {
		widths[b.Width]++
		if b.Token.IsRollUp() {
			rolled++
		} else if b.Width == 24*time.Hour {
			forged++
		}
		if b.Start.Before(off) && b.End().After(off) {
			straddle++
		}
	}
	all, err := scope.New(scope.Config{Store: w.st}).Run(t.Context(), mayfly.ScopeQuery{IDs: true, Namespaces: []string{"customer"}})
	if err != nil {
		t.Fatal(err)
	}
	high := false
	if rb, err := decode(all.Namespaces[0].Bitmap); err != nil || rb.Maximum() < 1<<32 {
		t.Errorf("the records reach %v (%v), want some above 2^32", rb, err)
	} else {
		high = true
	}
	t.Logf("buckets by width %v, roll-ups %d, forged days %d, straddling %d, records %d, above 2^32 %v", widths, rolled, forged, straddle, all.Namespaces[0].Records, high)
	if widths[time.Minute] == 0 || widths[time.Hour] == 0 || widths[24*time.Hour] == 0 || rolled == 0 || forged == 0 || straddle == 0 {
		t.Errorf("the world lacks a kind of bucket the comparison needs")
	}
}

// TestScopeConcurrent: scopes at once, more than the store has read
// connections, each needing issuance records and records read apart,
// all finish with the answer one alone gives.
func TestScopeConcurrent(t *testing.T) {
	w := newWorld(t, 11, 4, 600)
	s := scope.New(scope.Config{Store: w.st})
	q := mayfly.ScopeQuery{KIDs: []string{"kid-a1"}, Forged: true, AfterOffboarding: []string{"dev"}, Sources: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	want, err := s.Run(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			got, err := s.Run(t.Context(), q)
			if err == nil && nsString(got.Namespaces)[0] != nsString(want.Namespaces)[0] {
				err = fmt.Errorf("got %v, want %v", nsString(got.Namespaces), nsString(want.Namespaces))
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
