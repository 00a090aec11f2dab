package ledger_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
)

// decode decodes a bucket's records as the stores do: all bytes used, the
// bitmap valid.
func decode(t testing.TB, b []byte) []uint64 {
	t.Helper()
	if len(b) == 0 {
		return nil
	}
	rb := roaring64.New()
	r := bytes.NewReader(b)
	if _, err := rb.ReadPortableFrom(r); err != nil || r.Len() != 0 || rb.Validate() != nil {
		t.Fatalf("records do not decode: %v, %d bytes left", err, r.Len())
	}
	return rb.ToArray()
}

func TestLedgerDeltas(t *testing.T) {
	t0 := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	var in strings.Builder
	line := func(sec int, service, ip, jti, rest string) {
		fmt.Fprintf(&in, `{"time":%q,"service":%q,"source_ip":%q,"jti":%q,"digest":"AAAAAAAAAAAAAAAAAAAAAA","kid":"k","sub":"svc"%s}`+"\n",
			t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339Nano), service, ip, jti, rest)
	}
	line(0, "billing", "10.0.0.1", "j1", `,"records":{"customer":[0,4294967296],"order":[7]}`)
	line(30, "billing", "10.0.0.2", "j1", `,"records":{"customer":[18446744073709551615,0]}`)
	line(59, "crm", "10.0.0.1", "j1", ``)
	line(59, "crm", "10.0.0.1", "j1", `,"refused":true`)
	line(60, "billing", "10.0.0.1", "j1", `,"records":{"customer":[5]}`) // the next minute
	line(1, "billing", "10.0.0.1", "j2", `,"records":{"customer":[5]}`)  // another token
	for i := range 20 {                                                  // bounded services and sources
		line(2, fmt.Sprintf("svc-%02d", i), fmt.Sprintf("10.0.1.%d", i), "j3", `,"records":{"a":[`+fmt.Sprint(i)+`]}`)
	}
	reps, err := ledger.ParseReports(strings.NewReader(in.String()), ledger.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.Deltas(reps, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	type bucket struct {
		start              time.Time
		jti, ns            string
		ids                []uint64
		requests, refusals int64
		services, sources  []string
	}
	var gotB []bucket
	var ids, requests int
	for _, b := range got {
		if b.Width != time.Minute || b.Token.Digest != "AAAAAAAAAAAAAAAAAAAAAA" || b.Token.KID != "k" || b.Token.Subject != "svc" {
			t.Errorf("bucket %s/%s: width %v token %+v", b.Token.JTI, b.Namespace, b.Width, b.Token)
		}
		if b.Token.JTI == "j3" {
			if len(b.Services) != mayfly.LedgerMaxServices || !b.ServicesMore || b.Services[0] != "svc-00" || len(b.Sources) != 20 || b.SourcesMore {
				t.Errorf("j3: services %v (more %v), sources %d (more %v); want the least 16 and more, all 20", b.Services, b.ServicesMore, len(b.Sources), b.SourcesMore)
			}
			ids += len(decode(t, b.Records))
			requests += int(b.Requests)
			continue
		}
		gotB = append(gotB, bucket{b.Start, b.Token.JTI, b.Namespace, decode(t, b.Records), b.Requests, b.Refusals, b.Services, b.Sources})
	}
	if ids != 20 || requests != 20 {
		t.Errorf("j3: %d IDs, %d requests; want 20 and 20", ids, requests)
	}
	t1 := t0.Add(time.Minute)
	want := []bucket{
		{t0, "j1", "", nil, 1, 1, []string{"crm"}, []string{"10.0.0.1"}},
		{t0, "j1", "customer", []uint64{0, 1 << 32, math.MaxUint64}, 2, 0, []string{"billing"}, []string{"10.0.0.1", "10.0.0.2"}},
		{t0, "j1", "order", []uint64{7}, 1, 0, []string{"billing"}, []string{"10.0.0.1"}},
		{t0, "j2", "customer", []uint64{5}, 1, 0, []string{"billing"}, []string{"10.0.0.1"}},
		{t1, "j1", "customer", []uint64{5}, 1, 0, []string{"billing"}, []string{"10.0.0.1"}},
	}
	slices.SortFunc(gotB, func(a, b bucket) int {
		return strings.Compare(fmt.Sprint(a.start.Unix(), a.jti, a.ns), fmt.Sprint(b.start.Unix(), b.jti, b.ns))
	})
	if !reflect.DeepEqual(gotB, want) {
		t.Errorf("got  %+v\nwant %+v", gotB, want)
	}
	// In key order, as stores lock them.
	if !slices.IsSortedFunc(got, func(a, b mayfly.LedgerBucket) int { return mayfly.CompareLedgerBuckets(&a, &b) }) {
		t.Error("deltas are not in key order")
	}
	// Any order of the same reports gives the same deltas.
	for range 5 {
		shuffled := slices.Clone(reps)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := ledger.Deltas(shuffled, time.Minute)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("shuffled reports give other deltas (%v)", err)
		}
	}
	// A store takes them, and holds what they say.
	st := openStore(t)
	if err := mayfly.Transact(t.Context(), st, func(tx mayfly.Tx) error { return st.MergeLedger(tx, got) }); err != nil {
		t.Fatal(err)
	}
	stored, err := st.LedgerBuckets(t.Context(), mayfly.LedgerFilter{JTI: "j1", Namespace: "customer"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || !slices.Equal(decode(t, stored[0].Records), []uint64{0, 1 << 32, math.MaxUint64}) || stored[0].Requests != 2 {
		t.Errorf("stored %+v", stored)
	}
}

func TestLedgerDeltasWidth(t *testing.T) {
	for _, w := range []time.Duration{0, -time.Minute, time.Second / 2, mayfly.LedgerMaxWidth + time.Second} {
		if _, err := ledger.Deltas(nil, w); mayfly.ErrorCode(err) != mayfly.Invalid {
			t.Errorf("width %v: got %v, want an Invalid error", w, err)
		}
	}
	reps, err := ledger.ParseReports(strings.NewReader(good), ledger.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.Deltas(reps, time.Hour)
	if err != nil || len(got) != 1 || !got[0].Start.Equal(time.Date(2031, 5, 6, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v, %v; want one bucket from 07:00", got, err)
	}
}

// FuzzLedgerParseReports: the parser never panics, a batch it accepts
// always maps to valid deltas, and no error shows the token.
func FuzzLedgerParseReports(f *testing.F) {
	f.Add([]byte(good + "\n" + goodToken + "\n"))
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzLedgerParseReports/*")
	if len(seeds) == 0 {
		f.Fatal("no seed corpus in testdata/fuzz/FuzzLedgerParseReports")
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		reps, err := ledger.ParseReports(bytes.NewReader(in), ledger.Limits{Line: 4 << 10, Records: 1000})
		if err != nil {
			if reps != nil {
				t.Fatalf("%d reports with error %v", len(reps), err)
			}
			if mayfly.ErrorCode(err) != mayfly.Invalid {
				t.Fatalf("error %v is not Invalid", err)
			}
			if bytes.Contains(in, []byte(secretToken)) && leaks(err.Error()) {
				t.Fatalf("error %q shows the token", err)
			}
			return
		}
		if again, err := ledger.ParseReports(bytes.NewReader(in), ledger.Limits{Line: 4 << 10, Records: 1000}); err != nil || !reflect.DeepEqual(again, reps) {
			t.Fatalf("accepted once, then %v", err)
		}
		ds, err := ledger.Deltas(reps, time.Minute)
		if err != nil {
			t.Fatalf("accepted reports do not map: %v", err)
		}
		n := 0
		for _, d := range ds {
			n += int(d.Requests + d.Refusals)
			decode(t, d.Records)
		}
		if n < len(reps) {
			t.Fatalf("%d reports counted %d times", len(reps), n)
		}
	})
}

// TestLedgerFuzzSeeds keeps the seed corpus parseable as the fuzzer's.
func TestLedgerFuzzSeeds(t *testing.T) {
	seeds, err := filepath.Glob("testdata/fuzz/FuzzLedgerParseReports/*")
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil || !bytes.HasPrefix(b, []byte("go test fuzz v1\n")) {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// BenchmarkLedgerReports parses and maps a batch of 10,000 reports of 10
// scattered IDs each, from 1,000 tokens.
func BenchmarkLedgerReports(b *testing.B) {
	var in bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	for i := range 10_000 {
		ids := make([]string, 10)
		for j := range ids {
			ids[j] = fmt.Sprint(rng.Uint64N(1 << 36))
		}
		fmt.Fprintf(&in, `{"time":%q,"service":"billing","source_ip":"10.0.%d.%d","method":"GET","route":"/customers/{id}","jti":"01jz%022d","digest":"AAAAAAAAAAAAAAAAAAAAAA","kid":"k1","client_id":"cli","sub":"svc","iat":1900000000,"exp":1900000900,"records":{"customer":[%s]}}`+"\n",
			t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i/256%256, i%256, i%1000, strings.Join(ids, ","))
	}
	b.SetBytes(int64(in.Len()))
	b.ReportAllocs()
	for b.Loop() {
		reps, err := ledger.ParseReports(bytes.NewReader(in.Bytes()), ledger.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ledger.Deltas(reps, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/batch")
}

// Deltas takes IDs in any order, and leaves the reports' own as they are.
func TestLedgerDeltasIDs(t *testing.T) {
	t0 := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	a, b, c := []uint64{5, 3, 5}, []uint64{9, 10}, []uint64{1, 2}
	rep := func(ids []uint64) mayfly.LedgerReport {
		return mayfly.LedgerReport{Time: t0, Service: "s", SourceIP: netip.MustParseAddr("10.0.0.1"), JTI: "j", Records: map[string][]uint64{"a": ids}}
	}
	for _, tt := range []struct {
		name string
		in   [][]uint64
		want []uint64
	}{
		{"unsorted", [][]uint64{a}, []uint64{3, 5}},
		{"sorted, then unsorted", [][]uint64{b, a}, []uint64{3, 5, 9, 10}},
		{"sorted, in order", [][]uint64{c, b}, []uint64{1, 2, 9, 10}},
		{"sorted, out of order", [][]uint64{b, c}, []uint64{1, 2, 9, 10}},
		{"sorted, overlapping, odd count", [][]uint64{{4, 8}, {1, 8, 20}, {2, 3}, {}, {3, 9}}, []uint64{1, 2, 3, 4, 8, 9, 20}},
		{"sorted, overlapping, even count", [][]uint64{{7}, {1, 7}, {0, 9}, {7, 8}}, []uint64{0, 1, 7, 8, 9}},
		{"sorted, then unsorted, then sorted", [][]uint64{{4, 8}, {2, 1}, {0, 9}}, []uint64{0, 1, 2, 4, 8, 9}},
	} {
		var reps []mayfly.LedgerReport
		for _, ids := range tt.in {
			reps = append(reps, rep(ids))
		}
		got, err := ledger.Deltas(reps, time.Minute)
		if err != nil || len(got) != 1 || !slices.Equal(decode(t, got[0].Records), tt.want) || got[0].Requests != int64(len(tt.in)) {
			t.Errorf("%s: got %+v, %v; want one bucket of %v", tt.name, got, err, tt.want)
		}
	}
	if !slices.Equal(a, []uint64{5, 3, 5}) || !slices.Equal(b, []uint64{9, 10}) || !slices.Equal(c, []uint64{1, 2}) {
		t.Errorf("the reports' IDs changed: %v %v %v", a, b, c)
	}
}

// TestLedgerDeltasRuns merges many reports of one bucket, each sorted,
// as a sort of all their IDs would.
func TestLedgerDeltasRuns(t *testing.T) {
	t0 := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2, 3, 7, 64, 65} {
		var reps []mayfly.LedgerReport
		var all []uint64
		for range n {
			ids := make([]uint64, rng.IntN(50))
			for i := range ids {
				ids[i] = rng.Uint64N(500)
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			all = append(all, ids...)
			reps = append(reps, mayfly.LedgerReport{Time: t0, Service: "s", SourceIP: netip.MustParseAddr("10.0.0.1"), JTI: "j", Records: map[string][]uint64{"a": ids}})
		}
		slices.Sort(all)
		all = slices.Compact(all)
		got, err := ledger.Deltas(reps, time.Minute)
		if err != nil || len(got) != 1 || !slices.Equal(decode(t, got[0].Records), all) {
			t.Errorf("%d reports: got %+v, %v; want one bucket of %v", n, got, err, all)
		}
	}
}
