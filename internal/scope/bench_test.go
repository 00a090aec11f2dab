package scope_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/internal/scope"
)

// The scope benchmark's ledger: days of day buckets (the shape the ledger
// keeps past two days: each a credential's reads of a day), written
// through the store's MergeLedger, over a universe of record IDs.
// Environment:
//
//	MAYFLY_SCOPE_BENCH_DIR    where the ledger is kept between runs (default: a temp dir)
//	MAYFLY_SCOPE_BENCH_READS  record-reads in all (default 20,000,000)
//	MAYFLY_SCOPE_BENCH_IDS    the universe of record IDs (default 100,000,000)
//	MAYFLY_SCOPE_BENCH_TOKENS tokens (default 100,000), 100 to a credential
//	MAYFLY_SCOPE_BENCH_DAYS   days (default 90)
//	MAYFLY_SCOPE_BENCH_UNIONS 0 answers from the buckets alone, hiding the
//	                          day unions the ledger's maintenance makes
//	                          once the ledger is generated (default 1)
type benchLedger struct {
	reads, ids, tokens, days int
	creds                    int
	start                    time.Time
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Each credential is one client's tokens under one key: client c, key
// c%10, principal c%50 (a service owned by person c%50 % 5), from
// 10.(c/256).(c%256).0/24; foreign reads come from 203.0.113.0/24.
func (l benchLedger) token(c int) mayfly.LedgerToken {
	t := mayfly.LedgerToken{KID: fmt.Sprintf("kid-%d", c%10), ClientID: fmt.Sprintf("cl-%d", c), PrincipalID: fmt.Sprintf("svc-%d", c%50)}
	return t.RolledUp()
}

func openBench(b *testing.B) (mayfly.Store, benchLedger) {
	l := benchLedger{reads: envInt("MAYFLY_SCOPE_BENCH_READS", 20_000_000), ids: envInt("MAYFLY_SCOPE_BENCH_IDS", 100_000_000),
		tokens: envInt("MAYFLY_SCOPE_BENCH_TOKENS", 100_000), days: envInt("MAYFLY_SCOPE_BENCH_DAYS", 90),
		start: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.creds = max(l.tokens/100, 1)
	dir := os.Getenv("MAYFLY_SCOPE_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	dir = filepath.Join(dir, fmt.Sprintf("r%d-i%d-t%d-d%d", l.reads, l.ids, l.tokens, l.days))
	fresh := false
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o700)
		fresh = true
	}
	st, _, err := app.OpenStore(context.Background(), filepath.Join(dir, "mayfly.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if fresh {
		began := time.Now()
		l.generate(b, st)
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o600)
		b.Logf("generated %d record-reads over %d IDs, %d tokens (%d credentials), %d days in %v", l.reads, l.ids, l.tokens, l.creds, l.days, time.Since(began))
	}
	size := func() float64 {
		var size int64
		filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
			if fi != nil && !fi.IsDir() {
				size += fi.Size()
			}
			return nil
		})
		return float64(size) / (1 << 20)
	}
	b.Logf("ledger on disk: %.1f MiB in %s", size(), dir)
	if _, err := os.Stat(filepath.Join(dir, "united")); err != nil {
		// The ledger's own maintenance, as it runs two days after the
		// last day ends.
		began := time.Now()
		end := l.start.Add(time.Duration(l.days+2) * 24 * time.Hour)
		lg, err := ledger.New(ledger.Config{Store: st, Clock: apptest.NewClock(end)})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := lg.Maintain(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "united"), nil, 0o600)
		b.Logf("day unions made for %d days in %v; ledger on disk: %.1f MiB", rep.United, time.Since(began), size())
	}
	return st, l
}

// bucketsOnly hides the day unions: a store whose maintenance made none.
type bucketsOnly struct{ mayfly.Store }

func (bucketsOnly) LedgerUnionDays(context.Context, time.Time, time.Time) ([]time.Time, error) {
	return nil, nil
}

// generate writes the ledger: each day, each credential reads its share
// of the day's record-reads, scattered over the universe, as one day
// bucket merged through the store.
func (l benchLedger) generate(b *testing.B, st mayfly.Store) {
	ctx := context.Background()
	err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error {
		if err := st.CreateRing(tx, &mayfly.Ring{Name: "bench", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: l.start}); err != nil {
			return err
		}
		for k := range 10 {
			if err := st.SaveKeys(tx, []*mayfly.Key{{KID: fmt.Sprintf("kid-%d", k), Ring: "bench", Alg: mayfly.ES256, Public: []byte{1},
				CreatedAt: l.start, ActivateAt: l.start, DeactivateAt: l.start, RetireAt: l.start}}); err != nil {
				return err
			}
		}
		for p := range 5 {
			if err := st.CreatePrincipal(tx, &mayfly.Principal{ID: fmt.Sprintf("person-%d", p), Name: fmt.Sprintf("person-%d", p), Kind: mayfly.Human,
				Status: mayfly.Active, CreatedAt: l.start}); err != nil {
				return err
			}
		}
		for s := range 50 {
			if err := st.CreatePrincipal(tx, &mayfly.Principal{ID: fmt.Sprintf("svc-%d", s), Name: fmt.Sprintf("svc-%d", s), Kind: mayfly.Service,
				OwnerID: fmt.Sprintf("person-%d", s%5), Status: mayfly.Active, CreatedAt: l.start}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	perBucket := max(l.reads/(l.days*l.creds), 1)
	for d := range l.days {
		day := l.start.Add(time.Duration(d) * 24 * time.Hour)
		var deltas []mayfly.LedgerBucket
		flush := func() {
			if err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error { return st.MergeLedger(tx, deltas) }); err != nil {
				b.Fatal(err)
			}
			deltas = deltas[:0]
		}
		for c := range l.creds {
			rb := roaring64.New()
			ids := make([]uint64, perBucket)
			for i := range ids {
				ids[i] = r.Uint64N(uint64(l.ids))
			}
			rb.AddMany(ids)
			recs := scope.Encode(rb)
			src := fmt.Sprintf("10.%d.%d.%d", c/256%256, c%256, 1+r.IntN(8))
			if c%97 == 0 && d >= l.days/2 {
				src = fmt.Sprintf("203.0.113.%d", 1+r.IntN(250))
			}
			deltas = append(deltas, mayfly.LedgerBucket{Start: day, Width: 24 * time.Hour, Token: l.token(c), Namespace: "customer",
				Records: recs, Requests: int64(perBucket / 3), Services: []string{fmt.Sprintf("svc-%d", (c+1)%50)}, Sources: []string{src}})
			if len(deltas) == 256 {
				flush()
			}
		}
		if len(deltas) > 0 {
			flush()
		}
	}
}

// BenchmarkScope times single-filter scopes on the bench ledger: a key,
// a principal, a service, a source /24, and the whole 90-day window; each reports
// the distinct records it counted. The first iteration of each is the
// store's first read of the ledger in this process.
func BenchmarkScope(b *testing.B) {
	st, l := openBench(b)
	var from scope.Store = st
	if os.Getenv("MAYFLY_SCOPE_BENCH_UNIONS") == "0" {
		from = bucketsOnly{st}
	}
	s := scope.New(scope.Config{Store: from})
	for _, c := range []struct {
		name string
		q    mayfly.ScopeQuery
	}{
		{"kid", mayfly.ScopeQuery{KIDs: []string{"kid-3"}}},
		{"principal", mayfly.ScopeQuery{Principals: []string{"person-2"}}},
		{"service", mayfly.ScopeQuery{Services: []string{"svc-3"}}},
		{"source24", mayfly.ScopeQuery{Sources: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}},
		{"window", mayfly.ScopeQuery{From: l.start, To: l.start.Add(time.Duration(l.days) * 24 * time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var recs uint64
			first := time.Duration(0)
			for i := 0; b.Loop(); i++ {
				began := time.Now()
				a, err := s.Run(context.Background(), c.q)
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					first = time.Since(began)
				}
				recs = a.Namespaces[0].Records
			}
			b.ReportMetric(float64(recs), "records")
			b.ReportMetric(first.Seconds(), "first-s")
		})
	}
}
