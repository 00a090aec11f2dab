package app_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/offboard"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// replicas assembles n servers on one PostgreSQL store, one root key and
// one clock, as replicas behind a load balancer.
func replicas(t *testing.T, n int, clock mayfly.Clock) []*app.App {
	t.Helper()
	dsn := pgtest.DSN(t)
	root := filepath.Join(t.TempDir(), "root.key")
	var out []*app.App
	for range n {
		s, err := app.New(t.Context(), app.Config{
			DataDir: t.TempDir(), Issuer: "https://mayfly.test", Store: dsn, RootKeyFile: root,
			Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatalf("app.New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// TestScheduledRotationRace: when a key's window ends, every replica's
// schedule wakes at once and tries to rotate. Exactly one new key must
// come of it each time, and every replica must publish it.
func TestScheduledRotationRace(t *testing.T) {
	clock := apptest.NewClock(apptest.Epoch)
	ss := replicas(t, 3, clock)
	ctx := context.Background()
	const rounds = 6
	for round := 1; round <= rounds; round++ {
		clock.Advance(mayfly.DefaultKeyLifetime + time.Second)
		var wg sync.WaitGroup
		for _, s := range ss {
			for range 3 {
				wg.Go(func() {
					if err := s.Maintain(ctx); err != nil {
						t.Errorf("Maintain: %v", err)
					}
				})
				wg.Go(func() {
					if _, err := s.Keys.Signer(ctx, "default"); err != nil {
						t.Errorf("Signer: %v", err)
					}
				})
			}
		}
		wg.Wait()
		if err := ss[0].Keys.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		keys := ss[0].Keys.Keys("default")
		// The ring began with an active and a next key; each round's
		// rotation adds one next key, however many replicas raced.
		if len(keys) != 2+round {
			t.Fatalf("round %d: %d keys; want %d", round, len(keys), 2+round)
		}
		states := map[mayfly.KeyState]int{}
		for _, k := range keys {
			states[k.State(clock.Now())]++
		}
		if states[mayfly.KeyActive] != 1 || states[mayfly.KeyNext] != 1 {
			t.Fatalf("round %d: states %v; want one active and one next key", round, states)
		}
		// Every replica publishes the new next key before it signs.
		var published []string
		for _, k := range keys {
			if k.Published(clock.Now()) {
				published = append(published, k.KID)
			}
		}
		for i, s := range ss {
			var got []string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				got = got[:0]
				for _, k := range s.Keys.JWKS().Keys {
					got = append(got, k.KeyID)
				}
				slices.Sort(got)
				slices.Sort(published)
				if slices.Equal(got, published) || time.Now().After(deadline) {
					break
				}
			}
			if !slices.Equal(got, published) {
				t.Fatalf("round %d: replica %d publishes %v; want %v", round, i, got, published)
			}
		}
	}
	// The audit log tells the same story: one key.created per key.
	recs, err := ss[1].Audit.Search(ctx, mayfly.AuditFilter{Action: "key.created", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2+rounds {
		t.Errorf("%d key.created entries; want %d", len(recs), 2+rounds)
	}
	rep, err := ss[2].Audit.Verify(ctx)
	if err != nil || !rep.OK {
		t.Errorf("audit verify: %+v %v", rep, err)
	}
}

// TestReplicaAuditAppends: replicas appending at once keep one dense log
// whose entries every replica can prove.
func TestReplicaAuditAppends(t *testing.T) {
	ss := replicas(t, 3, mayfly.SystemClock{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, s := range ss {
		for range 8 {
			wg.Go(func() {
				for range 25 {
					if _, err := s.Audit.Append(ctx, mayfly.AuditEntry{Action: "test.appended"}); err != nil {
						t.Errorf("Append: %v", err)
					}
				}
			})
		}
	}
	wg.Wait()
	recs, err := ss[0].Audit.Search(ctx, mayfly.AuditFilter{Action: "test.appended", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3*8*25 {
		t.Fatalf("%d entries; want %d", len(recs), 3*8*25)
	}
	for i, s := range ss {
		rep, err := s.Audit.Verify(ctx)
		if err != nil || !rep.OK {
			t.Errorf("replica %d: audit verify: %+v %v", i, rep, err)
		}
		cp, err := s.Audit.Checkpoint(ctx)
		if err != nil {
			t.Fatalf("replica %d: checkpoint: %v", i, err)
		}
		last := recs[len(recs)-1].Index
		if _, err := s.Audit.Inclusion(ctx, last, cp.Size); err != nil {
			t.Errorf("replica %d: inclusion proof of %d in %d: %v", i, last, cp.Size, err)
		}
	}
}

// TestRevocationNotHeldUpByKeyLock: while one replica holds the keys lock
// (mid-rotation, or stalled), another replica's own rotation waits for it;
// that replica must still hear of key changes and revocations meanwhile.
func TestRevocationNotHeldUpByKeyLock(t *testing.T) {
	ss := replicas(t, 2, mayfly.SystemClock{})
	a, b := ss[0], ss[1]
	ctx := context.Background()
	// A lock taken on a session of its own stands for another replica's.
	other := ss[0].Store()
	unlock, err := other.Lock(ctx, "keys")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	maintained := make(chan error, 1)
	go func() { maintained <- b.Maintain(ctx) }() // waits for the lock
	time.Sleep(50 * time.Millisecond)             // let it start waiting
	keys, err := other.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A key change notice, as a rotation sends.
	if err := mayfly.Transact(ctx, other, func(tx mayfly.Tx) error { return other.SaveKeys(tx, keys[:1]) }); err != nil {
		t.Fatal(err)
	}
	rev := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-during-rotation", Until: time.Now().Add(time.Hour), Reason: "test"}
	if err := a.Audit.Update(ctx, func(tx mayfly.Tx) error { return a.Revoker.Revoke(tx, rev) }); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !b.Revoker.Revoked(mayfly.RevokeToken, "jti-during-rotation"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a revocation did not reach a replica while another replica held the keys lock")
		}
	}
	unlock()
	if err := <-maintained; err != nil {
		t.Errorf("Maintain after the lock was released: %v", err)
	}
}

// TestRootRotationAcrossReplicas: after one replica replaces the root key,
// a replica that still has only the old root key file refuses to seal new
// key material (which the others could not open) until it gets the new file.
func TestRootRotationAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	clock := apptest.NewClock(apptest.Epoch)
	ctx := context.Background()
	rootA, rootB := filepath.Join(t.TempDir(), "root.key"), filepath.Join(t.TempDir(), "root.key")
	start := func(root string) *app.App {
		s, err := app.New(ctx, app.Config{DataDir: t.TempDir(), Issuer: "https://mayfly.test", Store: dsn, RootKeyFile: root,
			Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("app.New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := start(rootA)
	copyFile(t, rootA, rootB)
	b := start(rootB)

	ops, err := a.Identity.CreatePrincipal(ctx, "ops", mayfly.Human, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Identity.GrantCustody(ctx, ops.ID, mayfly.AssetRootKey, mayfly.RootKeyAsset, mayfly.CustodyBreakGlass, "drill"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, err := a.Offboard.Offboard(ctx, ops.ID, offboard.Options{}); err != nil {
		t.Fatal(err)
	}

	// The schedule needs a new key on b, which lacks the new root key.
	clock.Advance(mayfly.DefaultKeyLifetime)
	if err := b.Keys.Maintain(ctx); err == nil {
		t.Fatal("a replica without the new root key file sealed new key material")
	}
	if err := a.Keys.Maintain(ctx); err != nil {
		t.Fatalf("the replica that rotated: %v", err)
	}
	// Every stored key opens under the new root key.
	key, err := seal.ReadRootKey(rootA)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(key)
	keys, _ := a.Store().Keys(ctx)
	for _, k := range keys {
		if len(k.Sealed) > 0 {
			if _, err := sealer.Open(k.Sealed, []byte("mayfly signing key "+k.KID)); err != nil {
				t.Errorf("key %s does not open under the new root key", k.KID)
			}
		}
	}
	// With the new file in place (as a shared mount would have it), b goes on.
	copyFile(t, rootA, rootB)
	if err := b.Keys.Maintain(ctx); err != nil {
		t.Errorf("after receiving the new root key file: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
