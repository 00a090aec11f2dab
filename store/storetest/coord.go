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

// Coordination runs the suite of mayfly.Coordinator: Lock, and Watch's
// notices of the changes every concern makes.
func Coordination(t *testing.T, open func(t *testing.T) mayfly.Store) {
	t.Helper()
	run(t, open, []test[mayfly.Store]{
		{"Lock/Excludes", testLockExcludes},
		{"Lock/Names", testLockNames},
		{"Lock/Cancel", testLockCancel},
		{"Watch", testWatch},
		{"Watch/Identity", testWatchIdentity},
		{"Watch/Settings", testReplaceSetting},
	})
}

// CoordinationShared runs the checks of the suite that need two handles on
// one database, as two processes (replicas) have: locks, notices, audit
// appends, revocation numbers, stream cursors and principal names are
// coordinated across them. open returns both handles; the suite closes
// them.
func CoordinationShared(t *testing.T, open func(t *testing.T) (mayfly.Store, mayfly.Store)) {
	t.Helper()
	runShared(t, open, []test[[2]mayfly.Store]{
		{"Lock/AcrossHandles", shared(testSharedLock)},
		{"Lock/ReleasedOnClose", shared(testSharedLockClose)},
		{"Watch/AcrossHandles", shared(testSharedWatch)},
		{"Audit/OneOrder", shared(testSharedAudit)},
		{"Revocations/OneSequence", shared(testSharedRevocations)},
		{"SSF/CursorOneWinner", shared(func(t *testing.T, a, b mayfly.Store) { testSharedSSFCursor(t, a, b) })},
		{"Identity/NameCaseRace", shared(func(t *testing.T, a, b mayfly.Store) { testPrincipalNameRace(t, []IdentityStore{a, b}) })},
	})
}

// shared adapts a check of two handles to runShared.
func shared(fn func(t *testing.T, a, b mayfly.Store)) func(t *testing.T, s [2]mayfly.Store) {
	return func(t *testing.T, s [2]mayfly.Store) { fn(t, s[0], s[1]) }
}

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

func watch(t *testing.T, s mayfly.Coordinator) *watcher {
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

// none fails if w reports unwanted within d.
func (w *watcher) none(t *testing.T, unwanted mayfly.Change, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case c := <-w.ch:
			if c == unwanted {
				t.Errorf("Watch reported %q; want nothing yet", c)
			}
		case <-deadline:
			return
		}
	}
}

// before waits for want and fails if unwanted comes first.
func (w *watcher) before(t *testing.T, want, unwanted mayfly.Change) {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case c := <-w.ch:
			switch c {
			case want:
				return
			case unwanted:
				t.Errorf("Watch reported %q before %q; want no %q", c, want, unwanted)
			}
		case <-deadline:
			t.Fatalf("Watch did not report %q", want)
		}
	}
}

func testWatch(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	ch := watch(t, s)
	revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-1", At: t0})
	ch.expect(t, mayfly.ChangeRevocations)
	must(t, "CreateRing", do(t, s, s.CreateRing, &mayfly.Ring{Name: "other", Alg: mayfly.EdDSA, Lifetime: time.Hour, CreatedAt: t0}))
	ch.expect(t, mayfly.ChangeKeys)
	must(t, "SaveKeys", do(t, s, s.SaveKeys, []*mayfly.Key{newKey("kid-c", w.ring.Name, t0)}))
	ch.expect(t, mayfly.ChangeKeys)
	// Revoking a key is a revocation; the keys service saves the key
	// revoked itself, which is a change of keys.
	revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0})
	ch.expect(t, mayfly.ChangeRevocations)
	must(t, "DestroyKeyMaterial", do(t, s, s.DestroyKeyMaterial, []string{w.kB.KID}))
	ch.expect(t, mayfly.ChangeKeys)
	must(t, "PutSetting", putSetting(t, s, "x", []byte("1")))
	ch.expect(t, mayfly.ChangeSettings)
	must(t, "DeleteSetting", do(t, s, s.DeleteSetting, "x"))
	ch.expect(t, mayfly.ChangeSettings)
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
	must(t, "PutSetting", putSetting(t, a, "audit.log_vkey.2", []byte("v")))
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
				// Appending from a size read before the lock was taken,
				// as replicas may.
				err = commit(t, s, func(tx mayfly.Tx) error {
					if _, err := s.AuditHead(tx); err != nil {
						return err
					}
					return s.AppendAudit(tx, auditRecords(size, 3), nil)
				})
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
				if err := revokeAll(t, s, r); err != nil {
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
	must(t, "ReplaceSetting (new)", replaceSetting(t, s, "root.check", []byte("one")))
	ch.expect(t, mayfly.ChangeSettings)
	must(t, "ReplaceSetting (existing)", replaceSetting(t, s, "root.check", []byte("two")))
	ch.expect(t, mayfly.ChangeSettings)
	if v, err := s.Setting(ctx, "root.check"); err != nil || string(v) != "two" {
		t.Errorf("Setting after ReplaceSetting: %q, %v; want \"two\"", v, err)
	}
}

func testWatchIdentity(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	adm := &mayfly.AdminCredential{ID: "adm-1", Name: "ci", Hash: []byte("hash"), CreatedAt: t0}
	must(t, "CreateAdminCredential", do(t, s, s.CreateAdminCredential, adm))
	ch := watch(t, s)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"UpdatePrincipal", func() error {
			p := mustPrincipal(t, s, w.alice.ID)
			p.Status = mayfly.Suspended
			return do(t, s, s.UpdatePrincipal, p)
		}},
		{"UpdateClient", func() error {
			c := *w.cA
			c.SecretHash, c.SecretRotatedAt = []byte("rotated"), t0.Add(time.Hour)
			return do(t, s, s.UpdateClient, &c)
		}},
		{"RevokeAdminCredential", func() error { return revokeAdmin(t, s, adm.ID, t0.Add(time.Hour)) }},
	}
	for _, st := range steps {
		must(t, st.name, st.fn())
		t.Run(st.name, func(t *testing.T) { ch.expect(t, mayfly.ChangeIdentity) })
	}
}
