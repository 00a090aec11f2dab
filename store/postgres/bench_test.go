package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/mayflyhq/mayfly/store/storetest"
)

func BenchmarkRecordIssuances(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			storetest.BenchRecordIssuances(b, open(b, pgtest.DSN(b)), batch)
		})
	}
}

func BenchmarkMergeLedger(b *testing.B) {
	for _, into := range []bool{false, true} {
		b.Run(fmt.Sprintf("tokens=1000/ids=10/into=%v", into), func(b *testing.B) {
			storetest.BenchMergeLedger(b, open(b, pgtest.DSN(b)), 1000, 10, into)
		})
	}
}

// BenchmarkLedgerBillion is store/sqlite's on PostgreSQL, for its densest
// workload: a day of a billion record-reads by 200 live tokens of a
// million records, merged into minutes, then compacted to hours, then to
// days by credential; the
// table's size with its indexes and TOAST, after VACUUM FULL.
func BenchmarkLedgerBillion(b *testing.B) {
	ctx := context.Background()
	w := storetest.LedgerScale{Reads: 1_000_000_000, Live: 200, Records: 1_000_000, Clients: 20}
	for range b.N {
		dsn := pgtest.DSN(b)
		s := open(b, dsn)
		if err := w.Issue(ctx, s); err != nil {
			b.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		size := func() float64 {
			var n int64
			if _, err := conn.Exec(ctx, `VACUUM FULL ledger_buckets`); err != nil {
				b.Fatal(err)
			}
			if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('ledger_buckets')`).Scan(&n); err != nil {
				b.Fatal(err)
			}
			return float64(n) / float64(w.Reads) * 1e9 / (1 << 20)
		}
		err = w.Buckets(time.Minute, func(batch []mayfly.LedgerBucket) error {
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
		b.ReportMetric(size(), "MiB/G-reads(merged)")
		for {
			var n int
			err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) (err error) {
				n, err = s.CompactLedger(tx, time.Minute, time.Hour, time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC), 10_000, false)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		b.ReportMetric(size(), "MiB/G-reads(hours)")
		for {
			var n int
			err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) (err error) {
				n, err = s.CompactLedger(tx, time.Hour, 24*time.Hour, time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC), 10_000, true)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		b.ReportMetric(size(), "MiB/G-reads(days)")
		conn.Close(ctx)
	}
}
