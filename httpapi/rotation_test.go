package httpapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

func keysByState(t *testing.T, env *servertest.Env, ring string) map[mayfly.KeyState][]api.KeyView {
	t.Helper()
	ks, err := env.Admin.Keys(context.Background(), ring)
	if err != nil {
		t.Fatal(err)
	}
	m := map[mayfly.KeyState][]api.KeyView{}
	for _, k := range ks {
		m[k.State] = append(m[k.State], k)
	}
	return m
}

// TestRotation follows the default ring through two rotations under a fake
// clock: every key is in the JWKS before it signs, stays there until the
// last token it signed has expired, and then leaves it with its material
// destroyed.
func TestRotation(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice"), TokenTTL: "1h"})

	st := keysByState(t, env, "default")
	if len(st[mayfly.KeyActive]) != 1 || len(st[mayfly.KeyNext]) != 1 {
		t.Fatalf("fresh ring: got %d active, %d next; want 1 and 1", len(st[mayfly.KeyActive]), len(st[mayfly.KeyNext]))
	}
	a, b := st[mayfly.KeyActive][0], st[mayfly.KeyNext][0]
	if got := b.ActivateAt.Sub(a.ActivateAt); got != mayfly.DefaultKeyLifetime {
		t.Errorf("next key starts %s after the active one, want %s", got, mayfly.DefaultKeyLifetime)
	}
	published := jwksKIDs(t, env)
	if !slices.Contains(published, a.KID) || !slices.Contains(published, b.KID) {
		t.Fatalf("JWKS %v: want active %s and next %s", published, a.KID, b.KID)
	}

	// The last token A signs, one second before its window ends, lives an hour.
	env.Clock.Advance(a.DeactivateAt.Sub(env.Clock.Now()) - time.Second)
	lastOfA := env.IssueToken(c.ID, secret, nil)
	if kid := kidOf(t, lastOfA); kid != a.KID {
		t.Fatalf("token signed by %s, want %s", kid, a.KID)
	}

	// A's window ends: B signs, and B was published a whole lifetime ago.
	env.Clock.Advance(time.Second)
	firstOfB := env.IssueToken(c.ID, secret, nil)
	if kid := kidOf(t, firstOfB); kid != b.KID {
		t.Fatalf("after A's window: token signed by %s, want %s", kid, b.KID)
	}
	if err := env.Server.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	st = keysByState(t, env, "default")
	if len(st[mayfly.KeyRetiring]) != 1 || st[mayfly.KeyRetiring][0].KID != a.KID || st[mayfly.KeyRetiring][0].Material != "destroyed" {
		t.Errorf("A should be retiring with its material destroyed: %+v", st[mayfly.KeyRetiring])
	}
	if len(st[mayfly.KeyNext]) != 1 {
		t.Fatalf("after rotation: %d next keys, want 1", len(st[mayfly.KeyNext]))
	}
	cKey := st[mayfly.KeyNext][0]
	if !slices.Contains(jwksKIDs(t, env), cKey.KID) {
		t.Errorf("new next key %s not published", cKey.KID)
	}

	// A's last token is valid until its expiry, and A stays published until then.
	env.Clock.Advance(time.Hour - 2*time.Second)
	if !env.Active(lastOfA, c.ID, secret) || !env.Active(firstOfB, c.ID, secret) {
		t.Errorf("A's last or B's first token inactive before its expiry")
	}
	if !slices.Contains(jwksKIDs(t, env), a.KID) {
		t.Errorf("A left the JWKS while its last token was still valid")
	}
	env.Clock.Advance(2 * time.Second)
	if env.Active(lastOfA, c.ID, secret) {
		t.Errorf("A's last token active after its expiry")
	}
	if slices.Contains(jwksKIDs(t, env), a.KID) {
		t.Errorf("A still in JWKS after every token it signed expired")
	}
	if err := env.Server.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if st := keysByState(t, env, "default"); len(st[mayfly.KeyRetired]) != 1 {
		t.Errorf("got %d retired keys, want A", len(st[mayfly.KeyRetired]))
	}
	if kid := kidOf(t, env.IssueToken(c.ID, secret, nil)); kid != b.KID {
		t.Errorf("signed by %s, want B %s", kid, b.KID)
	}
}

// TestManualRotation: "key rotate" makes the published next key sign now.
func TestManualRotation(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	before := keysByState(t, env, "default")
	old := env.IssueToken(c.ID, secret, nil)
	r, err := env.Admin.Rotate(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Keys) != 3 {
		t.Fatalf("after rotate: %d keys, want retiring, active and next", len(r.Keys))
	}
	if kid := kidOf(t, env.IssueToken(c.ID, secret, nil)); kid != before[mayfly.KeyNext][0].KID {
		t.Errorf("after rotate: signed by %s, want the previously published next key %s", kid, before[mayfly.KeyNext][0].KID)
	}
	if !env.Active(old, c.ID, secret) {
		t.Errorf("rotation invalidated a token of the retiring key")
	}
}

// TestCatchUpAfterDowntime: the server was down past rotation times.
func TestCatchUpAfterDowntime(t *testing.T) {
	for _, down := range []time.Duration{30 * time.Hour, 72 * time.Hour} {
		t.Run(down.String(), func(t *testing.T) {
			env := servertest.New(t)
			c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
			before := keysByState(t, env, "default")
			a, b := before[mayfly.KeyActive][0], before[mayfly.KeyNext][0]
			env.Clock.Advance(down)
			env = env.Restart()

			tok := env.IssueToken(c.ID, secret, nil)
			kid := kidOf(t, tok)
			if kid == a.KID {
				t.Fatalf("signed by %s after its window ended", kid)
			}
			if down < 48*time.Hour && kid != b.KID {
				t.Errorf("within B's window: signed by %s, want B %s", kid, b.KID)
			}
			if down >= 48*time.Hour && kid == b.KID {
				t.Errorf("after B's window: still signed by B")
			}
			if !slices.Contains(jwksKIDs(t, env), kid) {
				t.Errorf("signing key %s is not published", kid)
			}
			st := keysByState(t, env, "default")
			if len(st[mayfly.KeyActive]) != 1 || len(st[mayfly.KeyNext]) != 1 {
				t.Errorf("after catch-up: %d active, %d next; want 1 and 1", len(st[mayfly.KeyActive]), len(st[mayfly.KeyNext]))
			}
			if !env.Active(tok, c.ID, secret) {
				t.Errorf("token inactive")
			}
		})
	}
}

// TestLifetimeCeiling: a long-lived key cannot be configured by accident.
func TestLifetimeCeiling(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	tests := []struct {
		lifetime string
		ok       bool
	}{
		{"24h", true},
		{"720h", true},
		{"721h", false},
		{"43800h", false}, // five years
		{"1m", false},
	}
	for i, tt := range tests {
		_, err := env.Admin.CreateRing(ctx, api.RingRequest{Name: "r" + string(rune('a'+i)), Lifetime: tt.lifetime})
		if (err == nil) != tt.ok {
			t.Errorf("lifetime %s: got err %v, want ok=%v", tt.lifetime, err, tt.ok)
		}
		if !tt.ok && !errorsIs(err, mayfly.ErrInvalid) {
			t.Errorf("lifetime %s: got %v, want an Invalid error", tt.lifetime, err)
		}
	}
	_, err := env.Admin.CreateRing(ctx, api.RingRequest{Name: "five-years", Lifetime: "43800h"})
	if err == nil || !containsAll(err.Error(), "720h", "ceiling") {
		t.Errorf("got %v, want an error naming the 720h ceiling", err)
	}
}

// TestCeilingOverride: raising the ceiling needs an explicit flag, is
// logged, and is bounded even then.
func TestCeilingOverride(t *testing.T) {
	long := func(d time.Duration, allow bool) servertest.Option {
		return func(c *serverConfig) { c.KeyLifetimeCeiling, c.AllowLongKeyLifetime = d, allow }
	}
	if _, err := servertest.TryNew(t, long(90*24*time.Hour, false)); err == nil {
		t.Errorf("90-day ceiling without the override flag: got no error")
	}
	if _, err := servertest.TryNew(t, long(5*365*24*time.Hour, true)); err == nil {
		t.Errorf("five-year ceiling even with the override: got no error")
	}
	env, err := servertest.TryNew(t, long(90*24*time.Hour, true))
	if err != nil {
		t.Fatalf("90-day ceiling with the override: %v", err)
	}
	if !containsAll(env.Log.String(), "configuration override", "ceiling") {
		t.Errorf("override not logged; log:\n%s", env.Log.String())
	}
	if _, err := env.Admin.CreateRing(context.Background(), api.RingRequest{Name: "quarterly", Lifetime: "2160h"}); err != nil {
		t.Errorf("90-day ring under a 90-day ceiling: %v", err)
	}
}
