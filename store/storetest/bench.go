package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// BenchRecordIssuances measures RecordIssuances of batch records at a
// time, each batch in a transaction of its own, on s, a new and empty
// store: the benchmark both backends run, so that their figures compare.
func BenchRecordIssuances(b *testing.B, s TokenStore, batch int) {
	ctx := context.Background()
	now := time.Now()
	err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
		return errors.Join(
			s.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}),
			s.SaveKeys(tx, []*mayfly.Key{{KID: "k", Ring: "r", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: now, ActivateAt: now, DeactivateAt: now, RetireAt: now}}),
			s.CreatePrincipal(tx, &mayfly.Principal{ID: "p", Name: "p", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: now}),
			s.CreateClient(tx, &mayfly.Client{ID: "c", Name: "c", OwnerID: "p", Ring: "r", CreatedAt: now}))
	})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]mayfly.Issuance, batch)
	record := func(tx mayfly.Tx) error { return s.RecordIssuances(tx, recs) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			recs[j] = mayfly.Issuance{JTI: fmt.Sprintf("jti-%d-%d", i, j), KID: "k", ClientID: "c", PrincipalID: "p",
				SourceIP: "127.0.0.1", UserAgent: "bench", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
		}
		if err := mayfly.Transact(ctx, s, record); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// BenchMergeLedger measures MergeLedger of batches of tokens deltas, each
// reading ids scattered record IDs, a batch to a transaction, on s, a new
// and empty store. With into, every batch merges into the buckets the
// first made (union and write back); otherwise each makes new buckets.
func BenchMergeLedger(b *testing.B, s LedgerStore, tokens, ids int, into bool) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]mayfly.LedgerBucket, tokens)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		at := start.Add(time.Duration(i) * time.Minute)
		if into {
			at = start
		}
		for j := range batch {
			rb := roaring64.New()
			for range ids {
				rb.Add(rng.Uint64N(1 << 36))
			}
			recs, _ := rb.ToPortableBytes()
			batch[j] = mayfly.LedgerBucket{Start: at, Width: time.Minute, Namespace: "customer", Records: recs, Requests: int64(ids),
				Token:    mayfly.LedgerToken{JTI: fmt.Sprintf("jti-%06d", j), Digest: fmt.Sprintf("digest-%016d", j), KID: "k", ClientID: "c"},
				Services: []string{"orders"}, Sources: []string{"10.0.0.1"}}
		}
		b.StartTimer()
		if err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return s.MergeLedger(tx, batch) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*tokens*ids)/b.Elapsed().Seconds(), "record-reads/s")
}

// LedgerWorkload returns an hour of ledger deltas holding reads
// record-reads, as services report them a minute at a time: tokens live 5
// minutes, 200 at a time, each from one of 50 clients; a request reads 1
// to 20 records of 10 million, most of them from a hot tenth (a Zipf-like
// skew); a token reads a few hundred records in its life.
func LedgerWorkload(reads int) [][]mayfly.LedgerBucket {
	rng := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rng, 1.1, 1, 10_000_000-1)
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	perMinute := reads / 60
	var out [][]mayfly.LedgerBucket
	for m := range 60 {
		at := start.Add(time.Duration(m) * time.Minute)
		byToken := map[int]*roaring64.Bitmap{}
		requests := map[int]int64{}
		for n := 0; n < perMinute; {
			// Tokens of this minute: 200 live, a fifth replaced each minute.
			tok := m/5*200 + rng.IntN(200)
			k := 1 + rng.IntN(20)
			if byToken[tok] == nil {
				byToken[tok] = roaring64.New()
			}
			for range k {
				id := zipf.Uint64()
				if rng.IntN(10) < 3 { // the rest are spread evenly
					id = rng.Uint64N(10_000_000)
				}
				byToken[tok].Add(id)
			}
			requests[tok]++
			n += k
		}
		var batch []mayfly.LedgerBucket
		for tok, rb := range byToken {
			recs, _ := rb.ToPortableBytes()
			batch = append(batch, mayfly.LedgerBucket{Start: at, Width: time.Minute, Namespace: "customer", Records: recs,
				Requests: requests[tok], Services: []string{"orders"}, Sources: []string{fmt.Sprintf("10.0.%d.%d", tok%50, tok%7)},
				Token: mayfly.LedgerToken{JTI: fmt.Sprintf("01jz%022d", tok), Digest: fmt.Sprintf("%022d", tok*7919),
					KID: "kid-2031-01", ClientID: fmt.Sprintf("cli-%02d", tok%50), PrincipalID: fmt.Sprintf("prn-%02d", tok%50), Subject: fmt.Sprintf("svc-%02d", tok%50)}})
		}
		out = append(out, batch)
	}
	return out
}

// LedgerScale is a day of ledger traffic of a given size and density, for
// measuring the ledger's size where it counts (a billion record-reads)
// rather than extrapolating from a small sample.
type LedgerScale struct {
	Reads   int64  // record-reads in the day
	Live    int    // tokens live at once; each lives 5 minutes
	Records uint64 // records in the one namespace
	Clients int    // clients the tokens belong to
}

// Issue records the issuance of every token of the workload in s, as
// Mayfly would have, so that they roll up by credential.
func (w LedgerScale) Issue(ctx context.Context, s TokenStore) error {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
		errs := []error{
			s.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}),
			s.SaveKeys(tx, []*mayfly.Key{{KID: "kid-2031-01", Ring: "r", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: now,
				ActivateAt: now, DeactivateAt: now, RetireAt: now}}),
		}
		for c := range w.Clients {
			p := fmt.Sprintf("prn-%04d", c)
			errs = append(errs, s.CreatePrincipal(tx, &mayfly.Principal{ID: p, Name: p, Kind: mayfly.Service, Status: mayfly.Active, CreatedAt: now}),
				s.CreateClient(tx, &mayfly.Client{ID: fmt.Sprintf("cli-%04d", c), Name: fmt.Sprintf("cli-%04d", c), OwnerID: p, Ring: "r", CreatedAt: now}))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return err
	}
	tokens := int(24*time.Hour/time.Minute) / 5 * w.Live
	for lo := 0; lo < tokens; lo += 10_000 {
		recs := make([]mayfly.Issuance, 0, 10_000)
		for tok := lo; tok < min(lo+10_000, tokens); tok++ {
			t := w.token(tok)
			recs = append(recs, mayfly.Issuance{JTI: t.JTI, Digest: t.Digest, KID: t.KID, ClientID: t.ClientID, PrincipalID: t.PrincipalID,
				SourceIP: "10.0.0.1", IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
		}
		if err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return s.RecordIssuances(tx, recs) }); err != nil {
			return err
		}
	}
	return nil
}

func (w LedgerScale) token(tok int) mayfly.LedgerToken {
	c := tok % w.Clients
	return mayfly.LedgerToken{JTI: fmt.Sprintf("01jz%022d", tok), Digest: fmt.Sprintf("%022d", tok*7919),
		KID: "kid-2031-01", ClientID: fmt.Sprintf("cli-%04d", c), PrincipalID: fmt.Sprintf("prn-%04d", c), Subject: fmt.Sprintf("svc-%04d", c)}
}

// Buckets calls fn with the workload's deltas in buckets of width (a
// divisor of a day, at least a minute), one call per bucket time, in
// order, as the ingest would have merged them. A request reads 1 to 20
// records, 70% of them drawn from a Zipf distribution (s = 1.1) over the
// records, the rest evenly; it names one of the tokens then live.
func (w LedgerScale) Buckets(width time.Duration, fn func([]mayfly.LedgerBucket) error) error {
	rng := rand.New(rand.NewPCG(5, 6))
	zipf := rand.NewZipf(rng, 1.1, 1, w.Records-1)
	// Zipf draws cost ~100 ns each: a billion of them come from a table
	// of 2^24, picked evenly, whose values follow the same law.
	hot := make([]uint64, 1<<24)
	for i := range hot {
		hot[i] = zipf.Uint64()
	}
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	minutes := int(24 * time.Hour / time.Minute)
	perMinute := w.Reads / int64(minutes)
	per := int(width / time.Minute)
	byToken := map[int][]uint64{}
	requests := map[int]int64{}
	for m := range minutes {
		for n := int64(0); n < perMinute; {
			// The tokens of this minute: Live at once, a fifth replaced
			// each minute.
			tok := m/5*w.Live + rng.IntN(w.Live)
			k := 1 + rng.IntN(20)
			ids := byToken[tok]
			for range k {
				id := hot[rng.IntN(len(hot))]
				if rng.IntN(10) < 3 {
					id = rng.Uint64N(w.Records)
				}
				ids = append(ids, id)
			}
			byToken[tok] = ids
			requests[tok]++
			n += int64(k)
		}
		if (m+1)%per != 0 {
			continue
		}
		at := start.Add(time.Duration(m+1-per) * time.Minute)
		batch := make([]mayfly.LedgerBucket, 0, len(byToken))
		for tok, ids := range byToken {
			slices.Sort(ids)
			c := w.Clients
			batch = append(batch, mayfly.LedgerBucket{Start: at, Width: width, Namespace: "customer", Records: recordset.Encode(slices.Compact(ids)),
				Requests: requests[tok], Services: []string{fmt.Sprintf("svc-%02d", tok%c%20)}, Sources: []string{fmt.Sprintf("10.0.%d.%d", tok%c, tok%7)},
				Token: w.token(tok)})
		}
		clear(byToken)
		clear(requests)
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}
