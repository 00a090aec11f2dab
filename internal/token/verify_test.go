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
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/token"
)

// keyHolder issues real tokens and forges tokens as someone holding the
// service's own signing key could: what Verify accepts from them is
// bounded by the claims alone.
type keyHolder struct {
	t      *testing.T
	env    *apptest.Env
	client *mayfly.Client
}

func newKeyHolder(t *testing.T) *keyHolder {
	env := apptest.New(t)
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("holder")})
	return &keyHolder{t: t, env: env, client: c}
}

// issue has the service issue a token to the client.
func (h *keyHolder) issue() string {
	h.t.Helper()
	ctx := context.Background()
	cl, err := h.env.App.Identity.Client(ctx, h.client.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.env.Issue(cl).AccessToken
}

// claims are the claims of a token the service issued.
func (h *keyHolder) claims(raw string) token.Claims {
	h.t.Helper()
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		h.t.Fatal(err)
	}
	var cl token.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&cl); err != nil {
		h.t.Fatal(err)
	}
	return cl
}

// forge signs cl with the service's current signing key.
func (h *keyHolder) forge(cl token.Claims) string {
	h.t.Helper()
	payload, err := json.Marshal(cl)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := h.signer().Sign(payload, h.env.Clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

func (h *keyHolder) signer() *keys.Signer {
	h.t.Helper()
	sg, err := h.env.App.Keys.Signer(context.Background(), keys.DefaultRing)
	if err != nil {
		h.t.Fatal(err)
	}
	return sg
}

// TestNotBeforeMark: a client's not-before mark rejects the tokens issued
// before it and accepts those issued after it, to the millisecond the jti
// carries, even within one second of iat. A jti whose time disagrees with
// iat, which only a holder of the signing key could make, does not move a
// token past the mark: its iat decides.
func TestNotBeforeMark(t *testing.T) {
	ctx := context.Background()
	h := newKeyHolder(t)
	svc := h.env.App.Token

	h.env.Clock.Advance(200 * time.Millisecond)
	before := h.issue()
	// The same claims, but with a jti that says the token was made two
	// seconds after its iat.
	claims := h.claims(before)
	var err error
	if claims.ID, err = mayfly.NewJTI(time.Unix(claims.IssuedAt, 0).Add(2*time.Second), rand.Reader); err != nil {
		t.Fatal(err)
	}
	forged := h.forge(claims)
	for name, raw := range map[string]string{"issued": before, "forged": forged} {
		if _, err := svc.Verify(raw); err != nil {
			t.Fatalf("control: the %s token does not verify before the mark: %v", name, err)
		}
	}

	h.env.Clock.Advance(300 * time.Millisecond) // the mark is half a second past iat
	mark := &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: h.client.ID, Reason: "test"}
	if err := h.env.App.Audit.Update(ctx, func(tx mayfly.Tx) error { return h.env.App.Revoker.Revoke(tx, mark) }); err != nil {
		t.Fatal(err)
	}
	h.env.Clock.Advance(200 * time.Millisecond)
	after := h.issue() // in the mark's second, after it

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

// TestVerifyBoundsKeyHolderClaims: a token signed with the service's own
// key is still refused if it claims more than the service ever issues: a
// lifetime past MaxTokenTTL, or an iat outside its key's signing window.
func TestVerifyBoundsKeyHolderClaims(t *testing.T) {
	h := newKeyHolder(t)
	svc := h.env.App.Token
	base := h.claims(h.issue())
	if _, err := svc.Verify(h.forge(base)); err != nil {
		t.Fatalf("control: a forgery of issued claims does not verify: %v", err)
	}
	key, err := h.env.App.Keys.Key(h.signer().KID())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(*token.Claims)
	}{
		{"lifetime past MaxTokenTTL", "lifetime", func(cl *token.Claims) {
			cl.Expiry = cl.IssuedAt + int64(mayfly.MaxTokenTTL/time.Second) + 1
		}},
		{"iat before the key signs", "signing window", func(cl *token.Claims) { cl.IssuedAt = key.ActivateAt.Unix() - 1 }},
		{"iat after the key stops signing", "signing window", func(cl *token.Claims) { cl.IssuedAt = key.DeactivateAt.Unix() + 1 }},
	} {
		cl := base
		tc.edit(&cl)
		if _, err := svc.Verify(h.forge(cl)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Verify: %v; want rejected for its %s", tc.name, err, tc.want)
		}
	}
}

// TestRevokedElsewhere: a revocation heard from another replica stops a
// client's tokens and its next token at once, although this replica's
// cached client and owner still look active: only the revocation state
// says otherwise.
func TestRevokedElsewhere(t *testing.T) {
	for _, kind := range []mayfly.RevocationKind{mayfly.RevokeClient, mayfly.RevokePrincipal} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			h := newKeyHolder(t)
			svc := h.env.App.Token
			tok := h.issue()
			c, err := h.env.App.Identity.Client(ctx, h.client.ID) // cached, as a busy replica holds it
			if err != nil {
				t.Fatal(err)
			}
			if svc.Introspect(ctx, tok) == nil {
				t.Fatal("control: a fresh token is not active")
			}
			subject := map[mayfly.RevocationKind]string{mayfly.RevokeClient: c.ID, mayfly.RevokePrincipal: c.OwnerID}[kind]
			rev := &mayfly.Revocation{Kind: kind, Subject: subject, Reason: "revoked on another replica"}
			if err := h.env.App.Audit.Update(ctx, func(tx mayfly.Tx) error { return h.env.App.Revoker.Revoke(tx, rev) }); err != nil {
				t.Fatal(err)
			}
			if svc.Introspect(ctx, tok) != nil {
				t.Errorf("a token is still active after its %s was revoked", kind)
			}
			if _, err := svc.Admit(ctx, c); err == nil {
				t.Errorf("a client was admitted to get tokens after its %s was revoked", kind)
			}
		})
	}
}

// TestVerifyRemembersOnlyWhatCannotChange: a token that verified once is
// refused again as soon as anything about it changes: its jti is revoked,
// its key is revoked, it expires. A string that differs from a verified
// one by a byte of its signature is refused as if never seen.
func TestVerifyRemembersOnlyWhatCannotChange(t *testing.T) {
	ctx := context.Background()
	for _, change := range []string{"jti revoked", "key revoked", "expired", "signature altered"} {
		t.Run(change, func(t *testing.T) {
			h := newKeyHolder(t)
			raw := h.issue()
			for range 2 { // verified, then found again
				if _, err := h.env.App.Token.Verify(raw); err != nil {
					t.Fatalf("fresh token refused: %v", err)
				}
			}
			cl := h.claims(raw)
			switch change {
			case "jti revoked":
				if _, err := h.env.App.Token.RevokeJTI(ctx, cl.ID, "test"); err != nil {
					t.Fatal(err)
				}
			case "key revoked":
				if _, err := h.env.App.Keys.Revoke(ctx, mustHeaderKID(t, raw), "test"); err != nil {
					t.Fatal(err)
				}
			case "expired":
				h.env.Clock.Advance(time.Unix(cl.Expiry, 0).Sub(h.env.Clock.Now()))
			case "signature altered":
				i := strings.LastIndexByte(raw, '.') + 5
				b := []byte(raw)
				if b[i] == 'A' { // a base64url letter for another: the form stays canonical
					b[i] = 'B'
				} else {
					b[i] = 'A'
				}
				raw = string(b)
			}
			if got, err := h.env.App.Token.Verify(raw); err == nil {
				t.Fatalf("%s: Verify accepted the token again: %+v", change, got)
			}
		})
	}
}

func mustHeaderKID(t *testing.T, raw string) string {
	t.Helper()
	parsed, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Signatures[0].Header.KeyID
}
