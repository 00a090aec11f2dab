// Package batch group-commits: many callers hand in one item each, one
// writer makes them durable together, and each caller returns once its item
// is durable. While one batch is being written the next one fills, so the
// write rate, not the caller rate, bounds the cost of durability.
package batch

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("batch: closed")

// Committer collects items and flushes them in batches from one goroutine.
type Committer[T any] struct {
	flush func(context.Context, []T) error

	mu      sync.Mutex
	pending []T
	cur     *result
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	written atomic.Int64 // items made durable
}

type result struct {
	done chan struct{}
	err  error
}

// New starts a Committer that writes with flush. flush gets everything
// queued since the last call began, however much that is.
func New[T any](flush func(context.Context, []T) error) *Committer[T] {
	c := &Committer[T]{flush: flush, cur: &result{done: make(chan struct{})}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go c.run()
	return c
}

// Add queues v and waits until it is durable, or ctx ends. When ctx ends
// first the item may still be written later.
func (c *Committer[T]) Add(ctx context.Context, v T) error {
	r, err := c.enqueue(v)
	if err != nil {
		return err
	}
	return r.wait(ctx)
}

// AddAll queues every item of vs in one batch and waits until all are
// durable, or ctx ends.
func (c *Committer[T]) AddAll(ctx context.Context, vs []T) error {
	r, err := c.enqueue(vs...)
	if err != nil {
		return err
	}
	return r.wait(ctx)
}

// enqueue adds vs to the batch being filled and returns its result.
func (c *Committer[T]) enqueue(vs ...T) (*result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.pending = append(c.pending, vs...)
	// Kick under the lock: Close closes kick only after taking it.
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return c.cur, nil
}

func (r *result) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Committer[T]) run() {
	defer close(c.done)
	for range c.kick {
		for {
			c.linger()
			c.mu.Lock()
			items, r := c.pending, c.cur
			c.pending, c.cur = nil, &result{done: make(chan struct{})}
			closed := c.closed
			c.mu.Unlock()
			if len(items) > 0 {
				if r.err = c.flush(context.Background(), items); r.err == nil {
					c.written.Add(int64(len(items)))
				}
			}
			close(r.done)
			if len(items) == 0 {
				if closed {
					return
				}
				break
			}
		}
	}
}

// Written is how many items have been made durable.
func (c *Committer[T]) Written() int64 { return c.written.Load() }

// Close flushes what is queued and stops the writer.
func (c *Committer[T]) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.kick)
	<-c.done
}

// maxLinger bounds the yields before a batch is taken: two more than
// doubled the batches of token exchanges on two cores; more did not help.
const maxLinger = 2

// linger lets the goroutines that are ready to run go first, while that
// makes the batch grow. Under load, callers being handled join this
// batch instead of paying for a commit of their own once it is done: the
// cost of a commit is mostly fixed, and the CPU it takes is the
// callers'. With nothing else to run, runtime.Gosched returns at once.
func (c *Committer[T]) linger() {
	for range maxLinger {
		before := c.queued()
		runtime.Gosched()
		if c.queued() == before {
			return
		}
	}
}

func (c *Committer[T]) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
