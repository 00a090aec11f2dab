package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

// LedgerStore is the store the Ledger suites run on.
type LedgerStore interface {
	mayfly.LedgerStore
	mayfly.TxStore
}

// Ledger runs the suite of mayfly.LedgerStore.
func Ledger(t *testing.T, open func(t *testing.T) LedgerStore) {
	t.Helper()
	run(t, open, []test[LedgerStore]{
		{"RoundTrip", testLedgerRoundTrip},
		{"MergeUnites", testLedgerMergeUnites},
		{"BoundedSets", testLedgerBoundedSets},
		{"Filter", testLedgerFilter},
		{"Scan", testLedgerScan},
		{"Invalid", testLedgerInvalid},
		{"Compact", testLedgerCompact},
		{"CompactInterrupted", testLedgerCompactInterrupted},
		{"RollUp", testLedgerRollUp},
		{"Prune", testLedgerPrune},
		{"Gaps", testLedgerGaps},
		{"Unions", testLedgerUnions},
	})
}

// LedgerShared runs the checks of the Ledger suite that need two handles on
// one database, as two processes (replicas) have. A backend that one
// process holds alone (SQLite) passes one handle twice: the checks then
// show that goroutines sharing it lose nothing.
func LedgerShared(t *testing.T, open func(t *testing.T) (LedgerStore, LedgerStore)) {
	t.Helper()
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, a, b LedgerStore)
	}{
		{"ConcurrentMerges", testLedgerConcurrentMerges},
		{"ConcurrentCompactions", testLedgerConcurrentCompactions},
		{"ConcurrentUnite", testLedgerConcurrentUnite},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

// LedgerDamaged checks that a stored bitmap that does not decode is an
// error, never a panic, for every method that reads it. damage overwrites
// the records of every stored bucket with the bytes it is given, through
// the backend's own means.
func LedgerDamaged(t *testing.T, s LedgerStore, damage func(t *testing.T, records []byte)) {
	t.Helper()
	for _, bad := range [][]byte{{1, 2, 3}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, append(records(1, 2), 0)} {
		t.Run(fmt.Sprintf("%x", bad), func(t *testing.T) {
			b := bucket("jti-damaged", t0.Truncate(time.Minute), time.Minute, "customer", 1, 2, 3)
			must(t, "MergeLedger", merge(t, s, b))
			damage(t, bad)
			if got, err := s.LedgerBuckets(t.Context(), mayfly.LedgerFilter{}); err == nil {
				t.Errorf("LedgerBuckets of a damaged bitmap: got %d buckets and no error, want an error", len(got))
			}
			if err := merge(t, s, b); err == nil {
				t.Errorf("MergeLedger into a damaged bitmap: no error, want one")
			}
			err := commit(t, s, func(tx mayfly.Tx) error {
				_, err := s.CompactLedger(tx, time.Minute, time.Hour, t0.Add(24*time.Hour), 100, false)
				return err
			})
			if err == nil {
				t.Errorf("CompactLedger of a damaged bitmap: no error, want one")
			}
			if _, err := prune(t, s, t0.Add(24*time.Hour)); err != nil {
				t.Errorf("PruneLedger, which reads no bitmap: %v", err)
			}
		})
	}
}

// Fixtures.

// records serializes a set of record IDs.
func records(ids ...uint64) []byte {
	rb := roaring64.BitmapOf(ids...)
	b, err := rb.ToPortableBytes()
	if err != nil {
		panic(err) // an in-memory bitmap always serializes
	}
	return b
}

// ids decodes a bucket's records.
func ids(t *testing.T, b []byte) []uint64 {
	t.Helper()
	rb := roaring64.New()
	if err := rb.UnmarshalBinary(b); err != nil {
		t.Fatalf("records do not decode: %v", err)
	}
	return rb.ToArray()
}

// big is above 2^32: record IDs are 64-bit.
const big = uint64(1)<<40 + 7

func bucket(jti string, start time.Time, width time.Duration, ns string, recs ...uint64) mayfly.LedgerBucket {
	return mayfly.LedgerBucket{
		Start: start, Width: width, Namespace: ns,
		Token:    mayfly.LedgerToken{JTI: jti, Digest: "dg-" + jti},
		Records:  records(recs...),
		Requests: 1,
	}
}

func merge(t *testing.T, s LedgerStore, bs ...mayfly.LedgerBucket) error {
	return commit(t, s, func(tx mayfly.Tx) error { return s.MergeLedger(tx, bs) })
}

func prune(t *testing.T, s LedgerStore, before time.Time) (n int, err error) {
	err = commit(t, s, func(tx mayfly.Tx) error {
		n, err = s.PruneLedger(tx, before)
		return err
	})
	return n, err
}

func compact(t *testing.T, s LedgerStore, from, to time.Duration, cutoff time.Time, limit int) int {
	t.Helper()
	return compactBy(t, s, from, to, cutoff, limit, false)
}

func compactBy(t *testing.T, s LedgerStore, from, to time.Duration, cutoff time.Time, limit int, byCredential bool) int {
	t.Helper()
	var n int
	must(t, "CompactLedger", commit(t, s, func(tx mayfly.Tx) error {
		var err error
		n, err = s.CompactLedger(tx, from, to, cutoff, limit, byCredential)
		return err
	}))
	return n
}

func buckets(t *testing.T, s LedgerStore, f mayfly.LedgerFilter) []mayfly.LedgerBucket {
	t.Helper()
	got, err := s.LedgerBuckets(t.Context(), f)
	if err != nil {
		t.Fatalf("LedgerBuckets(%+v): %v", f, err)
	}
	return got
}

// totals sums what the stored buckets hold: the union of records by
// namespace, and the counts.
type totals struct {
	records            map[string][]uint64
	requests, refusals int64
}

func totalsOf(t *testing.T, bs []mayfly.LedgerBucket) totals {
	t.Helper()
	return totalsBy(t, bs, func(tok mayfly.LedgerToken) string { return tok.JTI })
}

// credentialTotals is totalsOf by credential rather than token.
func credentialTotals(t *testing.T, bs []mayfly.LedgerBucket) totals {
	t.Helper()
	return totalsBy(t, bs, func(tok mayfly.LedgerToken) string { return tok.RolledUp().Digest })
}

func totalsBy(t *testing.T, bs []mayfly.LedgerBucket, token func(mayfly.LedgerToken) string) totals {
	t.Helper()
	sets := map[string]*roaring64.Bitmap{}
	var tot totals
	for _, b := range bs {
		rb := roaring64.New()
		if err := rb.UnmarshalBinary(b.Records); err != nil {
			t.Fatalf("records do not decode: %v", err)
		}
		key := token(b.Token) + "/" + b.Namespace
		if sets[key] == nil {
			sets[key] = roaring64.New()
		}
		sets[key].Or(rb)
		tot.requests += b.Requests
		tot.refusals += b.Refusals
	}
	tot.records = map[string][]uint64{}
	for k, rb := range sets {
		tot.records[k] = rb.ToArray()
	}
	return tot
}

func (a totals) equal(b totals) bool {
	if a.requests != b.requests || a.refusals != b.refusals || len(a.records) != len(b.records) {
		return false
	}
	for k, v := range a.records {
		if !slices.Equal(v, b.records[k]) {
			return false
		}
	}
	return true
}

func diffBucket(t *testing.T, got, want mayfly.LedgerBucket) diff {
	t.Helper()
	var d diff
	d.time("Start", got.Start, want.Start)
	if got.Width != want.Width {
		d.add("Width", got.Width, want.Width)
	}
	if got.Token != want.Token {
		d.add("Token", fmt.Sprintf("%+v", got.Token), fmt.Sprintf("%+v", want.Token))
	}
	d.eq("Namespace", got.Namespace, want.Namespace)
	if g, w := ids(t, got.Records), ids(t, want.Records); !slices.Equal(g, w) {
		d.add("Records", g, w)
	}
	if got.Requests != want.Requests || got.Refusals != want.Refusals {
		d.add("Requests, Refusals", fmt.Sprint(got.Requests, got.Refusals), fmt.Sprint(want.Requests, want.Refusals))
	}
	d.strings("Services", got.Services, want.Services)
	d.strings("Sources", got.Sources, want.Sources)
	if got.ServicesMore != want.ServicesMore || got.SourcesMore != want.SourcesMore {
		d.add("ServicesMore, SourcesMore", fmt.Sprint(got.ServicesMore, got.SourcesMore), fmt.Sprint(want.ServicesMore, want.SourcesMore))
	}
	return d
}

// Tests.

func testLedgerRoundTrip(t *testing.T, s LedgerStore) {
	want := mayfly.LedgerBucket{
		Start: t0.Truncate(time.Minute).In(zone), Width: time.Minute, Namespace: "customer",
		Token:    mayfly.LedgerToken{JTI: "jti-1", Digest: "dg-1", KID: "kid-a", ClientID: "cli-a", PrincipalID: "prn-svc", Subject: "svc"},
		Records:  records(0, 1, 7, 1<<32-1, 1<<32, big, ^uint64(0)),
		Requests: 3, Refusals: 2,
		Services: []string{"billing", "orders"}, Sources: []string{"10.0.0.1", "2001:db8::1"},
	}
	must(t, "MergeLedger", merge(t, s, want))
	got := buckets(t, s, mayfly.LedgerFilter{})
	if len(got) != 1 {
		t.Fatalf("LedgerBuckets: got %d buckets, want 1", len(got))
	}
	diffBucket(t, got[0], want).report(t, "bucket")
}

func testLedgerMergeUnites(t *testing.T, s LedgerStore) {
	start := t0.Truncate(time.Minute)
	a := bucket("jti-1", start, time.Minute, "customer", 1, 2, big)
	a.Token.KID, a.Services, a.Sources = "kid-a", []string{"orders"}, []string{"10.0.0.1"}
	b := bucket("jti-1", start, time.Minute, "customer", 2, 3, big+1)
	b.Token.KID, b.Token.Subject, b.Refusals = "kid-other", "svc", 4
	b.Services, b.Sources = []string{"billing", "orders"}, []string{"10.0.0.2"}
	// The same key twice in one batch, and once more in another.
	c := bucket("jti-1", start, time.Minute, "customer", 4)
	must(t, "MergeLedger", merge(t, s, a, c))
	must(t, "MergeLedger", merge(t, s, b))
	// A bucket already holding the delta changes only its counts.
	must(t, "MergeLedger", merge(t, s, c))
	got := buckets(t, s, mayfly.LedgerFilter{})
	if len(got) != 1 {
		t.Fatalf("LedgerBuckets: got %d buckets, want 1", len(got))
	}
	want := mayfly.LedgerBucket{
		Start: start, Width: time.Minute, Namespace: "customer",
		Token:    mayfly.LedgerToken{JTI: "jti-1", Digest: "dg-jti-1", KID: "kid-a", Subject: "svc"},
		Records:  records(1, 2, 3, 4, big, big+1),
		Requests: 4, Refusals: 4,
		Services: []string{"billing", "orders"}, Sources: []string{"10.0.0.1", "10.0.0.2"},
	}
	diffBucket(t, got[0], want).report(t, "merged bucket")
}

func testLedgerBoundedSets(t *testing.T, s LedgerStore) {
	start := t0.Truncate(time.Minute)
	var deltas []mayfly.LedgerBucket
	var all []string
	for i := range mayfly.LedgerMaxServices + 3 {
		d := bucket("jti-1", start, time.Minute, "customer", uint64(i))
		svc := fmt.Sprintf("svc-%02d", mayfly.LedgerMaxServices+3-i) // greatest first
		d.Services, d.Sources = []string{svc}, []string{"10.0.0.1"}
		deltas, all = append(deltas, d), append(all, svc)
	}
	// One batch each, as a service reporting over time would.
	for _, d := range deltas {
		must(t, "MergeLedger", merge(t, s, d))
	}
	got := buckets(t, s, mayfly.LedgerFilter{})
	if len(got) != 1 {
		t.Fatalf("LedgerBuckets: got %d buckets, want 1", len(got))
	}
	slices.Sort(all)
	if want := all[:mayfly.LedgerMaxServices]; !slices.Equal(got[0].Services, want) || !got[0].ServicesMore {
		t.Errorf("Services: got %q (more %v), want the least %d, %q (more true)", got[0].Services, got[0].ServicesMore, len(want), want)
	}
	if !slices.Equal(got[0].Sources, []string{"10.0.0.1"}) || got[0].SourcesMore {
		t.Errorf("Sources: got %q (more %v), want [10.0.0.1] (more false)", got[0].Sources, got[0].SourcesMore)
	}
	if n := len(ids(t, got[0].Records)); n != len(deltas) {
		t.Errorf("Records: got %d IDs, want %d", n, len(deltas))
	}
}

func testLedgerFilter(t *testing.T, s LedgerStore) {
	m := t0.Truncate(time.Hour)
	must(t, "MergeLedger", merge(t, s,
		bucket("jti-1", m, time.Minute, "customer", 1),
		bucket("jti-1", m.Add(time.Minute), time.Minute, "order", 2),
		bucket("jti-2", m.Add(time.Minute), time.Minute, "customer", 3),
		bucket("jti-2", m, time.Hour, "customer", 4),
		bucket("jti-1", m.Add(2*time.Hour), time.Minute, "customer", 5),
	))
	// rec names a bucket by the one record it holds.
	rec := func(bs []mayfly.LedgerBucket) []uint64 {
		var out []uint64
		for _, b := range bs {
			out = append(out, ids(t, b.Records)...)
		}
		return out
	}
	tests := []struct {
		name string
		f    mayfly.LedgerFilter
		want []uint64 // ordered by start, then width, token and namespace
	}{
		{"all", mayfly.LedgerFilter{}, []uint64{1, 4, 2, 3, 5}},
		{"jti", mayfly.LedgerFilter{JTI: "jti-1"}, []uint64{1, 2, 5}},
		{"digest", mayfly.LedgerFilter{Digest: "dg-jti-2"}, []uint64{4, 3}},
		{"namespace", mayfly.LedgerFilter{Namespace: "customer"}, []uint64{1, 4, 3, 5}},
		{"width", mayfly.LedgerFilter{Width: time.Hour}, []uint64{4}},
		{"from the second minute", mayfly.LedgerFilter{From: m.Add(time.Minute)}, []uint64{4, 2, 3, 5}},
		{"from within the first minute", mayfly.LedgerFilter{From: m.Add(time.Minute - time.Nanosecond)}, []uint64{1, 4, 2, 3, 5}},
		{"to the second minute", mayfly.LedgerFilter{To: m.Add(time.Minute)}, []uint64{1, 4}},
		{"to within the second minute", mayfly.LedgerFilter{To: m.Add(time.Minute + fine)}, []uint64{1, 4, 2, 3}},
		{"after the hour", mayfly.LedgerFilter{From: m.Add(time.Hour)}, []uint64{5}},
		{"limit", mayfly.LedgerFilter{Limit: 2}, []uint64{1, 4}},
	}
	for _, tt := range tests {
		if got := rec(buckets(t, s, tt.f)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got records %v, want %v", tt.name, got, tt.want)
		}
	}
}

func testLedgerInvalid(t *testing.T, s LedgerStore) {
	start := t0.Truncate(time.Minute)
	good := bucket("jti-1", start, time.Minute, "customer", 1)
	tests := []struct {
		name   string
		change func(b *mayfly.LedgerBucket)
	}{
		{"no width", func(b *mayfly.LedgerBucket) { b.Width = 0 }},
		{"a fraction of a second wide", func(b *mayfly.LedgerBucket) { b.Width = time.Minute + time.Millisecond }},
		{"unaligned start", func(b *mayfly.LedgerBucket) { b.Start = b.Start.Add(time.Second) }},
		{"no token", func(b *mayfly.LedgerBucket) { b.Token = mayfly.LedgerToken{} }},
		{"negative count", func(b *mayfly.LedgerBucket) { b.Requests = -1 }},
		{"truncated records", func(b *mayfly.LedgerBucket) { b.Records = b.Records[:len(b.Records)-1] }},
		{"trailing bytes", func(b *mayfly.LedgerBucket) { b.Records = append(b.Records, 0) }},
		{"garbage records", func(b *mayfly.LedgerBucket) { b.Records = []byte("not a bitmap at all") }},
		{"too many services", func(b *mayfly.LedgerBucket) { b.Services = make([]string, mayfly.LedgerMaxServices+1) }},
		{"empty source", func(b *mayfly.LedgerBucket) { b.Sources = []string{""} }},
	}
	for _, tt := range tests {
		bad := good
		bad.Records = slices.Clone(good.Records)
		tt.change(&bad)
		// Beside a good delta: the batch is all or none.
		wantErr(t, tt.name, merge(t, s, good, bad), mayfly.ErrInvalid)
	}
	if got := buckets(t, s, mayfly.LedgerFilter{}); len(got) != 0 {
		t.Errorf("after invalid batches: got %d buckets, want none", len(got))
	}
	err := commit(t, s, func(tx mayfly.Tx) error {
		_, err := s.CompactLedger(tx, time.Hour, time.Minute, t0, 10, false)
		return err
	})
	wantErr(t, "CompactLedger into a narrower width", err, mayfly.ErrInvalid)
	err = commit(t, s, func(tx mayfly.Tx) error {
		return s.RecordLedgerGaps(tx, []*mayfly.LedgerGap{{Service: "", From: t0, To: t0}})
	})
	wantErr(t, "RecordLedgerGaps without a service", err, mayfly.ErrInvalid)
}

// minutes returns deltas over the two hours from t0's hour: for each
// minute, tokens jti-0..2 read in two namespaces, IDs above and below 2^32.
func minutes(start time.Time) []mayfly.LedgerBucket {
	var out []mayfly.LedgerBucket
	for m := range 120 {
		for tok := range 3 {
			for _, ns := range []string{"customer", "order"} {
				b := bucket(fmt.Sprintf("jti-%d", tok), start.Add(time.Duration(m)*time.Minute), time.Minute, ns,
					uint64(m), uint64(m+tok), big+uint64(m%7))
				b.Refusals = int64(m % 2)
				b.Services = []string{fmt.Sprintf("svc-%d", m%3)}
				out = append(out, b)
			}
		}
	}
	return out
}

func testLedgerCompact(t *testing.T, s LedgerStore) {
	start := t0.Truncate(time.Hour)
	deltas := minutes(start)
	must(t, "MergeLedger", merge(t, s, deltas...))
	before := totalsOf(t, buckets(t, s, mayfly.LedgerFilter{}))
	// Up to 90 minutes in: the first hour whole, half of the second.
	cutoff := start.Add(90 * time.Minute)
	rolled := 0
	for {
		n := compact(t, s, time.Minute, time.Hour, cutoff, 100) // in chunks
		if n == 0 {
			break
		}
		rolled += n
	}
	if want := 90 * 3 * 2; rolled != want {
		t.Errorf("rolled %d buckets, want %d", rolled, want)
	}
	after := buckets(t, s, mayfly.LedgerFilter{})
	if got := totalsOf(t, after); !got.equal(before) {
		t.Errorf("after compaction: totals %+v, want %+v", got, before)
	}
	hours := buckets(t, s, mayfly.LedgerFilter{Width: time.Hour})
	if len(hours) != 2*3*2 {
		t.Fatalf("got %d hour buckets, want %d", len(hours), 2*3*2)
	}
	if h := hours[0]; !h.Start.Equal(start) || h.Requests != 60 || h.Refusals != 30 ||
		!slices.Equal(h.Services, []string{"svc-0", "svc-1", "svc-2"}) || len(ids(t, h.Records)) != 60+7 {
		t.Errorf("first hour bucket: start %v, %d requests, %d refusals, services %q, %d IDs; want %v, 60, 30, 3 services, 67 IDs",
			h.Start, h.Requests, h.Refusals, h.Services, len(ids(t, h.Records)), start)
	}
	if got := len(buckets(t, s, mayfly.LedgerFilter{Width: time.Minute})); got != 30*3*2 {
		t.Errorf("got %d minute buckets left, want %d", got, 30*3*2)
	}
	// Again: nothing is left to roll, and nothing changes.
	if n := compact(t, s, time.Minute, time.Hour, cutoff, 1000); n != 0 {
		t.Errorf("compacting again rolled %d buckets, want 0", n)
	}
	if got := totalsOf(t, buckets(t, s, mayfly.LedgerFilter{})); !got.equal(before) {
		t.Errorf("after compacting again: totals %+v, want %+v", got, before)
	}
	// And on into days.
	compact(t, s, time.Minute, time.Hour, start.Add(3*time.Hour), 1000)
	compact(t, s, time.Hour, 24*time.Hour, start.Add(48*time.Hour), 1000)
	if got := buckets(t, s, mayfly.LedgerFilter{}); len(got) != 3*2 || got[0].Width != 24*time.Hour || !totalsOf(t, got).equal(before) {
		t.Errorf("after compacting into days: %d buckets, the first %v wide; want 6 day buckets with the same totals", len(got), got[0].Width)
	}
}

// testLedgerRollUp rolls two credentials' tokens into days by credential:
// each credential's tokens share a bucket, which holds all they did.
func testLedgerRollUp(t *testing.T, s LedgerStore) {
	start := t0.Truncate(24 * time.Hour)
	type token struct {
		jti, kid, client string
		recs             []uint64
	}
	toks := []token{
		{"jti-a1", "kid-1", "client-a", []uint64{1, 2, big}},
		{"jti-a2", "kid-1", "client-a", []uint64{2, 3}},
		{"jti-b1", "kid-1", "client-b", []uint64{4}},
	}
	IssueTokens(t, s, start, "kid-1", []string{"client-a", "client-b"}, "jti-a1", "jti-a2", "jti-a3", "jti-b1")
	var deltas []mayfly.LedgerBucket
	for i, tk := range toks {
		for _, ns := range []string{"customer", "order"} {
			b := bucket(tk.jti, start.Add(time.Duration(i)*time.Hour), time.Minute, ns, tk.recs...)
			b.Token.KID, b.Token.ClientID, b.Token.PrincipalID, b.Token.Subject = tk.kid, tk.client, "person-1", tk.client
			b.Sources = []string{fmt.Sprintf("192.0.2.%d", i)}
			deltas = append(deltas, b)
		}
	}
	// Tokens Mayfly never issued, claiming client-a: one under a jti it
	// issued, with another digest, and one under a jti of its own.
	forged := []mayfly.LedgerBucket{bucket("jti-a1", start, time.Minute, "customer", 77), bucket("jti-f1", start, time.Minute, "customer", 78)}
	for i := range forged {
		forged[i].Token.Digest = "dg-forged"
		forged[i].Token.KID, forged[i].Token.ClientID, forged[i].Token.PrincipalID, forged[i].Token.Subject = "kid-1", "client-a", "person-1", "client-a"
	}
	must(t, "MergeLedger", merge(t, s, deltas...))
	before := credentialTotals(t, buckets(t, s, mayfly.LedgerFilter{}))
	must(t, "MergeLedger", merge(t, s, forged...))
	compact(t, s, time.Minute, time.Hour, start.Add(24*time.Hour), 1000)
	if n := compactBy(t, s, time.Hour, 24*time.Hour, start.Add(24*time.Hour), 1000, true); n != 3*2+2 {
		t.Fatalf("rolled %d hour buckets by credential, want 8", n)
	}
	for _, f := range forged {
		got := buckets(t, s, mayfly.LedgerFilter{JTI: f.Token.JTI, Digest: "dg-forged"})
		if len(got) != 1 || got[0].Width != 24*time.Hour || got[0].Token.IsRollUp() || len(ids(t, got[0].Records)) != 1 {
			t.Errorf("forged token %s after rolling by credential: %+v; want its own day bucket, its one record", f.Token.JTI, got)
		}
	}
	days := buckets(t, s, mayfly.LedgerFilter{Width: 24 * time.Hour, Digest: ""})
	days = slices.DeleteFunc(days, func(b mayfly.LedgerBucket) bool { return !b.Token.IsRollUp() })
	if len(days) != 2*2 || !credentialTotals(t, days).equal(before) {
		t.Fatalf("after rolling up: %d buckets, totals %+v; want 4 buckets (2 credentials, 2 namespaces), totals %+v",
			len(days), credentialTotals(t, days), before)
	}
	for _, d := range days {
		want := []uint64{4}
		if d.Token.ClientID == "client-a" {
			want = []uint64{1, 2, 3, big}
		}
		if !d.Token.IsRollUp() || d.Width != 24*time.Hour || d.Token.KID != "kid-1" || d.Token.PrincipalID != "person-1" ||
			!slices.Equal(ids(t, d.Records), want) {
			t.Errorf("roll-up bucket %+v: want a roll-up of kid-1, person-1, a day wide, records %v", d, want)
		}
		if d.Token.ClientID == "client-a" && (d.Requests != 2 || len(d.Sources) != 2) {
			t.Errorf("client-a's %s roll-up: %d requests from %q, want 2 from its two tokens' sources", d.Namespace, d.Requests, d.Sources)
		}
	}
	for _, tt := range []struct {
		f    mayfly.LedgerFilter
		want int
	}{
		{mayfly.LedgerFilter{KID: "kid-1"}, 4 + 2},
		{mayfly.LedgerFilter{ClientID: "client-a"}, 2 + 2},
		{mayfly.LedgerFilter{Subject: "client-b", Namespace: "order"}, 1},
		{mayfly.LedgerFilter{PrincipalID: "person-2"}, 0},
		{mayfly.LedgerFilter{JTI: "jti-a1", Digest: "dg-jti-a1"}, 0}, // which issued token read what is gone
	} {
		if got := len(buckets(t, s, tt.f)); got != tt.want {
			t.Errorf("LedgerBuckets(%+v) after rolling up: %d buckets, want %d", tt.f, got, tt.want)
		}
	}
	// A token's report that comes late joins its credential's roll-up;
	// rolling a roll-up again keeps it its credential's.
	late := bucket("jti-a3", start.Add(5*time.Hour), time.Hour, "customer", 9)
	late.Token.KID, late.Token.ClientID, late.Token.PrincipalID, late.Token.Subject = "kid-1", "client-a", "person-1", "client-a"
	must(t, "MergeLedger", merge(t, s, late))
	compactBy(t, s, time.Hour, 24*time.Hour, start.Add(24*time.Hour), 1000, true)
	compactBy(t, s, 24*time.Hour, 48*time.Hour, start.Add(48*time.Hour), 1000, true)
	got := buckets(t, s, mayfly.LedgerFilter{ClientID: "client-a", Namespace: "customer", Digest: late.Token.RolledUp().Digest})
	if len(got) != 1 || got[0].Width != 48*time.Hour || got[0].Requests != 3 || !slices.Equal(ids(t, got[0].Records), []uint64{1, 2, 3, 9, big}) {
		t.Errorf("client-a's customer reads after a late report and a second roll-up: %+v; want one bucket of 2 days, 3 requests, records 1 2 3 9 big", got)
	}
}

// IssueTokens records the issuance of tokens jtis by kid to clients (in
// turn), each with digest "dg-" + jti, through the store's other
// contracts, for tests of what the ledger does with tokens Mayfly issued.
func IssueTokens(t *testing.T, s LedgerStore, now time.Time, kid string, clients []string, jtis ...string) {
	t.Helper()
	ts, ok := s.(interface {
		mayfly.TokenStore
		mayfly.IdentityStore
		mayfly.KeyStore
	})
	if !ok {
		t.Fatalf("%T keeps no issuance records", s)
	}
	must(t, "issuing", commit(t, s, func(tx mayfly.Tx) error {
		errs := []error{
			ts.CreateRing(tx, &mayfly.Ring{Name: "ring-" + kid, Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}),
			ts.SaveKeys(tx, []*mayfly.Key{{KID: kid, Ring: "ring-" + kid, Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: now,
				ActivateAt: now, DeactivateAt: now, RetireAt: now}}),
			ts.CreatePrincipal(tx, &mayfly.Principal{ID: "person-1", Name: "person-1", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: now}),
		}
		for _, c := range clients {
			errs = append(errs, ts.CreateClient(tx, &mayfly.Client{ID: c, Name: c, OwnerID: "person-1", Ring: "ring-" + kid, CreatedAt: now}))
		}
		recs := make([]mayfly.Issuance, len(jtis))
		for i, j := range jtis {
			recs[i] = mayfly.Issuance{JTI: j, Digest: "dg-" + j, KID: kid, ClientID: clients[i%len(clients)], PrincipalID: "person-1",
				SourceIP: "127.0.0.1", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
		}
		return errors.Join(append(errs, ts.RecordIssuances(tx, recs))...)
	}))
}

func testLedgerCompactInterrupted(t *testing.T, s LedgerStore) {
	start := t0.Truncate(time.Hour)
	must(t, "MergeLedger", merge(t, s, minutes(start)...))
	before := buckets(t, s, mayfly.LedgerFilter{})
	stop := errors.New("stopped")
	err := commit(t, s, func(tx mayfly.Tx) error {
		if n, err := s.CompactLedger(tx, time.Minute, time.Hour, start.Add(2*time.Hour), 1000, false); err != nil || n == 0 {
			return fmt.Errorf("CompactLedger rolled %d: %v", n, err)
		}
		return stop // as a crash would, before the commit
	})
	if !errors.Is(err, stop) {
		t.Fatalf("interrupted compaction: %v", err)
	}
	after := buckets(t, s, mayfly.LedgerFilter{})
	if len(after) != len(before) || !totalsOf(t, after).equal(totalsOf(t, before)) {
		t.Fatalf("after an interrupted compaction: %d buckets, want the %d there were", len(after), len(before))
	}
	compact(t, s, time.Minute, time.Hour, start.Add(2*time.Hour), 1000)
	if got := buckets(t, s, mayfly.LedgerFilter{}); len(got) != 3*2*2 || !totalsOf(t, got).equal(totalsOf(t, before)) {
		t.Errorf("compacting after the interruption: %d buckets, want 12 with the same totals", len(got))
	}
}

func testLedgerPrune(t *testing.T, s LedgerStore) {
	start := t0.Truncate(24 * time.Hour)
	must(t, "MergeLedger", merge(t, s,
		bucket("jti-1", start, 24*time.Hour, "customer", 1),
		bucket("jti-1", start.Add(23*time.Hour), time.Hour, "customer", 2),
		bucket("jti-1", start.Add(24*time.Hour-time.Minute), time.Minute, "customer", 3),
		bucket("jti-1", start.Add(24*time.Hour), time.Minute, "customer", 4),
	))
	must(t, "RecordLedgerGaps", commit(t, s, func(tx mayfly.Tx) error {
		return s.RecordLedgerGaps(tx, []*mayfly.LedgerGap{
			{Service: "orders", From: start, To: start.Add(24 * time.Hour), Dropped: 1},
			{Service: "orders", From: start, To: start.Add(24*time.Hour + time.Second), Dropped: 2},
		})
	}))
	// Everything ending at or before the end of the day goes.
	n, err := prune(t, s, start.Add(24*time.Hour))
	must(t, "PruneLedger", err)
	if n != 3 {
		t.Errorf("PruneLedger deleted %d buckets, want 3", n)
	}
	got := buckets(t, s, mayfly.LedgerFilter{})
	if len(got) != 1 || !slices.Equal(ids(t, got[0].Records), []uint64{4}) {
		t.Errorf("after PruneLedger: %d buckets, want only the one after the day", len(got))
	}
	gaps, err := s.LedgerGaps(t.Context(), time.Time{}, time.Time{})
	must(t, "LedgerGaps", err)
	if len(gaps) != 1 || gaps[0].Dropped != 2 {
		t.Errorf("after PruneLedger: gaps %+v, want only the one ending after the day", gaps)
	}
}

func testLedgerGaps(t *testing.T, s LedgerStore) {
	gaps := []*mayfly.LedgerGap{
		{Service: "orders", From: t0.Add(fine).In(zone), To: t0.Add(time.Minute + fine), Dropped: 12},
		{Service: "billing", From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour), Dropped: 1 << 40},
	}
	must(t, "RecordLedgerGaps", commit(t, s, func(tx mayfly.Tx) error { return s.RecordLedgerGaps(tx, gaps) }))
	if gaps[0].ID == 0 || gaps[1].ID == 0 || gaps[0].ID == gaps[1].ID {
		t.Errorf("IDs: got %d and %d, want two distinct", gaps[0].ID, gaps[1].ID)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []*mayfly.LedgerGap
	}{
		{"all", time.Time{}, time.Time{}, gaps},
		{"overlapping the first", t0.Add(time.Minute), t0.Add(time.Hour), gaps[:1]},
		{"between them", t0.Add(time.Minute + fine), t0.Add(time.Hour), nil},
		{"from the second", t0.Add(90 * time.Minute), time.Time{}, gaps[1:]},
	}
	for _, tt := range tests {
		got, err := s.LedgerGaps(t.Context(), tt.from, tt.to)
		must(t, "LedgerGaps", err)
		diffList(t, tt.name, got, tt.want, func(got, want *mayfly.LedgerGap) diff {
			var d diff
			if got.ID != want.ID || got.Dropped != want.Dropped {
				d.add("ID, Dropped", fmt.Sprint(got.ID, got.Dropped), fmt.Sprint(want.ID, want.Dropped))
			}
			d.eq("Service", got.Service, want.Service)
			d.time("From", got.From, want.From)
			d.time("To", got.To, want.To)
			return d
		})
	}
}

// Two handles.

// testLedgerConcurrentMerges: two handles merging into the same buckets at
// once lose no record and no count.
func testLedgerConcurrentMerges(t *testing.T, a, b LedgerStore) {
	start := t0.Truncate(time.Minute)
	const rounds, tokens = 15, 30 // 2 × 15 sources, within the bound
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for h, s := range []LedgerStore{a, b} {
		wg.Go(func() {
			for r := range rounds {
				var batch []mayfly.LedgerBucket
				for tok := range tokens {
					// Both handles write every bucket; each round adds IDs
					// of its own, from both ends of the ID space.
					id := uint64(h*rounds + r)
					d := bucket(fmt.Sprintf("jti-%02d", (tok+r)%tokens), start, time.Minute, "customer", id, big+id)
					d.Sources = []string{fmt.Sprintf("10.0.%d.%d", h, r)}
					batch = append(batch, d)
				}
				if err := merge(t, s, batch...); err != nil {
					errs[h] = err
					return
				}
			}
		})
	}
	wg.Wait()
	must(t, "merge", errors.Join(errs...))
	got := buckets(t, a, mayfly.LedgerFilter{})
	if len(got) != tokens {
		t.Fatalf("got %d buckets, want %d", len(got), tokens)
	}
	for _, g := range got {
		if n := len(ids(t, g.Records)); n != 2*2*rounds || g.Requests != 2*rounds || len(g.Sources) != 2*rounds {
			t.Errorf("%s: %d IDs, %d requests, %d sources; want %d, %d, %d", g.Token.JTI, n, g.Requests, len(g.Sources), 4*rounds, 2*rounds, 2*rounds)
		}
	}
}

// testLedgerConcurrentCompactions: two handles compacting at once, while a
// third stream of merges goes on, roll each bucket once.
func testLedgerConcurrentCompactions(t *testing.T, a, b LedgerStore) {
	start := t0.Truncate(time.Hour)
	must(t, "MergeLedger", merge(t, a, minutes(start)...))
	before := totalsOf(t, buckets(t, a, mayfly.LedgerFilter{}))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	rolled := make([]int, 2)
	for h, s := range []LedgerStore{a, b} {
		wg.Go(func() {
			for {
				var n int
				err := commit(t, s, func(tx mayfly.Tx) error {
					var err error
					n, err = s.CompactLedger(tx, time.Minute, time.Hour, start.Add(2*time.Hour), 50, false)
					return err
				})
				if err != nil {
					errs[h] = err
					return
				}
				if n == 0 {
					return
				}
				rolled[h] += n
			}
		})
	}
	wg.Wait()
	must(t, "compact", errors.Join(errs...))
	if got, want := rolled[0]+rolled[1], 120*3*2; got != want {
		t.Errorf("rolled %d + %d buckets, want %d in all", rolled[0], rolled[1], want)
	}
	got := buckets(t, a, mayfly.LedgerFilter{})
	if len(got) != 2*3*2 || !totalsOf(t, got).equal(before) {
		t.Errorf("after compacting on two handles: %d buckets, want 12 with the same totals", len(got))
	}
}

// testLedgerScan: ScanLedger streams what LedgerBuckets returns, in its
// order, and stops at fn's error; the lists and a reach select by the
// token's claims; LedgerServices lists the window's services.
func testLedgerScan(t *testing.T, s LedgerStore) {
	m := t0.Truncate(time.Hour)
	claim := func(b mayfly.LedgerBucket, kid, client, principal, sub string, services ...string) mayfly.LedgerBucket {
		b.Token.KID, b.Token.ClientID, b.Token.PrincipalID, b.Token.Subject, b.Services = kid, client, principal, sub, services
		return b
	}
	must(t, "MergeLedger", merge(t, s,
		claim(bucket("jti-1", m, time.Minute, "customer", 1), "k1", "c1", "p1", "", "api"),
		claim(bucket("jti-2", m, time.Minute, "order", 2), "k2", "c2", "p2", "customer:9", "billing"),
		claim(bucket("jti-3", m.Add(time.Minute), time.Minute, "customer", 3), "k1", "c3", "p3", "customer:9", "search"),
		claim(bucket("jti-4", m.Add(2*time.Hour), time.Minute, "customer", 4), "k3", "c4", "p1", "", "late"),
	))
	rec := func(f mayfly.LedgerFilter) []uint64 {
		var out []uint64
		err := s.ScanLedger(t.Context(), f, func(b *mayfly.LedgerBucket) error {
			out = append(out, ids(t, b.Records)...)
			return nil
		})
		if err != nil {
			t.Fatalf("ScanLedger(%+v): %v", f, err)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    mayfly.LedgerFilter
		want []uint64
	}{
		{"all", mayfly.LedgerFilter{}, []uint64{1, 2, 3, 4}},
		{"kids", mayfly.LedgerFilter{KIDs: []string{"k1", "k3"}}, []uint64{1, 3, 4}},
		{"clients and namespaces", mayfly.LedgerFilter{ClientIDs: []string{"c1", "c2", "c3"}, Namespaces: []string{"order", "nothing"}}, []uint64{2}},
		{"subjects", mayfly.LedgerFilter{Subjects: []string{"customer:9"}}, []uint64{2, 3}},
		{"reach", mayfly.LedgerFilter{Reach: &mayfly.LedgerReach{PrincipalIDs: []string{"p1"}, ClientIDs: []string{"c2"}}}, []uint64{1, 2, 4}},
		{"reach by key, in a window", mayfly.LedgerFilter{Reach: &mayfly.LedgerReach{KIDs: []string{"k1"}}, To: m.Add(time.Hour)}, []uint64{1, 3}},
		{"reach of nothing", mayfly.LedgerFilter{Reach: &mayfly.LedgerReach{}}, nil},
	} {
		if got := rec(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got records %v, want %v", tt.name, got, tt.want)
		}
		var want []uint64
		for _, b := range buckets(t, s, tt.f) {
			want = append(want, ids(t, b.Records)...)
		}
		if got := rec(tt.f); !slices.Equal(got, want) {
			t.Errorf("%s: ScanLedger %v, LedgerBuckets %v", tt.name, got, want)
		}
	}
	// Without records, then each bucket's records by its key.
	var got []uint64
	err := s.ScanLedger(t.Context(), mayfly.LedgerFilter{KIDs: []string{"k1"}, NoRecords: true}, func(b *mayfly.LedgerBucket) error {
		if b.Records != nil {
			t.Errorf("NoRecords: bucket %s has records", b.Token.JTI)
		}
		recs, err := s.LedgerRecords(t.Context(), b)
		if err != nil {
			return err
		}
		got = append(got, ids(t, recs)...)
		return nil
	})
	if err != nil || !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("ScanLedger without records, then LedgerRecords: %v %v, want 1 3", got, err)
	}
	missing := bucket("jti-none", m, time.Minute, "customer")
	if _, err := s.LedgerRecords(t.Context(), &missing); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("LedgerRecords of no bucket: %v, want NotFound", err)
	}
	stop := errors.New("enough")
	n := 0
	if err := s.ScanLedger(t.Context(), mayfly.LedgerFilter{}, func(*mayfly.LedgerBucket) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanLedger whose fn fails: %v after %d buckets, want fn's error after 1", err, n)
	}
	svcs, more, err := s.LedgerServices(t.Context(), m, m.Add(time.Hour))
	if err != nil || more || !slices.Equal(svcs, []string{"api", "billing", "search"}) {
		t.Errorf("LedgerServices of the first hour: %v %v %v, want api, billing, search", svcs, more, err)
	}
}
