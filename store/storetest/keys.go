package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Keys runs the suite of mayfly.KeyStore: key rings and signing keys.
func Keys(t *testing.T, open func(t *testing.T) KeyStore) {
	t.Helper()
	run(t, open, []test[KeyStore]{
		{"Rings/CreateAndGet", testRings},
		{"Keys/Insert", testKeysInsert},
		{"Keys/Update", testKeysUpdate},
		{"Keys/AllOrNone", testKeysAllOrNone},
		{"Keys/DestroyKeyMaterial", testKeysDestroy},
	})
}

func testRings(t *testing.T, s KeyStore) {
	ctx := t.Context()
	_, err := s.Ring(ctx, "main")
	wantErr(t, "Ring on an empty store", err, mayfly.ErrNotFound)
	rings := []*mayfly.Ring{
		{Name: "main", Alg: mayfly.ES256, Lifetime: 24 * time.Hour, CreatedAt: t0.Add(fine).In(zone)},
		{Name: "legacy", Alg: mayfly.RS256, Lifetime: 7*24*time.Hour + 90*time.Minute, CreatedAt: t0.Add(time.Hour)},
		{Name: "edge", Alg: mayfly.EdDSA, Lifetime: 5 * time.Minute, CreatedAt: t0.Add(-time.Hour)},
	}
	for _, r := range rings {
		must(t, "CreateRing "+r.Name, do(t, s, s.CreateRing, r))
	}
	dup := &mayfly.Ring{Name: "main", Alg: mayfly.RS256, Lifetime: time.Hour, CreatedAt: t0}
	wantErr(t, "CreateRing with an existing name", do(t, s, s.CreateRing, dup), mayfly.ErrConflict)
	for _, want := range rings {
		got, err := s.Ring(ctx, want.Name)
		if err != nil {
			t.Errorf("Ring(%q): %v", want.Name, err)
			continue
		}
		diffRing(got, want).report(t, fmt.Sprintf("Ring(%q)", want.Name))
	}
	_, err = s.Ring(ctx, "mai")
	wantErr(t, "Ring(mai)", err, mayfly.ErrNotFound)
	got, err := s.Rings(ctx)
	must(t, "Rings", err)
	byName := func(r *mayfly.Ring) string { return r.Name }
	diffList(t, "Rings sorted by name", sortedBy(got, byName), sortedBy(rings, byName), diffRing)
}

func testKeysInsert(t *testing.T, s KeyStore) {
	if keys := allKeys(t, s); len(keys) != 0 {
		t.Errorf("Keys on an empty store: got %d, want 0", len(keys))
	}
	must(t, "CreateRing", do(t, s, s.CreateRing, &mayfly.Ring{Name: "a", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: t0}))
	must(t, "CreateRing", do(t, s, s.CreateRing, &mayfly.Ring{Name: "b", Alg: mayfly.EdDSA, Lifetime: time.Hour, CreatedAt: t0}))
	// Oldest first across rings; kids deliberately out of order.
	k1 := newKey("kid-z", "b", t0.Add(fine))
	k1.Alg = mayfly.EdDSA
	k2 := newKey("kid-m", "a", t0.Add(time.Hour+fine).In(zone))
	k2.RevokedAt = t0.Add(90*time.Minute + fine)
	k3 := newKey("kid-a", "a", t0.Add(2*time.Hour))
	k3.Sealed = nil
	must(t, "SaveKeys", do(t, s, s.SaveKeys, []*mayfly.Key{k1, k2}))
	must(t, "SaveKeys", do(t, s, s.SaveKeys, []*mayfly.Key{k3}))
	diffList(t, "Keys", allKeys(t, s), []*mayfly.Key{k1, k2, k3}, diffKey)
}

// testKeysUpdate: SaveKeys replaces a key's windows, revocation time and
// material with what it is given, and nothing else. It decides nothing:
// the keys service destroys a revoked key's material (DestroyKeyMaterial)
// and saves only copies it has just read, under its lock.
func testKeysUpdate(t *testing.T, s KeyStore) {
	w := seedKeys(t, s)
	// Update the older key's windows and revoke it, and add a third key, in one call.
	a := *w.kA
	a.ActivateAt = a.ActivateAt.Add(-30 * time.Minute)
	a.DeactivateAt = t0.Add(3*time.Hour + fine)
	a.RetireAt = t0.Add(4*time.Hour + fine)
	a.RevokedAt = t0.Add(2*time.Hour + 7*time.Microsecond)
	kC := newKey("kid-c", w.ring.Name, t0.Add(48*time.Hour))
	must(t, "SaveKeys update", do(t, s, s.SaveKeys, []*mayfly.Key{&a, kC}))
	diffList(t, "Keys after update", allKeys(t, s), []*mayfly.Key{&a, w.kB, kC}, diffKey)

	// A stale copy is stored as it is: it undoes the revocation.
	stale := *w.kA
	must(t, "SaveKeys stale copy", do(t, s, s.SaveKeys, []*mayfly.Key{&stale}))
	diffList(t, "Keys after saving a stale copy", allKeys(t, s), []*mayfly.Key{w.kA, w.kB, kC}, diffKey)

	// Material saved as gone is gone, and saved again is back.
	gone := a
	gone.Sealed = nil
	must(t, "SaveKeys without material", do(t, s, s.SaveKeys, []*mayfly.Key{&gone}))
	diffList(t, "Keys after saving a key without material", allKeys(t, s), []*mayfly.Key{&gone, w.kB, kC}, diffKey)
	must(t, "SaveKeys with material", do(t, s, s.SaveKeys, []*mayfly.Key{&a}))
	diffList(t, "Keys after saving its material again", allKeys(t, s), []*mayfly.Key{&a, w.kB, kC}, diffKey)

	// What identifies a key is not replaced.
	other := a
	other.Alg, other.Public, other.CreatedAt = mayfly.EdDSA, []byte("another public key"), t0.Add(time.Hour)
	must(t, "SaveKeys changing the algorithm, public key and creation time", do(t, s, s.SaveKeys, []*mayfly.Key{&other}))
	diffList(t, "Keys after saving a key with another public half", allKeys(t, s), []*mayfly.Key{&a, w.kB, kC}, diffKey)

	// An update that moves a window back again is applied too: the store
	// keeps what it was given, not the latest time.
	b := *w.kB
	b.DeactivateAt = b.ActivateAt.Add(time.Minute)
	b.RetireAt = b.DeactivateAt.Add(time.Hour)
	must(t, "SaveKeys second update", do(t, s, s.SaveKeys, []*mayfly.Key{&b}))
	diffList(t, "Keys after second update", allKeys(t, s), []*mayfly.Key{&a, &b, kC}, diffKey)
}

func testKeysAllOrNone(t *testing.T, s KeyStore) {
	w := seedKeys(t, s)
	a := *w.kA
	a.DeactivateAt = a.DeactivateAt.Add(time.Hour)
	a.RevokedAt = t0.Add(time.Hour)
	fresh := newKey("kid-new", w.ring.Name, t0.Add(48*time.Hour))
	bad := newKey("kid-bad", "no-such-ring", t0.Add(49*time.Hour))
	if err := do(t, s, s.SaveKeys, []*mayfly.Key{&a, fresh, bad}); err == nil {
		t.Fatalf("SaveKeys with a key of a missing ring: got nil error, want an error")
	}
	diffList(t, "Keys after a failed SaveKeys", allKeys(t, s), []*mayfly.Key{w.kA, w.kB}, diffKey)
	// The same keys without the bad one are accepted: the failure was the bad key's.
	must(t, "SaveKeys without the bad key", do(t, s, s.SaveKeys, []*mayfly.Key{&a, fresh}))
	diffList(t, "Keys after SaveKeys", allKeys(t, s), []*mayfly.Key{&a, w.kB, fresh}, diffKey)
}

func testKeysDestroy(t *testing.T, s KeyStore) {
	w := seedKeys(t, s)
	kC := newKey("kid-c", w.ring.Name, t0.Add(48*time.Hour))
	must(t, "SaveKeys", do(t, s, s.SaveKeys, []*mayfly.Key{kC}))
	must(t, "DestroyKeyMaterial", do(t, s, s.DestroyKeyMaterial, []string{w.kA.KID, kC.KID}))
	a, c := *w.kA, *kC
	a.Sealed, c.Sealed = nil, nil
	diffList(t, "Keys after DestroyKeyMaterial", allKeys(t, s), []*mayfly.Key{&a, w.kB, &c}, diffKey)
	must(t, "DestroyKeyMaterial again", do(t, s, s.DestroyKeyMaterial, []string{w.kA.KID}))
	diffList(t, "Keys after destroying again", allKeys(t, s), []*mayfly.Key{&a, w.kB, &c}, diffKey)
}
