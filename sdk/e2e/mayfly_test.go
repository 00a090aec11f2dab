// Package e2e_test runs the SDK against a complete Mayfly (SQLite, real
// HTTP, the real revocation stream), where sdk's own tests use the sdktest
// fake: it is what keeps the fake honest. It lives apart from package sdk so
// that the SDK's tests build without the server.
package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server/servertest"
)

const audience = "https://orders.example"

type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newVerifier(t *testing.T, env *servertest.Env, cfg sdk.Config) *sdk.Verifier {
	t.Helper()
	cfg.Issuer, cfg.Audience, cfg.Clock = env.URL, audience, env.Clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := sdk.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("sdk.New: %v", err)
	}
	t.Cleanup(v.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return v
}

func waitSeq(t *testing.T, v *sdk.Verifier, seq int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.WaitSeq(ctx, seq); err != nil {
		t.Fatalf("WaitSeq(%d): %v (at %d)", seq, err, v.Seq())
	}
}

func TestAgainstMayfly(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Name: "orders", Owner: owner, Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{audience}})
	other, otherSecret := env.NewClient(api.ClientRequest{Name: "billing", Owner: env.Human("bob"), Scopes: []string{"orders.read"}, Audiences: []string{audience}})

	// One verifier reads the stream with client credentials, one as an admin.
	byClient := newVerifier(t, env, sdk.Config{ClientID: c.ID, ClientSecret: secret})
	byAdmin := newVerifier(t, env, sdk.Config{AdminToken: env.Token})
	verifiers := []*sdk.Verifier{byClient, byAdmin}
	check := func(tok string, want sdk.Reason) {
		t.Helper()
		for i, v := range verifiers {
			_, err := v.Verify(ctx, tok)
			if want == "" && err != nil || want != "" && !errors.Is(err, want) {
				t.Fatalf("verifier %d: got %v, want %q", i, err, want)
			}
		}
	}

	tok := env.IssueToken(c.ID, secret, nil)
	cl, err := byClient.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Issuer != env.URL || cl.ClientID != c.ID || cl.Principal != owner || !cl.HasScope("orders.write") || cl.KeyID == "" {
		t.Errorf("got claims %+v", cl)
	}
	check(tok, "")

	// The middleware in front of a handler.
	h := sdk.NewMiddleware(byClient, "orders.read").Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := sdk.ClaimsFrom(r.Context())
		w.Write([]byte(c.ClientID))
	}))
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != c.ID {
		t.Errorf("middleware: got %d %q, want 200 %q", w.Code, w.Body, c.ID)
	}

	before := env.IssueToken(c.ID, secret, nil)

	// One token revoked.
	rev, err := env.Admin.RevokeToken(ctx, cl.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range verifiers {
		waitSeq(t, v, rev.Seq)
	}
	check(tok, sdk.Revoked)
	check(env.IssueToken(c.ID, secret, nil), "")

	// The other client, revoked: its tokens fail, c's do not.
	otherTok := env.IssueToken(other.ID, otherSecret, nil)
	check(otherTok, "")
	rev, err = env.Admin.RevokeClient(ctx, other.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range verifiers {
		waitSeq(t, v, rev.Seq)
	}
	check(otherTok, sdk.Revoked)
	check(env.IssueToken(c.ID, secret, nil), "")

	// A key revoked: every token it signed is refused.
	third, thirdSecret := env.NewClient(api.ClientRequest{Name: "reports", Owner: env.Human("carol"), Scopes: []string{"orders.read"}, Audiences: []string{audience}})
	signed := env.IssueToken(third.ID, thirdSecret, nil)
	check(signed, "")
	// A person suspended: every token of the clients they own is refused.
	env.Clock.Advance(time.Second)
	if _, err := env.Admin.Suspend(ctx, owner, "test"); err != nil {
		t.Fatal(err)
	}
	// Revocations are numbered in order: once the verifiers hold the next
	// one, they hold the suspension's.
	unrelated, err := byClient.Verify(ctx, env.IssueToken(third.ID, thirdSecret, nil))
	if err != nil {
		t.Fatal(err)
	}
	rev, err = env.Admin.RevokeToken(ctx, unrelated.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range verifiers[1:] { // byClient reads the stream as the suspended person's client
		waitSeq(t, v, rev.Seq)
	}
	if _, err := byAdmin.Verify(ctx, before); !errors.Is(err, sdk.Revoked) {
		t.Fatalf("a token of a suspended person's client: got %v, want %q", err, sdk.Revoked)
	}
	check2 := func(tok string, want sdk.Reason) {
		t.Helper()
		if _, err := byAdmin.Verify(ctx, tok); want == "" && err != nil || want != "" && !errors.Is(err, want) {
			t.Fatalf("got %v, want %q", err, want)
		}
	}
	check2(signed, "")

	var kid string
	if cl, err := byAdmin.Verify(ctx, signed); err == nil {
		kid = cl.KeyID
	}
	rev, err = env.Admin.RevokeKey(ctx, kid, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitSeq(t, byAdmin, rev.Seq)
	check2(signed, sdk.Revoked)
}

// The stream refuses wrong credentials with 401, which keeps a verifier from
// ever being ready.
func TestAgainstMayflyRefused(t *testing.T) {
	env := servertest.New(t)
	c, secret := env.NewClient(api.ClientRequest{Name: "orders", Owner: env.Human("alice"), Audiences: []string{audience}})
	for _, auth := range []func(*http.Request){
		func(r *http.Request) { r.SetBasicAuth(c.ID, secret+"x") },
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer mfa_wrong") },
		func(r *http.Request) {},
	} {
		r, _ := http.NewRequest("GET", env.URL+"/v1/revocations/stream", nil)
		auth(r)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("got %s, want 401", resp.Status)
		}
	}
	v, err := sdk.New(context.Background(), sdk.Config{Issuer: env.URL, Audience: audience, ClientID: c.ID, ClientSecret: "wrong", Clock: env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_, err = v.Verify(context.Background(), env.IssueToken(c.ID, secret, nil))
	if !errors.Is(err, sdk.Stale) {
		t.Errorf("got %v, want %q", err, sdk.Stale)
	}
}

// TestAgainstMayflyRestart: when the server goes away the verifier keeps
// accepting tokens only until MaxStale has passed without word, then fails
// closed; when the server comes back it resumes from the last revocation it
// had, so a revocation made while it was disconnected still reaches it.
func TestAgainstMayflyRestart(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Name: "orders", Owner: owner, Audiences: []string{audience}})
	v := newVerifier(t, env, sdk.Config{ClientID: c.ID, ClientSecret: secret, MaxStale: 30 * time.Second})
	early := env.IssueToken(c.ID, secret, nil)
	if _, err := env.Admin.RevokeToken(ctx, jtiOf(t, v, early), "before the restart"); err != nil {
		t.Fatal(err)
	}
	tok := env.IssueToken(c.ID, secret, nil)
	waitSeq(t, v, 1)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("a fresh token before the restart: %v", err)
	}

	env.Stop()
	env.Clock.Advance(10 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("within MaxStale of the last word: %v; want the token accepted", err)
	}
	env.Clock.Advance(25 * time.Second)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.Stale) {
		t.Errorf("past MaxStale with the server down: %v; want a stale-feed refusal", err)
	}

	// The server comes back; before the verifier reconnects, the token is
	// revoked. Resuming from its last revocation, the verifier hears of it.
	env = env.Restart()
	rev, err := env.Admin.RevokeToken(ctx, jtiOf(t, v, tok), "while the verifier was away")
	if err != nil {
		t.Fatal(err)
	}
	waitSeq(t, v, rev.Seq)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.Revoked) {
		t.Errorf("after reconnecting: %v; want the token revoked", err)
	}
	fresh := env.IssueToken(c.ID, secret, nil)
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Errorf("a fresh token after the restart: %v", err)
	}
}

// jtiOf reads a token's jti without checking it.
func jtiOf(t *testing.T, v *sdk.Verifier, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("malformed token %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var cl struct {
		JTI string `json:"jti"`
	}
	if err != nil || json.Unmarshal(b, &cl) != nil {
		t.Fatalf("token payload: %v", err)
	}
	return cl.JTI
}

// TestAgainstMayflySuspension: a person's suspension reaches verifiers for
// everything it stops at the server, the clients of the services they own
// included, and tokens minted with a copy of the signing key after it; the
// reactivation lifts it, and no token minted before it comes back.
func TestAgainstMayflySuspension(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	alice := env.Human("alice")
	svc, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders-svc", Kind: mayfly.Service, Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	c, secret := env.NewClient(api.ClientRequest{Name: "orders", Owner: svc.ID, Audiences: []string{audience}})
	bob, bobSecret := env.NewClient(api.ClientRequest{Name: "billing", Owner: env.Human("bob"), Audiences: []string{audience}})
	v := newVerifier(t, env, sdk.Config{AdminToken: env.Token})
	stolen := env.Steal("default")
	check := func(when, tok string, want sdk.Reason) {
		t.Helper()
		if _, err := v.Verify(ctx, tok); want == "" && err != nil || want != "" && !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %q", when, err, want)
		}
	}
	// caughtUp waits until the verifier holds every revocation made so
	// far: they are numbered in order, so holding a new one is enough.
	caughtUp := func() {
		t.Helper()
		tok := env.IssueToken(bob.ID, bobSecret, nil)
		rev, err := env.Admin.RevokeToken(ctx, jtiOf(t, v, tok), "marker")
		if err != nil {
			t.Fatal(err)
		}
		waitSeq(t, v, rev.Seq)
	}

	before := env.IssueToken(c.ID, secret, nil)
	check("before the suspension", before, "")
	check("before the suspension, forged", stolen.Forge(c.ID, svc.ID, audience), "")

	env.Clock.Advance(time.Second)
	if _, err := env.Admin.Suspend(ctx, alice, "on leave"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Second)
	during := stolen.Forge(c.ID, svc.ID, audience)
	caughtUp()
	check("suspended: her service's client's earlier token", before, sdk.Revoked)
	check("suspended: a token forged for her service's client since", during, sdk.Revoked)
	check("suspended: a token forged naming only the service", stolen.Forge("cli_made_up", svc.ID, audience), sdk.Revoked)
	check("suspended: bob's token", env.IssueToken(bob.ID, bobSecret, nil), "")

	env.Clock.Advance(time.Second)
	if _, err := env.Admin.Reactivate(ctx, alice, "back"); err != nil {
		t.Fatal(err)
	}
	caughtUp()
	check("reactivated: a new token", env.IssueToken(c.ID, secret, nil), "")
	check("reactivated: a token from before the suspension", before, sdk.Revoked)
	check("reactivated: a token forged during the suspension", during, sdk.Revoked)
}
