package keys_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/seal"
)

type fixture struct {
	store    mayfly.Store
	audit    *audit.Log
	clock    *apptest.Clock
	seal     *seal.Sealer
	revokers map[*keys.Service]*revoke.Service // each service's revocation state
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := apptest.OpenStore(t, t.TempDir())
	root := make([]byte, seal.RootKeySize)
	rand.Read(root)
	s, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	clock := apptest.NewClock(apptest.Epoch)
	return &fixture{store: st, audit: apptest.AuditLog(t, st, clock), clock: clock, seal: s, revokers: map[*keys.Service]*revoke.Service{}}
}

func (f *fixture) service(t *testing.T, ceiling time.Duration) *keys.Service {
	t.Helper()
	ctx := context.Background()
	rev, err := revoke.New(ctx, f.store, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.New(ctx, keys.Config{Store: f.store, Sealer: f.seal, Revoker: rev, Audit: f.audit, Clock: f.clock, Rand: rand.Reader,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ceiling: ceiling})
	if err != nil {
		t.Fatal(err)
	}
	f.revokers[s] = rev
	return s
}

// TestSignerRefusesOutsideWindow: the window is checked at every signature,
// so a Signer held past its key's window cannot sign.
func TestSignerRefusesOutsideWindow(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	if err := s.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	sg, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sg.Sign([]byte(`{}`), f.clock.Now()); err != nil {
		t.Fatalf("sign inside the window: %v", err)
	}
	f.clock.Advance(mayfly.DefaultKeyLifetime)
	if _, err := sg.Sign([]byte(`{}`), f.clock.Now()); !errors.Is(err, mayfly.ErrUnavailable) {
		t.Errorf("sign at the window's end: got %v, want ErrUnavailable", err)
	}
	next, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if next.KID() == sg.KID() {
		t.Errorf("after the window the same key %s signs", sg.KID())
	}
}

// TestLoweredCeilingCutsWindows: keys made under an override stop signing
// once the ceiling is back to normal.
func TestLoweredCeilingCutsWindows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	long := f.service(t, 90*24*time.Hour)
	if _, err := long.CreateRing(ctx, "quarterly", mayfly.ES256, 90*24*time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	old, err := long.Signer(ctx, "quarterly")
	if err != nil {
		t.Fatal(err)
	}

	s := f.service(t, mayfly.KeyLifetimeCeiling) // restart with the default ceiling
	for _, k := range s.Keys("quarterly") {
		if w := k.DeactivateAt.Sub(k.ActivateAt); k.RevokedAt.IsZero() && w > mayfly.KeyLifetimeCeiling {
			t.Errorf("key %s (%s) keeps a %s window over the %s ceiling", k.KID, k.State(f.clock.Now()), w, mayfly.KeyLifetimeCeiling)
		}
	}
	f.clock.Advance(mayfly.KeyLifetimeCeiling)
	sg, err := s.Signer(ctx, "quarterly")
	if err != nil {
		t.Fatal(err)
	}
	if sg.KID() == old.KID() {
		t.Errorf("key %s still signs %s after it started, past the ceiling", sg.KID(), mayfly.KeyLifetimeCeiling)
	}
}

// TestRevokeActivePromotesNext: revoking the signing key hands over to the
// already-published next key and destroys the revoked key's material.
func TestRevokeActivePromotesNext(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	s.EnsureRing(ctx, keys.DefaultRing)
	var active, next *mayfly.Key
	for _, k := range s.Keys(keys.DefaultRing) {
		switch k.State(f.clock.Now()) {
		case mayfly.KeyActive:
			active = k
		case mayfly.KeyNext:
			next = k
		}
	}
	if _, err := s.Revoke(ctx, active.KID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, active.KID, "again"); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("second revoke: got %v, want ErrConflict", err)
	}
	sg, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if sg.KID() != next.KID {
		t.Errorf("signing with %s, want the next key %s", sg.KID(), next.KID)
	}
	k, _ := s.Key(active.KID)
	if k.State(f.clock.Now()) != mayfly.KeyRevoked || len(k.Sealed) != 0 {
		t.Errorf("revoked key: state %s, %d bytes of material; want revoked and none", k.State(f.clock.Now()), len(k.Sealed))
	}
	if _, _, ok := s.VerificationKey(active.KID); ok {
		t.Errorf("revoked key still verifies")
	}
	for _, jk := range s.JWKS().Keys {
		if jk.KeyID == active.KID {
			t.Errorf("revoked key in JWKS")
		}
	}
}

// TestStaleCopyCannotUndoRevocation: the store saves keys as it is told,
// so it is the service that never undoes a revocation nor restores
// destroyed material. Two services on one store stand for two replicas: one
// revokes a key and the other, which has not heard of it, rotates and
// maintains its ring from its stale view. The key stays revoked, with no
// material, and the audit log records the revocation with the key's ring.
func TestStaleCopyCannotUndoRevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.service(t, 0)
	a.EnsureRing(ctx, keys.DefaultRing)
	b := f.service(t, 0) // loaded now: its view has the key unrevoked
	var active *mayfly.Key
	for _, k := range a.Keys(keys.DefaultRing) {
		if k.State(f.clock.Now()) == mayfly.KeyActive {
			active = k
		}
	}
	if _, err := a.Revoke(ctx, active.KID, "compromised"); err != nil {
		t.Fatal(err)
	}
	if k, _ := b.Key(active.KID); !k.RevokedAt.IsZero() {
		t.Fatal("the second service heard of the revocation: the test needs a stale view")
	}
	f.clock.Advance(mayfly.MinPublication)
	if err := b.Rotate(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	if err := b.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := f.store.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if k.KID == active.KID && (k.RevokedAt.IsZero() || len(k.Sealed) != 0) {
			t.Errorf("key %s after a stale replica rotated: revoked at %v, %d bytes of material; want revoked, none", k.KID, k.RevokedAt, len(k.Sealed))
		}
	}
	recs, err := f.store.AuditEntries(ctx, mayfly.AuditFilter{Action: mayfly.ActionKeyRevoked, KID: active.KID})
	if err != nil || len(recs) != 1 || recs[0].Entry.Ring != keys.DefaultRing {
		t.Errorf("audit: %v, %v; want one %s entry for %s in ring %s", recs, err, mayfly.ActionKeyRevoked, active.KID, keys.DefaultRing)
	}
}

// TestSealedAtRest: what the store holds is not the private key.
func TestSealedAtRest(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	s.EnsureRing(context.Background(), keys.DefaultRing)
	ks, err := f.store.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if _, err := f.seal.Open(k.Sealed, []byte("mayfly signing key "+k.KID)); err != nil {
			t.Errorf("key %s: sealed material does not open under the root key: %v", k.KID, err)
		}
		if _, err := f.seal.Open(k.Sealed, []byte("mayfly signing key other")); err == nil {
			t.Errorf("key %s: sealed material opens for another kid", k.KID)
		}
	}
}

// TestSignaturesVerifyWithGoJose: the JWS the Signer writes is what go-jose
// expects for each algorithm. A thousand ES256 signatures make a short R or
// S (1 in 128 signatures) all but certain, so their padding is checked too.
func TestSignaturesVerifyWithGoJose(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	for alg, n := range map[mayfly.Alg]int{mayfly.ES256: 1000, mayfly.EdDSA: 50, mayfly.RS256: 5} {
		ring := strings.ToLower(string(alg))
		if _, err := s.CreateRing(ctx, ring, alg, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		sg, err := s.Signer(ctx, ring)
		if err != nil {
			t.Fatal(err)
		}
		_, pub, ok := s.VerificationKey(sg.KID())
		if !ok {
			t.Fatalf("%s: no verification key", alg)
		}
		for i := range n {
			payload := []byte(fmt.Sprintf(`{"n":%d}`, i))
			raw, err := sg.Sign(payload, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("%s #%d: parse: %v", alg, i, err)
			}
			got, err := jws.Verify(pub)
			if err != nil || string(got) != string(payload) {
				t.Fatalf("%s #%d: verify: %v, payload %q", alg, i, err, got)
			}
			h := jws.Signatures[0].Protected
			if h.KeyID != sg.KID() || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Fatalf("%s: header kid %q typ %v", alg, h.KeyID, h.ExtraHeaders[jose.HeaderType])
			}
		}
	}
}
