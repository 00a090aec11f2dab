package limit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/limit"
)

func newLockout(t testing.TB, p limit.Policy, entries int) (*limit.Lockout, *apptest.Clock, *apptest.LogBuffer) {
	t.Helper()
	cfg := limit.Config{Client: p, Entries: entries}
	if err := cfg.Defaults(); err != nil {
		t.Fatal(err)
	}
	clock := apptest.NewClock(apptest.Epoch)
	logs := &apptest.LogBuffer{}
	return limit.NewLockout(limit.KindClient, cfg.Client, cfg.Entries, clock, slog.New(slog.NewTextHandler(logs, nil))), clock, logs
}

// retryAfter is what Check says of key: 0 when it admits it.
func retryAfter(t *testing.T, l *limit.Lockout, key string) time.Duration {
	t.Helper()
	err := l.Check(key)
	if err == nil {
		return 0
	}
	if !errors.Is(err, mayfly.ErrRateLimited) {
		t.Fatalf("Check(%q) = %v, want a rate_limited error", key, err)
	}
	return mayfly.RetryAfter(err)
}

// TestBackoffDoubles: free failures, then 1 s, 2 s, 4 s ... up to the cap;
// the key is refused while it backs off and admitted after.
func TestBackoffDoubles(t *testing.T) {
	l, clock, _ := newLockout(t, limit.Policy{Failures: 3, Max: 5 * time.Second}, 0)
	const id = "mfc_aaaaaaaaaaaaaaaa"
	for i := range 2 {
		l.Fail(id)
		if got := retryAfter(t, l, id); got != 0 {
			t.Fatalf("after %d failures: backing off %s, want none", i+1, got)
		}
	}
	for _, want := range []time.Duration{1, 2, 4, 5, 5} {
		want *= time.Second
		l.Fail(id)
		if got := retryAfter(t, l, id); got != want {
			t.Fatalf("backoff %s, want %s", got, want)
		}
		clock.Advance(want - time.Millisecond)
		if got := retryAfter(t, l, id); got != time.Millisecond {
			t.Fatalf("a millisecond before the end: %s left, want 1ms", got)
		}
		clock.Advance(time.Millisecond)
		if got := retryAfter(t, l, id); got != 0 {
			t.Fatalf("at the end: still %s", got)
		}
	}
	if got := retryAfter(t, l, "mfc_bbbbbbbbbbbbbbbb"); got != 0 {
		t.Errorf("another key backs off %s", got)
	}
	if got, want := l.Stats().Lockouts.Load(), int64(5); got != want {
		t.Errorf("lockouts counted %d, want %d", got, want)
	}
}

// TestSuccessResets: a success forgets the failures before it.
func TestSuccessResets(t *testing.T) {
	l, _, _ := newLockout(t, limit.Policy{Failures: 2, Max: time.Minute}, 0)
	const id = "mfc_aaaaaaaaaaaaaaaa"
	l.Fail(id)
	l.Succeed(id)
	l.Fail(id)
	if got := retryAfter(t, l, id); got != 0 {
		t.Fatalf("one failure after a success: backing off %s", got)
	}
	l.Fail(id)
	if got := retryAfter(t, l, id); got != time.Second {
		t.Fatalf("two in a row: backing off %s, want 1s", got)
	}
	if l.Entries() != 1 {
		t.Errorf("%d entries, want 1", l.Entries())
	}
	l.Succeed(id)
	if l.Entries() != 0 {
		t.Errorf("a success left %d entries", l.Entries())
	}
}

// TestForget: failures are forgotten after Forget without one.
func TestForget(t *testing.T) {
	l, clock, _ := newLockout(t, limit.Policy{Failures: 2, Max: time.Minute, Forget: 10 * time.Minute}, 0)
	const id = "mfc_aaaaaaaaaaaaaaaa"
	l.Fail(id)
	clock.Advance(10 * time.Minute)
	l.Fail(id)
	if got := retryAfter(t, l, id); got != 0 {
		t.Fatalf("a failure after the first was forgotten: backing off %s", got)
	}
	clock.Advance(10*time.Minute - time.Second)
	l.Fail(id)
	if got := retryAfter(t, l, id); got != time.Second {
		t.Fatalf("a second failure within Forget: backing off %s, want 1s", got)
	}
}

// TestLockoutLoggedOnce: one line per backoff started, none for the
// requests refused meanwhile or for failures that were already under way;
// the log names the client ID only if it has the form of one.
func TestLockoutLoggedOnce(t *testing.T) {
	l, clock, logs := newLockout(t, limit.Policy{Failures: 1, Max: time.Minute}, 0)
	const id = "mfc_aaaaaaaaaaaaaaaa"
	l.Fail(id)
	l.Fail(id) // checked before the backoff began, failed after
	for range 10 {
		l.Check(id)
	}
	if got := strings.Count(logs.String(), "authentication lockout"); got != 1 {
		t.Fatalf("%d lockout lines, want 1:\n%s", got, logs)
	}
	if !strings.Contains(logs.String(), id) {
		t.Errorf("the lockout line does not name the client:\n%s", logs)
	}
	clock.Advance(time.Hour)
	const secret = "mfs_0123456789abcdefghijklmnopqrstuvwxyzABCDE" // pasted into the client ID field
	l.Fail(secret)
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the log holds what was sent as a client ID though it is not one:\n%s", logs)
	}
	if got := strings.Count(logs.String(), "authentication lockout"); got != 2 {
		t.Errorf("%d lockout lines, want 2:\n%s", got, logs)
	}
}

// TestSprayBounded: a spray of distinct keys never grows the table past
// its bound, and a key that is backing off outlasts the sprayed keys,
// which are not.
func TestSprayBounded(t *testing.T) {
	const entries = 1024
	l, clock, logs := newLockout(t, limit.Policy{Failures: 2, Max: time.Minute}, entries)
	const id = "mfc_aaaaaaaaaaaaaaaa"
	l.Fail(id)
	l.Fail(id)
	for i := range 100 * entries {
		if i%1000 == 0 {
			clock.Advance(time.Millisecond)
		}
		l.Fail(fmt.Sprint("spray-", i))
		if n := l.Entries(); n > entries+31 { // each shard's bound is rounded up
			t.Fatalf("after %d keys: %d entries, bound %d", i+1, n, entries)
		}
	}
	if n := l.Entries(); n < entries*9/10 {
		t.Errorf("%d entries after the spray: the table should be near full", n)
	}
	if got := retryAfter(t, l, id); got == 0 {
		t.Errorf("the key backing off was evicted for keys that were not")
	}
	if got := strings.Count(logs.String(), "authentication lockout"); got != 1 {
		t.Errorf("%d lockout lines, want 1: single failures start none", got)
	}
}

func TestNilLockoutAdmits(t *testing.T) {
	var l *limit.Lockout
	l.Fail("x")
	l.Succeed("x")
	if err := l.Check("x"); err != nil {
		t.Errorf("a nil lockout refused: %v", err)
	}
}

func TestAddressKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.7", "::ffff:192.0.2.7"},
		{"not an address", "not an address"},
	} {
		if got := limit.AddressKey(tt.in); got != tt.want {
			t.Errorf("AddressKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	var c limit.Config
	if err := c.Defaults(); err != nil {
		t.Fatal(err)
	}
	if c.Client.Failures != 5 || c.Client.Max != 30*time.Second || c.Client.Forget != 15*time.Minute || c.Expensive < 4 {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []limit.Config{
		{Client: limit.Policy{Failures: -1}},
		{Address: limit.Policy{Max: 500 * time.Millisecond}},
		{Admin: limit.Policy{Max: time.Minute, Forget: time.Minute}},
		{Expensive: -1},
		{ExpensiveWait: -time.Second},
		{Entries: -5},
	} {
		if err := bad.Defaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestGate: at most n at once; one more waits, then is refused with a
// RetryAfter; a slot released lets the next in.
func TestGate(t *testing.T) {
	release := make(chan struct{})
	held := make(chan string)
	g := limit.NewGate(2, time.Millisecond, func(what string) {
		if what == "audit export" {
			held <- what
			<-release
		}
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := g.Acquire(ctx, "audit export"); err != nil {
				t.Error(err)
				return
			}
			g.Release()
		})
		<-held
	}
	if got := g.Stats().InFlight.Load(); got != 2 {
		t.Errorf("in flight %d, want 2", got)
	}
	err := g.Acquire(ctx, "RSA signature")
	if !errors.Is(err, mayfly.ErrUnavailable) || mayfly.RetryAfter(err) != time.Second {
		t.Fatalf("a third: %v (retry after %s), want unavailable, retry after 1s", err, mayfly.RetryAfter(err))
	}
	close(release)
	wg.Wait()
	if err := g.Acquire(ctx, "RSA signature"); err != nil {
		t.Fatalf("after the two left: %v", err)
	}
	g.Release()
	if got := g.Stats().Refused.Load(); got != 1 {
		t.Errorf("refused %d, want 1", got)
	}
}
