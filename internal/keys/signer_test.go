package keys_test

import (
	"context"
	"testing"

	"github.com/mayflyhq/mayfly/internal/keys"
)

// TestHeldSignerStopsAtRotateAndRevoke: token.Issue takes a Signer and signs
// later. Once a rotation or revocation is acknowledged, a Signer fetched
// before it can no longer sign.
func TestHeldSignerStopsAtRotateAndRevoke(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	if err := s.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	held, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	k, _ := s.Key(held.KID())
	if !f.clock.Now().Before(k.DeactivateAt) {
		if _, err := held.Sign([]byte(`{}`), f.clock.Now()); err == nil {
			t.Errorf("key %s signed after rotation ended its window at %s", held.KID(), k.DeactivateAt)
		}
	}
	held2, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, held2.KID(), "compromised"); err != nil {
		t.Fatal(err)
	}
	if _, err := held2.Sign([]byte(`{}`), f.clock.Now()); err == nil {
		t.Errorf("key %s signed after its revocation was acknowledged", held2.KID())
	}
}

// TestWithSignerFollowsRevocation: a key revoked between fetching its
// Signer and signing does not fail the request: WithSigner signs again
// with the key that took over.
func TestWithSignerFollowsRevocation(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	if err := s.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	var tried []string
	sg, raw, err := s.WithSigner(ctx, keys.DefaultRing, func(sg *keys.Signer) (string, error) {
		tried = append(tried, sg.KID())
		if len(tried) == 1 {
			if _, err := s.Revoke(ctx, sg.KID(), "revoked mid-request"); err != nil {
				t.Fatal(err)
			}
		}
		return sg.Sign([]byte(`{}`), f.clock.Now())
	})
	if err != nil || raw == "" {
		t.Fatalf("WithSigner: %q, %v; want a token signed by the key that took over", raw, err)
	}
	if len(tried) != 2 || sg.KID() != tried[1] || tried[1] == tried[0] {
		t.Errorf("signed with %v, returned %s; want the revoked key, then its successor", tried, sg.KID())
	}
}

// TestSigningPassesOverKeyRevokedElsewhere: two services on one store
// stand for two replicas. Once this one has heard of the other's key
// revocation, it no longer signs with that key, even before it reloads its
// keys.
func TestSigningPassesOverKeyRevokedElsewhere(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	here, there := f.service(t, 0), f.service(t, 0)
	if err := here.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	if err := there.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	sg, err := here.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := there.Revoke(ctx, sg.KID(), "compromised"); err != nil {
		t.Fatal(err)
	}
	if err := f.revokers[here].Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if next, err := here.Signer(ctx, keys.DefaultRing); err == nil && next.KID() == sg.KID() {
		t.Errorf("still signing with %s after hearing of its revocation", sg.KID())
	}
}
