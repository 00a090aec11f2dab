package sqlite

import (
	"context"
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
			_, err := s.CompactLedger(tx, time.Minute, time.Hour, time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC), buckets)
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
