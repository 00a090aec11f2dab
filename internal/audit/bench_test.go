package audit_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
)

// benchFixture opens a log on SQLite, or on PostgreSQL with
// MAYFLY_TEST_STORE=postgres.
func benchFixture(b *testing.B) *fixture {
	root := make([]byte, 32)
	rand.Read(root)
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		return openStore(b, apptest.OpenStore(b, b.TempDir()), "", root)
	}
	return openB(b, filepath.Join(b.TempDir(), "audit.db"), root)
}

// BenchmarkAppend: durable appends from many concurrent writers, which
// share writes (group commit).
func BenchmarkAppend(b *testing.B) {
	f := benchFixture(b)
	e := mayfly.AuditEntry{Action: "bench.append", Principal: "prn_benchbenchbench0", Client: "mfc_benchbenchbench0", Details: map[string]string{"reason": "benchmark"}}
	b.SetParallelism(128) // 256 writers on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.log.Append(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendToCheckpoint: time from an append's acknowledgement to a
// signed checkpoint that covers it, with the checkpoint loop running and
// appends going on.
func BenchmarkAppendToCheckpoint(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.log.Append(ctx, mayfly.AuditEntry{Action: "bench.background"})
			}
		})
	}
	var lat []time.Duration
	for b.Loop() {
		idx, err := f.log.Append(ctx, mayfly.AuditEntry{Action: "bench.measured"})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for {
			cps, err := f.st.Checkpoints(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(cps) > 0 && cps[len(cps)-1].Size > idx {
				break
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

var verifyEntries = flag.Int("verify-entries", 100_000, "entries BenchmarkVerify builds and verifies")

// BenchmarkVerify: recomputing the tree from the stored entries and checking
// every checkpoint, per entry.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{*verifyEntries} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			f := benchFixture(b)
			ctx := context.Background()
			var wg sync.WaitGroup
			for w := range 64 {
				wg.Go(func() {
					for i := w; i < n; i += 64 {
						f.log.Append(ctx, mayfly.AuditEntry{Action: "bench.verify"})
					}
				})
			}
			wg.Wait()
			if _, err := f.log.Checkpoint(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				rep, err := f.log.Verify(ctx)
				if err != nil || !rep.OK {
					b.Fatalf("%+v %v", rep, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
