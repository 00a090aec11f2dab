package limit_test

import (
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/limit"
)

// BenchmarkLockoutHotPath is what every successful authentication pays:
// Check and Succeed for its client ID and for its source address, on a
// table that is empty, and on one filled to its bound by a spray of other
// keys (what the path costs while an attack goes on).
func BenchmarkLockoutHotPath(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "empty"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			clock := apptest.NewClock(apptest.Epoch)
			log := slog.New(slog.DiscardHandler)
			ids := limit.NewLockout(limit.KindClient, limit.DefaultClient, limit.DefaultEntries, clock, log)
			addrs := limit.NewLockout(limit.KindAddress, limit.DefaultAddress, limit.DefaultEntries, clock, log)
			if full {
				for i := range 2 * limit.DefaultEntries {
					ids.Fail("mfc_spray" + strconv.Itoa(i))
					addrs.Fail("198.18." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + strconv.Itoa(i>>16))
				}
			}
			const id, addr = "mfc_aaaaaaaaaaaaaaaa", "127.0.0.1"
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if ids.Check(id) != nil || addrs.Check(addr) != nil {
						b.Fatal("refused")
					}
					ids.Succeed(id)
					addrs.Succeed(addr)
				}
			})
		})
	}
}

// BenchmarkLockoutSpray is a spray of distinct client IDs, each failing
// once, at a table of the default bound: the time per failure, and the
// heap the full table holds.
func BenchmarkLockoutSpray(b *testing.B) {
	clock := apptest.NewClock(apptest.Epoch)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l := limit.NewLockout(limit.KindClient, limit.DefaultClient, limit.DefaultEntries, clock, slog.New(slog.DiscardHandler))
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "mfc_spray" + strconv.Itoa(i)
	}
	b.ResetTimer()
	for i := range b.N {
		if i%1024 == 0 {
			clock.Advance(time.Millisecond)
		}
		l.Fail(keys[i%len(keys)])
	}
	b.StopTimer()
	keys = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(l.Entries()), "entries")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
	if l.Entries() > 0 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(l.Entries()), "B/entry")
	}
	runtime.KeepAlive(l)
}
