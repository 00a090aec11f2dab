package limit

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Gate bounds how many expensive requests run at once. Its methods are
// safe for concurrent use, and a nil Gate admits everything.
type Gate struct {
	slots chan struct{}
	wait  time.Duration
	hold  func(what string)
	stats GateStats
}

// GateStats count what a Gate did, for metrics.
type GateStats struct {
	InFlight atomic.Int64 // requests holding a slot
	Waiting  atomic.Int64 // requests waiting for one
	Refused  atomic.Int64 // requests refused after waiting
}

// NewGate returns a Gate of n slots where a request waits up to wait for
// one. hold, if not nil, runs in each request once it has its slot.
func NewGate(n int, wait time.Duration, hold func(what string)) *Gate {
	return &Gate{slots: make(chan struct{}, n), wait: wait, hold: hold}
}

// Stats are the Gate's counters.
func (g *Gate) Stats() *GateStats { return &g.stats }

// Size is the most requests the Gate admits at once.
func (g *Gate) Size() int { return cap(g.slots) }

// Acquire takes a slot for the expensive work what names, waiting for one
// up to the Gate's wait; then it fails Unavailable, with a RetryAfter.
// Whoever acquires must Release.
func (g *Gate) Acquire(ctx context.Context, what string) error {
	if g == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
	default:
		if err := g.await(ctx, what); err != nil {
			return err
		}
	}
	g.stats.InFlight.Add(1)
	if g.hold != nil {
		g.hold(what)
	}
	return nil
}

func (g *Gate) await(ctx context.Context, what string) error {
	g.stats.Waiting.Add(1)
	defer g.stats.Waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	g.stats.Refused.Add(1)
	return &mayfly.Error{Code: mayfly.Unavailable, RetryAfter: time.Second,
		Msg: "the server is busy with other expensive requests (" + what + "); try again shortly"}
}

// Release gives back a slot that Acquire took.
func (g *Gate) Release() {
	if g == nil {
		return
	}
	g.stats.InFlight.Add(-1)
	<-g.slots
}
