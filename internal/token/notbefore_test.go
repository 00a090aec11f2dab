package token_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/servertest"
	"github.com/mayflyhq/mayfly/internal/token"
)

// TestNotBeforeMark: a client's not-before mark rejects the tokens issued
// before it and accepts those issued after it, to the millisecond the jti
// carries, even within one second of iat. A jti whose time disagrees with
// iat, which only a holder of the signing key could make, does not move a
// token past the mark: its iat decides.
func TestNotBeforeMark(t *testing.T) {
	ctx := context.Background()
	env := servertest.New(t)
	c, _ := env.NewClient(httpapi.ClientRequest{Owner: env.Human("nbf")})
	svc := env.Server.Token
	issue := func() string {
		t.Helper()
		cl, err := env.Server.Identity.Client(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := svc.Issue(ctx, cl, token.Request{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}

	env.Clock.Advance(200 * time.Millisecond)
	before := issue()
	// The same claims, signed with the service's own key, but with a jti
	// that says the token was made two seconds after its iat.
	parsed, err := jwt.ParseSigned(before, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims token.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.ID, err = mayfly.NewJTI(time.Unix(claims.IssuedAt, 0).Add(2*time.Second), rand.Reader); err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := env.Server.Keys.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := signer.Sign(payload, env.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{"issued": before, "forged": forged} {
		if _, err := svc.Verify(raw); err != nil {
			t.Fatalf("control: the %s token does not verify before the mark: %v", name, err)
		}
	}

	env.Clock.Advance(300 * time.Millisecond) // the mark is half a second past iat
	mark := &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: c.ID, Reason: "test"}
	if err := env.Server.Revoker.RevokeAll(ctx, []*mayfly.Revocation{mark}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(200 * time.Millisecond)
	after := issue() // in the mark's second, after it

	for _, tc := range []struct {
		name, raw string
		active    bool
	}{
		{"issued before the mark", before, false},
		{"forged jti after the mark, iat before it", forged, false},
		{"issued after the mark in the same second", after, true},
	} {
		_, err := svc.Verify(tc.raw)
		if tc.active && err != nil {
			t.Errorf("%s: Verify: %v; want active", tc.name, err)
		}
		if !tc.active && (err == nil || !strings.Contains(err.Error(), "not-before")) {
			t.Errorf("%s: Verify: %v; want rejected by the not-before mark", tc.name, err)
		}
		if got := svc.Introspect(ctx, tc.raw) != nil; got != tc.active {
			t.Errorf("%s: Introspect active %v; want %v", tc.name, got, tc.active)
		}
	}
}
