package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
)

// log records what flush was given.
type log[T comparable] struct {
	mu      sync.Mutex
	batches [][]T
	count   map[T]int
}

func newLog[T comparable]() *log[T] { return &log[T]{count: map[T]int{}} }

func (l *log[T]) record(items []T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, slices.Clone(items))
	for _, v := range items {
		l.count[v]++
	}
	return len(l.batches)
}

func (l *log[T]) flushed(v T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[v]
}

func (l *log[T]) snapshot() [][]T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

// gated is a flush whose first call blocks until release is closed, so
// that the test can queue items behind it. Later calls return errs[n] for
// the nth call (counting from 1), or nil.
type gated struct {
	*log[string]
	started chan struct{}
	release chan struct{}
	errs    map[int]error
}

func newGated() *gated {
	return &gated{log: newLog[string](), started: make(chan struct{}), release: make(chan struct{}), errs: map[int]error{}}
}

func (g *gated) flush(_ context.Context, items []string) error {
	n := g.record(items)
	if n == 1 {
		close(g.started)
		<-g.release
	}
	return g.errs[n]
}

// addAsync calls Add in a goroutine and delivers its result.
func addAsync[T any](c *Committer[T], v T) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Add(context.Background(), v) }()
	return ch
}

// waitUntil yields until cond, read under c.mu, holds. It never sleeps; a
// condition that never holds ends in the test binary's timeout.
func waitUntil[T any](c *Committer[T], cond func() bool) {
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		runtime.Gosched()
	}
}

// queueBehindBlockedFlush adds "first", waits until flush holds it, then adds
// each of items and waits until all are queued. The Adds' results are
// returned in order: first, then items.
func queueBehindBlockedFlush(c *Committer[string], g *gated, items ...string) []<-chan error {
	res := []<-chan error{addAsync(c, "first")}
	<-g.started
	for _, v := range items {
		res = append(res, addAsync(c, v))
	}
	waitUntil(c, func() bool { return len(c.pending) == len(items) })
	return res
}

// TestAddReturnsOnceFlushed: every Add returns nil only after its item was
// flushed, and every item is flushed exactly once.
func TestAddReturnsOnceFlushed(t *testing.T) {
	l := newLog[int]()
	c := New(func(_ context.Context, items []int) error {
		l.record(items)
		return nil
	})
	defer c.Close()
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := c.Add(context.Background(), i); err != nil {
				t.Errorf("Add(%d): got error %v, want nil", i, err)
				return
			}
			if got := l.flushed(i); got != 1 {
				t.Errorf("item %d when its Add returned: flushed %d times, want 1", i, got)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, b := range l.snapshot() {
		if len(b) == 0 {
			t.Errorf("flush called with an empty batch")
		}
		total += len(b)
	}
	if total != n {
		t.Errorf("items flushed: got %d, want %d", total, n)
	}
	for i := range n {
		if got := l.flushed(i); got != 1 {
			t.Errorf("item %d: flushed %d times, want 1", i, got)
		}
	}
}

// TestItemsAreBatched: items queued while a flush runs go out together in
// the next one.
func TestItemsAreBatched(t *testing.T) {
	g := newGated()
	c := New(g.flush)
	defer c.Close()
	queued := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	res := queueBehindBlockedFlush(c, g, queued...)
	close(g.release)
	for i, ch := range res {
		if err := <-ch; err != nil {
			t.Errorf("Add %d: got error %v, want nil", i, err)
		}
	}
	batches := g.snapshot()
	items := 1 + len(queued)
	if len(batches) >= items {
		t.Errorf("flush calls: got %d for %d items, want fewer", len(batches), items)
	}
	if len(batches) != 2 {
		t.Fatalf("batches: got %q, want [[first] %q]", batches, queued)
	}
	second := slices.Sorted(slices.Values(batches[1]))
	if !slices.Equal(batches[0], []string{"first"}) || !slices.Equal(second, queued) {
		t.Errorf("batches: got %q, want [[first] %q]", batches, queued)
	}
}

// TestFlushErrorReachesItsBatch: a failed flush fails every Add whose item
// was in it, and no other; later batches succeed.
func TestFlushErrorReachesItsBatch(t *testing.T) {
	boom := errors.New("disk on fire")
	g := newGated()
	g.errs[2] = boom
	c := New(g.flush)
	defer c.Close()
	res := queueBehindBlockedFlush(c, g, "b", "c", "d")
	close(g.release)
	if err := <-res[0]; err != nil {
		t.Errorf("Add(first), flushed before the failure: got error %v, want nil", err)
	}
	for i, ch := range res[1:] {
		if err := <-ch; !errors.Is(err, boom) {
			t.Errorf("Add %d in the failed batch: got error %v, want %v", i+1, err, boom)
		}
	}
	for _, v := range []string{"e", "f"} {
		if err := c.Add(context.Background(), v); err != nil {
			t.Errorf("Add(%s) after the failed batch: got error %v, want nil", v, err)
		}
		if got := g.flushed(v); got != 1 {
			t.Errorf("item %s: flushed %d times, want 1", v, got)
		}
	}
	if got := len(g.snapshot()); got != 4 {
		t.Errorf("flush calls: got %d (%q), want 4", got, g.snapshot())
	}
}

// TestCloseFlushesQueued: Close waits for queued items to be flushed, and
// Add after Close fails without queueing anything.
func TestCloseFlushesQueued(t *testing.T) {
	g := newGated()
	c := New(g.flush)
	resFirst := addAsync(c, "first")
	<-g.started
	resQueued := addAsync(c, "queued")
	// Take the wake-up the queued Add sends the busy writer, so that the Add
	// is past sending it when Close runs (see TestAddRacingClose). The writer
	// needs no wake-up: it looks for more items after each flush.
	<-c.kick
	c.mu.Lock()
	queued := slices.Clone(c.pending)
	c.mu.Unlock()
	if !slices.Equal(queued, []string{"queued"}) {
		t.Fatalf("queued items: got %q, want [queued]", queued)
	}

	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	waitUntil(c, func() bool { return c.closed })
	if err := c.Add(context.Background(), "during close"); !errors.Is(err, ErrClosed) {
		t.Errorf("Add while closing: got error %v, want ErrClosed", err)
	}
	select {
	case <-closed:
		t.Fatalf("Close returned while a flush was still running")
	default:
	}
	close(g.release)
	<-closed

	for _, name := range []string{"first", "queued"} {
		if got := g.flushed(name); got != 1 {
			t.Errorf("item %s when Close returned: flushed %d times, want 1", name, got)
		}
	}
	for name, ch := range map[string]<-chan error{"first": resFirst, "queued": resQueued} {
		if err := <-ch; err != nil {
			t.Errorf("Add(%s): got error %v, want nil", name, err)
		}
	}
	if err := c.Add(context.Background(), "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: got error %v, want ErrClosed", err)
	}
	c.Close() // a second Close returns
	for _, v := range []string{"during close", "late"} {
		if got := g.flushed(v); got != 0 {
			t.Errorf("item %s, refused with ErrClosed: flushed %d times, want 0", v, got)
		}
	}
}

// TestCloseIdle: closing a committer that has nothing queued never calls
// flush, and Add then fails.
func TestCloseIdle(t *testing.T) {
	l := newLog[int]()
	c := New(func(_ context.Context, items []int) error {
		l.record(items)
		return nil
	})
	c.Close()
	if err := c.Add(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: got error %v, want ErrClosed", err)
	}
	if got := l.snapshot(); len(got) != 0 {
		t.Errorf("flush calls: got %v, want none", got)
	}
}

// TestAddCanceled: an Add whose context ends returns its error without
// waiting for a flush that does not finish.
func TestAddCanceled(t *testing.T) {
	g := newGated()
	c := New(g.flush)
	defer c.Close()
	defer close(g.release)
	first := addAsync(c, "first")
	<-g.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Add(ctx, "canceled"); !errors.Is(err, context.Canceled) {
		t.Errorf("Add with a canceled context: got error %v, want context.Canceled", err)
	}
	select {
	case err := <-first:
		t.Errorf("Add(first) returned %v while its flush was blocked", err)
	default:
	}
}

// TestAddRacingClose: Add and Close called at the same time. Each Add
// returns either nil, with its item flushed, or ErrClosed, with its item
// not flushed; none panics or hangs, and Close returns.
//
// The race is narrow: several goroutines Add in a loop while Close runs, for
// many rounds. Under -race the detector reports it at once.
func TestAddRacingClose(t *testing.T) {
	rounds := 50000
	switch {
	case testing.Short():
		rounds = 2000
	case raceEnabled():
		rounds = 5000 // slower rounds, and the detector reports the race itself
	}
	const adders = 4
	for round := range rounds {
		l := newLog[int]()
		c := New(func(_ context.Context, items []int) error {
			l.record(items)
			return nil
		})
		start := make(chan struct{})
		errs := make(chan error, adders)
		var wg sync.WaitGroup
		for a := range adders {
			wg.Go(func() {
				<-start
				for n := 0; ; n++ {
					v := n*adders + a
					err := addRecovering(c, v)
					switch {
					case errors.Is(err, ErrClosed):
						if got := l.flushed(v); got != 0 {
							errs <- fmt.Errorf("Add(%d) returned ErrClosed but its item was flushed %d times", v, got)
						}
						return
					case err != nil:
						errs <- fmt.Errorf("Add(%d): got error %v, want nil or ErrClosed", v, err)
						return
					case l.flushed(v) != 1:
						errs <- fmt.Errorf("Add(%d) returned nil but its item was flushed %d times, want 1", v, l.flushed(v))
						return
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			c.Close()
		})
		close(start)
		wg.Wait()
		close(errs)
		if len(errs) > 0 {
			for err := range errs {
				t.Errorf("round %d: %v", round, err)
			}
			return
		}
	}
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// addRecovering calls Add and turns a panic into an error.
func addRecovering(c *Committer[int], v int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("Add panicked: %v", p)
		}
	}()
	return c.Add(context.Background(), v)
}

// TestWritten counts the items made durable, and not those whose flush
// failed.
func TestWritten(t *testing.T) {
	fail := errors.New("disk full")
	c := New(func(_ context.Context, items []int) error {
		if slices.Contains(items, 0) {
			return fail
		}
		return nil
	})
	ctx := context.Background()
	if err := c.AddAll(ctx, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(ctx, 0); !errors.Is(err, fail) {
		t.Fatalf("Add(0): %v, want the flush's error", err)
	}
	if err := c.Add(ctx, 4); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := c.Written(); got != 4 {
		t.Errorf("Written() = %d, want 4: three, then one, and not the one that failed", got)
	}
}
