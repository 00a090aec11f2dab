package sqlite

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/storetest"
)

func BenchmarkRecordIssuances(b *testing.B) {
	for _, batch := range []int{1, 8, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchRecordIssuances(b, s, batch)
		})
	}
}

// BenchmarkMergeLedger: batches of 1,000 tokens × 10 record IDs, into new
// buckets and into buckets that hold some already.
func BenchmarkMergeLedger(b *testing.B) {
	for _, into := range []bool{false, true} {
		b.Run(fmt.Sprintf("tokens=1000/ids=10/into=%v", into), func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchMergeLedger(b, s, 1000, 10, into)
		})
	}
}

// BenchmarkLedgerSize stores an hour of a realistic workload of a million
// record-reads (storetest.LedgerWorkload) in minute buckets, then rolls
// them into hours, and reports the database's pages in use per million
// record-reads after each. Run it with -benchtime=1x: the figure is a
// size, not a time.
func BenchmarkLedgerSize(b *testing.B) {
	const reads = 1_000_000
	work := storetest.LedgerWorkload(reads)
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "size.db")
		s, err := Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		base := pagesInUse(b, s)
		buckets := 0
		for _, batch := range work {
			buckets += len(batch)
			if err := mayfly.Transact(context.Background(), s, func(tx mayfly.Tx) error { return s.MergeLedger(tx, batch) }); err != nil {
				b.Fatal(err)
			}
		}
		minutes := pagesInUse(b, s) - base
		err = mayfly.Transact(context.Background(), s, func(tx mayfly.Tx) error {
			_, err := s.CompactLedger(tx, time.Minute, time.Hour, time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC), buckets, false)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		hours := pagesInUse(b, s) - base
		var records int64
		if err := s.w.QueryRow(`SELECT sum(length(records)) FROM ledger_buckets`).Scan(&records); err != nil {
			b.Fatal(err)
		}
		s.Close()
		b.ReportMetric(float64(records)/reads*1e6, "bitmap-bytes/M-reads(hours)")
		b.ReportMetric(float64(buckets), "minute-buckets")
		b.ReportMetric(float64(minutes)/reads*1e6, "bytes/M-reads(minutes)")
		b.ReportMetric(float64(hours)/reads*1e6, "bytes/M-reads(hours)")
	}
}

// pagesInUse is the bytes of the database's pages, vacuumed so that pages
// half emptied by compaction do not count.
func pagesInUse(b *testing.B, s *Store) int64 {
	b.Helper()
	var pages, free, size int64
	if _, err := s.w.Exec(`VACUUM`); err != nil {
		b.Fatal(err)
	}
	for q, v := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA freelist_count`: &free, `PRAGMA page_size`: &size} {
		if err := s.w.QueryRow(q).Scan(v); err != nil {
			b.Fatal(err)
		}
	}
	return (pages - free) * size
}

var ledgerReads = flag.Int64("ledger.reads", 1_000_000_000, "record-reads of BenchmarkLedgerBillion's day")

// BenchmarkLedgerBillion stores a day of a billion record-reads
// (storetest.LedgerScale; -ledger.reads to change it) as the ingest merges
// them, compacts the buckets to hours, then to days, and reports the
// database's size per billion record-reads after each, vacuumed. Each
// workload takes minutes: run it alone, with -benchtime=1x.
func BenchmarkLedgerBillion(b *testing.B) {
	for _, c := range []struct {
		name  string
		w     storetest.LedgerScale
		width time.Duration // what the ingest merged into
	}{
		// A few busy services' tokens: 200 live, each reading ~17,000
		// records of a million customers in its 5 minutes.
		{"live=200/records=1M", storetest.LedgerScale{Live: 200, Records: 1_000_000, Clients: 20}, time.Minute},
		// Many clients: 2,000 live tokens, ~1,700 reads each, of 10
		// million records. This one and the next are merged into hours
		// directly, which ends in the same hour buckets as minutes
		// compacted would (their minute buckets, 2.9 and 29 million
		// rows, take too long to compact here).
		{"live=2000/records=10M", storetest.LedgerScale{Live: 2_000, Records: 10_000_000, Clients: 500}, time.Hour},
		// Sparse: 20,000 live tokens, ~170 reads each, of 10 million
		// records.
		{"live=20000/records=10M", storetest.LedgerScale{Live: 20_000, Records: 10_000_000, Clients: 2_000}, time.Hour},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.w.Reads = *ledgerReads
			for range b.N {
				ledgerBillion(b, c.w, c.width)
			}
		})
	}
}

func ledgerBillion(b *testing.B, w storetest.LedgerScale, width time.Duration) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "size.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := w.Issue(ctx, s); err != nil {
		b.Fatal(err)
	}
	base := pagesInUse(b, s)
	per := func(bytes int64) float64 { return float64(bytes) / float64(w.Reads) * 1e9 / (1 << 20) }
	buckets := 0
	err = w.Buckets(width, func(batch []mayfly.LedgerBucket) error {
		buckets += len(batch)
		for len(batch) > 0 {
			n := min(len(batch), 4096)
			if err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return s.MergeLedger(tx, batch[:n]) }); err != nil {
				return err
			}
			batch = batch[n:]
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(buckets), "buckets")
	b.ReportMetric(per(pagesInUse(b, s)-base), "MiB/G-reads(merged)")
	for _, to := range []time.Duration{time.Hour, 24 * time.Hour} {
		if to <= width {
			continue
		}
		from := width
		if to == 24*time.Hour {
			from = time.Hour
		}
		for {
			var n int
			err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) (err error) {
				n, err = s.CompactLedger(tx, from, to, time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC), 10_000, to == 24*time.Hour)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		var records int64
		if err := s.w.QueryRow(`SELECT sum(length(records)) FROM ledger_buckets`).Scan(&records); err != nil {
			b.Fatal(err)
		}
		name := "hours"
		if to == 24*time.Hour {
			name = "days"
		}
		b.ReportMetric(per(pagesInUse(b, s)-base), "MiB/G-reads("+name+")")
		b.ReportMetric(per(records), "bitmap-MiB/G-reads("+name+")")
	}
}

// BenchmarkReadPrincipal: one read outside a transaction, as the admin
// API's lookups are, on the pool of readers.
func BenchmarkReadPrincipal(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := &mayfly.Principal{ID: "prn_a", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: time.Unix(1, 0)}
	if err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return s.CreatePrincipal(tx, p) }); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Principal(ctx, "prn_a"); err != nil {
			b.Fatal(err)
		}
	}
}
