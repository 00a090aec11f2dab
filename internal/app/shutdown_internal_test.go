package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// hungStore does not answer for the streams, as a query on a partitioned
// PostgreSQL connection hangs until its context ends.
type hungStore struct {
	mayfly.Store
	hung atomic.Bool // once the shutdown begins
}

func (h *hungStore) SSFStreams(ctx context.Context) ([]*mayfly.SSFStream, error) {
	if !h.hung.Load() {
		return h.Store.SSFStreams(ctx)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestShutdownBounded: a store that stops answering cannot hold the
// shutdown. Counting the Shared Signals events left queued, which is only
// for the log, gives up; the shutdown closes the store and says the count
// is unknown. Before, it waited as long as the query did.
func TestShutdownBounded(t *testing.T) {
	dir := t.TempDir()
	hung := &hungStore{}
	a, err := New(context.Background(), Config{DataDir: dir, Issuer: "https://mayfly.test",
		Store: filepath.Join(dir, "m.db"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		WrapStore: func(st mayfly.Store) mayfly.Store { hung.Store = st; return hung }})
	if err != nil {
		t.Fatal(err)
	}
	hung.hung.Store(true)
	done := make(chan Drained)
	go func() {
		d, _ := a.Shutdown(context.Background())
		done <- d
	}()
	select {
	case d := <-done:
		if d.Queued != -1 {
			t.Errorf("queued %d; want -1, uncounted", d.Queued)
		}
	case <-time.After(time.Minute): // a hang, not a speed: the count gives up after queuedWait
		t.Fatal("Shutdown still waiting for a store that does not answer")
	}
}
