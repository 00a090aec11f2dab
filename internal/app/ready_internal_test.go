package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// manualClock moves only when told (apptest's clock imports this package).
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// probeKey marks the context of the probes the test makes.
type probeKey struct{}

// slowStore is a store whose readiness read takes a while: each read moves
// the clock on by its delay, as a PostgreSQL under load would take it.
type slowStore struct {
	mayfly.Store
	clock *manualClock
	delay time.Duration
	calls atomic.Int64
}

func (s *slowStore) Setting(ctx context.Context, name string) ([]byte, error) {
	if ctx.Value(probeKey{}) != nil { // a probe's check, not the app's own reads
		s.calls.Add(1)
		s.clock.Advance(s.delay)
	}
	return s.Store.Setting(ctx, name)
}

// TestReadySlowStoreAskedOnce: probes that arrive together while the
// store is slow share one check, and its answer is reused from when it was
// known, not from when it was asked. Before, each probe queued behind the
// last and asked again, since an answer that took over a second was stale
// the moment it came.
func TestReadySlowStoreAskedOnce(t *testing.T) {
	dir := t.TempDir()
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	slow := &slowStore{clock: clock, delay: 1200 * time.Millisecond}
	a, err := New(context.Background(), Config{DataDir: dir, Issuer: "https://mayfly.test", Clock: clock,
		Store: filepath.Join(dir, "m.db"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		WrapStore: func(st mayfly.Store) mayfly.Store { slow.Store = st; return slow }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	probe := context.WithValue(context.Background(), probeKey{}, true)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := a.Ready(probe); err != nil {
				t.Errorf("not ready: %v", err)
			}
		})
	}
	wg.Wait()
	if n := slow.calls.Load(); n != 1 {
		t.Errorf("8 probes asked the store %d times; want once", n)
	}
	// A probe that gives up stops waiting; the check goes on for the rest.
	clock.Advance(2 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Ready(ctx); err != nil && mayfly.ErrorCode(err) != mayfly.Unavailable {
		t.Errorf("a cancelled probe: %v", err)
	}
	if err := a.Ready(context.Background()); err != nil {
		t.Errorf("the probe after: %v", err)
	}
}
