package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestLoweredCeilingKeepsLiveTokensVerifiable: a restart that lowers the
// ceiling stops a key that signed past it, but keeps it published until
// every token it signed has expired (invariant 1).
func TestLoweredCeilingKeepsLiveTokensVerifiable(t *testing.T) {
	ceiling := func(d time.Duration, allow bool) servertest.Option {
		return func(c *serverConfig) { c.KeyLifetimeCeiling, c.AllowLongKeyLifetime = d, allow }
	}
	env := servertest.New(t, ceiling(90*24*time.Hour, true))
	if _, err := env.Admin.CreateRing(context.Background(), api.RingRequest{Name: "long", Lifetime: "1440h"}); err != nil {
		t.Fatal(err)
	}
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner, Ring: "long"})
	env.Clock.Advance(40 * 24 * time.Hour) // inside the 60-day window, past the 30-day ceiling
	tok := env.IssueToken(c.ID, secret, nil)
	if !env.Active(tok, c.ID, secret) {
		t.Fatal("fresh token inactive")
	}
	env.Clock.Advance(time.Minute) // the token lives 5 minutes
	env2 := env.Restart()
	if !env2.Active(tok, c.ID, secret) {
		t.Errorf("token issued 1 minute ago (exp in 4 minutes) is rejected after a restart that lowered the ceiling: its key was retired while it had live tokens")
	}
}

// TestRotationWaitsForPublication: a manual rotation never makes a key sign
// that verifiers' cached JWKS (max-age 60 s) may lack.
func TestRotationWaitsForPublication(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	env.Clock.Advance(time.Hour) // past the ring's first minutes, when any rotation is allowed
	if _, err := env.Admin.Rotate(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	// The next key was made by that rotation: a second one is refused until
	// verifiers' caches can have it, and allowed after.
	if _, err := env.Admin.Rotate(ctx, "default"); !errorsIs(err, mayfly.ErrConflict) {
		t.Fatalf("second rotation at once: got %v, want a conflict", err)
	}
	env.Clock.Advance(mayfly.MinPublication)
	if _, err := env.Admin.Rotate(ctx, "default"); err != nil {
		t.Fatalf("second rotation after %s: %v", mayfly.MinPublication, err)
	}
	for _, k := range keysByState(t, env, "default")[mayfly.KeyActive] {
		if published := k.ActivateAt.Sub(k.CreatedAt); published < mayfly.JWKSMaxAge {
			t.Errorf("active key %s was published %s before it started signing; JWKS caches hold %ds", k.KID, published, httpapi.JWKSMaxAge)
		}
	}
}

// TestBootstrapCredentialFileIsPrivate: an admin.token left behind (say,
// after the database was reset) is replaced by a new 0600 file, not written into.
func TestBootstrapCredentialFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(path, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	env := servertest.Start(t, dir, servertest.NewClock(servertest.Epoch))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.Token, "mfa_") {
		t.Fatalf("no fresh credential written: %q", env.Token)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("bootstrap admin credential written to %s with mode %v, want 0600", path, fi.Mode().Perm())
	}
}

// TestKeyHolderCannotMintOverlongTokens: even a holder of key material
// cannot make a token that lives longer than MaxTokenTTL or claims an iat
// outside its key's window: that is the incident this service exists for.
func TestKeyHolderCannotMintOverlongTokens(t *testing.T) {
	env := servertest.New(t)
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner})
	sg, err := env.Server.Keys.Signer(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": env.URL, "sub": c.ID, "aud": env.URL, "client_id": c.ID, "principal": owner, "jti": "forged-by-key-holder",
		"iat": now.Add(-365 * 24 * time.Hour).Unix(), "nbf": now.Add(-365 * 24 * time.Hour).Unix(), "exp": now.Add(10 * 365 * 24 * time.Hour).Unix(),
	})
	raw, err := sg.Sign(payload, now)
	if err != nil {
		t.Fatal(err)
	}
	if env.Active(raw, c.ID, secret) {
		t.Errorf("token with a 11-year lifetime, iat a year before its key existed, and no issuance record is active")
	}
}
