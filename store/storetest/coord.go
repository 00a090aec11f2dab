package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// patience bounds every wait in the suite, so that a broken backend fails
// instead of hanging. No test asserts how long anything takes.
const patience = 10 * time.Second

func testLockExcludes(t *testing.T, s mayfly.Store) {
	if m := mostHolders(t, []mayfly.Store{s}, 8); m != 1 {
		t.Errorf("at most %d goroutines held the lock at once; want 1", m)
	}
}

// mostHolders has workers goroutines, spread over stores, take and release
// one lock ten times each, and returns the most that held it at once.
func mostHolders(t *testing.T, stores []mayfly.Store, workers int) int32 {
	var holders, most atomic.Int32
	var wg sync.WaitGroup
	for i := range workers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			for range 10 {
				unlock, err := s.Lock(t.Context(), "rotate/main")
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				n := holders.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(100 * time.Microsecond) // widen the window a second holder would need
				holders.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	return most.Load()
}

func testLockNames(t *testing.T, s mayfly.Store) {
	unlock, err := s.Lock(t.Context(), "a")
	must(t, "Lock(a)", err)
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	unlockB, err := s.Lock(ctx, "b")
	if err != nil {
		t.Fatalf("Lock(b) while a is held: %v; locks of different names must not exclude each other", err)
	}
	unlockB()
}

func testLockCancel(t *testing.T, s mayfly.Store) {
	unlock, err := s.Lock(t.Context(), "a")
	must(t, "Lock", err)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		u, err := s.Lock(ctx, "a")
		if err == nil {
			u()
		}
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second Lock start waiting
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatalf("Lock of a held name returned nil after its context ended")
		}
	case <-time.After(patience):
		t.Fatalf("Lock did not return after its context ended")
	}
	unlock()
	ctx2, cancel2 := context.WithTimeout(t.Context(), patience)
	defer cancel2()
	u, err := s.Lock(ctx2, "a")
	if err != nil {
		t.Fatalf("Lock after the holder released and a waiter gave up: %v", err)
	}
	u()
}

// watcher collects the changes Watch reports.
type watcher struct {
	ch     chan mayfly.Change
	cancel context.CancelFunc
	done   chan error
}

func watch(t *testing.T, s mayfly.Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &watcher{ch: make(chan mayfly.Change, 100), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- s.Watch(ctx, func(c mayfly.Change) { w.ch <- c }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(patience):
			t.Errorf("Watch did not return after its context ended")
		}
	})
	w.expect(t, mayfly.ChangeAll)
	return w
}

// expect waits for want, skipping other changes: a backend may report a
// change more than once, or report ChangeAll at any time.
func (w *watcher) expect(t *testing.T, want mayfly.Change) {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case c := <-w.ch:
			if c == want || (c == mayfly.ChangeAll && want != mayfly.ChangeAll) {
				return
			}
		case <-deadline:
			t.Fatalf("Watch did not report %q", want)
		}
	}
}

func testWatch(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	ch := watch(t, s)
	ctx := t.Context()
	revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-1", At: t0})
	ch.expect(t, mayfly.ChangeRevocations)
	must(t, "SaveKeys", s.SaveKeys(ctx, []*mayfly.Key{newKey("kid-c", w.ring.Name, t0)}))
	ch.expect(t, mayfly.ChangeKeys)
	revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0})
	ch.expect(t, mayfly.ChangeKeys)
	must(t, "DestroyKeyMaterial", s.DestroyKeyMaterial(ctx, []string{w.kB.KID}))
	ch.expect(t, mayfly.ChangeKeys)
	must(t, "PutSetting", s.PutSetting(ctx, "x", []byte("1")))
	ch.expect(t, mayfly.ChangeSettings)
	must(t, "DeleteSetting", s.DeleteSetting(ctx, "x"))
	ch.expect(t, mayfly.ChangeSettings)
}

// RunShared runs the checks that need two handles on one database, as two
// processes (replicas) have. open returns both handles; RunShared closes them.
func RunShared(t *testing.T, open func(t *testing.T) (mayfly.Store, mayfly.Store)) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b mayfly.Store)
	}{
		{"Lock/AcrossHandles", testSharedLock},
		{"Lock/ReleasedOnClose", testSharedLockClose},
		{"Watch/AcrossHandles", testSharedWatch},
		{"Audit/OneOrder", testSharedAudit},
		{"Revocations/OneSequence", testSharedRevocations},
		{"SSF/CursorOneWinner", testSharedSSFCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() {
				a.Close() // some tests close a early; a second Close must be harmless
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, a, b)
		})
	}
}

func testSharedLock(t *testing.T, a, b mayfly.Store) {
	if m := mostHolders(t, []mayfly.Store{a, b}, 6); m != 1 {
		t.Errorf("at most %d holders across two handles at once; want 1", m)
	}
}

func testSharedLockClose(t *testing.T, a, b mayfly.Store) {
	if _, err := a.Lock(t.Context(), "rotate/main"); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	// The holder goes away without unlocking, as a killed replica does.
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	unlock, err := b.Lock(ctx, "rotate/main")
	if err != nil {
		t.Fatalf("Lock after the holder closed: %v", err)
	}
	unlock()
}

func testSharedWatch(t *testing.T, a, b mayfly.Store) {
	seed(t, a)
	ch := watch(t, b)
	revoke(t, a, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: "cli-a", At: t0})
	ch.expect(t, mayfly.ChangeRevocations)
	must(t, "PutSetting", a.PutSetting(t.Context(), "audit.log_vkey.2", []byte("v")))
	ch.expect(t, mayfly.ChangeSettings)
	if got := revocations(t, b, 0, t0); len(got) != 1 || got[0].Subject != "cli-a" {
		t.Errorf("the other handle reads revocations %v; want the one made through the first", got)
	}
}

// testSharedAudit appends from both handles at once, each continuing from
// what it last saw, as replicas do: every append either continues the log
// or fails with ErrConflict, and the log stays dense.
func testSharedAudit(t *testing.T, a, b mayfly.Store) {
	const batches = 20
	var wg sync.WaitGroup
	for _, s := range []mayfly.Store{a, b} {
		wg.Go(func() {
			for done := 0; done < batches; {
				size, err := s.AuditSize(t.Context())
				if err != nil {
					t.Errorf("AuditSize: %v", err)
					return
				}
				err = s.AppendAudit(t.Context(), auditRecords(size, 3), nil)
				switch {
				case err == nil:
					done++
				case mayfly.ErrorCode(err) != mayfly.Conflict:
					t.Errorf("AppendAudit at %d: %v; want nil or ErrConflict", size, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := b.AuditEntries(t.Context(), mayfly.AuditFilter{})
	must(t, "AuditEntries", err)
	if len(got) != 2*batches*3 {
		t.Fatalf("%d entries; want %d", len(got), 2*batches*3)
	}
	for i, r := range got {
		if r.Index != uint64(i) {
			t.Fatalf("entry %d has index %d; the log must be dense and ordered", i, r.Index)
		}
	}
}

// testSharedRevocations revokes from both handles at once while a reader
// follows with Revocations(after the last seq it saw), as a replica's
// revocation state does. Revocations must become visible in sequence order:
// a seq that commits after a higher one would be skipped by such a reader
// and lost to it for good.
func testSharedRevocations(t *testing.T, a, b mayfly.Store) {
	const each = 40
	var wg sync.WaitGroup
	for i, s := range []mayfly.Store{a, b} {
		wg.Go(func() {
			for j := range each {
				r := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: fmt.Sprintf("jti-%d-%d", i, j), At: t0}
				if err := s.Revoke(t.Context(), r); err != nil {
					t.Errorf("Revoke: %v", err)
				}
			}
		})
	}
	seen := map[string]int64{}
	var last int64
	follow := func() {
		for _, r := range revocations(t, b, last, t0) {
			if r.Seq <= last {
				t.Fatalf("Revocations(after %d) returned seq %d", last, r.Seq)
			}
			seen[r.Subject], last = r.Seq, r.Seq
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for following := true; following; {
		select {
		case <-done:
			following = false
		default:
		}
		follow()
	}
	follow()
	if len(seen) != 2*each {
		t.Fatalf("a reader following by sequence saw %d of %d revocations; revocations must become visible in sequence order", len(seen), 2*each)
	}
}

func testReplaceSetting(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	ch := watch(t, s)
	must(t, "ReplaceSetting (new)", s.ReplaceSetting(ctx, "root.check", []byte("one")))
	ch.expect(t, mayfly.ChangeSettings)
	must(t, "ReplaceSetting (existing)", s.ReplaceSetting(ctx, "root.check", []byte("two")))
	if v, err := s.Setting(ctx, "root.check"); err != nil || string(v) != "two" {
		t.Errorf("Setting after ReplaceSetting: %q, %v; want \"two\"", v, err)
	}
}

func testRevokeBatch(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	rs := []*mayfly.Revocation{
		{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0},
		{Kind: mayfly.RevokeNotBefore, Subject: w.alice.ID, At: t0.Add(fine)},
		{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0},
	}
	must(t, "Revoke (batch)", s.Revoke(t.Context(), rs...))
	for i, r := range rs {
		if r.Seq <= 0 || (i > 0 && r.Seq <= rs[i-1].Seq) {
			t.Fatalf("batch seqs %d, %d, %d; want increasing from 1", rs[0].Seq, rs[1].Seq, rs[2].Seq)
		}
	}
	if got := revocations(t, s, 0, t0); len(got) != 3 {
		t.Errorf("%d revocations after a batch of 3", len(got))
	}
	if c := mustClient(t, s, w.cA.ID); c.RevokedAt.IsZero() {
		t.Errorf("client in a revocation batch is not marked revoked")
	}
	must(t, "Revoke (empty batch)", s.Revoke(t.Context()))
}
