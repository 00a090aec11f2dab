package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// customerToken mints an access token for subject sub with login acting
// for it, as a token exchange by login would.
func customerToken(t testing.TB, env *servertest.Env, login *mayfly.Client, sub string) string {
	t.Helper()
	ctx := context.Background()
	c, err := env.Server.Identity.Client(ctx, login.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.Server.Token.Admit(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := env.Server.Token.Issue(ctx, a, token.Request{SourceIP: "127.0.0.1", Subject: sub, Actor: login.ID})
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestSubjectRevokeAgainstMayfly: logging one customer out, then every
// customer issued before a time, over real HTTP, with a verifier following
// the revocation stream and with introspection; and the marks hold after a
// restart.
func TestSubjectRevokeAgainstMayfly(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	login, loginSecret := env.NewClient(api.ClientRequest{Name: "login", Owner: env.Human("lena"), Exchange: []string{"customer", "partner"}, Audiences: []string{audience},
		JWKS: json.RawMessage(tokentest.LoginJWKS), TokenEndpointAuthMethod: "client_secret_basic"})
	orders, ordersSecret := env.NewClient(api.ClientRequest{Name: "orders", Owner: env.Human("olga"), Audiences: []string{audience}})
	v := newVerifier(t, env, sdk.Config{ClientID: orders.ID, ClientSecret: ordersSecret})

	type want struct {
		tok    string
		name   string
		active bool
	}
	check := func(env *servertest.Env, v *sdk.Verifier, ws ...want) {
		t.Helper()
		for _, w := range ws {
			_, err := v.Verify(ctx, w.tok)
			switch {
			case w.active && err != nil:
				t.Errorf("%s: the verifier refused it: %v", w.name, err)
			case !w.active && !errors.Is(err, sdk.Revoked):
				t.Errorf("%s: the verifier said %v, want %q", w.name, err, sdk.Revoked)
			}
			if got := env.Active(w.tok, orders.ID, ordersSecret); got != w.active {
				t.Errorf("%s: introspection active %v, want %v", w.name, got, w.active)
			}
		}
	}

	alice := customerToken(t, env, login, "customer:1")
	bob := customerToken(t, env, login, "customer:2")
	service := env.IssueToken(login.ID, loginSecret, nil)
	check(env, v, want{alice, "alice", true}, want{bob, "bob", true}, want{service, "the login service's own token", true})

	// Alice changed her password: she alone is logged out.
	env.Clock.Advance(time.Second)
	rev, err := env.Admin.RevokeSubject(ctx, "customer:1", "password changed")
	if err != nil {
		t.Fatal(err)
	}
	if rev.Kind != mayfly.RevokeSubject || rev.Subject != "customer:1" || !rev.At.Equal(env.Clock.Now()) || rev.Reason != "password changed" {
		t.Fatalf("got revocation %+v", rev)
	}
	waitSeq(t, v, rev.Seq)
	env.Clock.Advance(time.Millisecond)
	aliceAgain := customerToken(t, env, login, "customer:1")
	check(env, v, want{alice, "alice before her logout", false}, want{aliceAgain, "alice after her logout", true},
		want{bob, "bob", true}, want{service, "the login service's own token", true})

	// After a breach, every customer issued before T is logged out: none
	// of another namespace, and no service.
	env.Clock.Advance(time.Minute)
	partner := customerToken(t, env, login, "partner:1")
	before := env.Clock.Now()
	env.Clock.Advance(time.Second)
	carol := customerToken(t, env, login, "customer:3") // issued after T
	env.Clock.Advance(time.Minute)
	rev, err = env.Admin.RevokeNamespace(ctx, api.NamespaceRevokeRequest{Namespace: "customer", Before: before, Reason: "breach"})
	if err != nil {
		t.Fatal(err)
	}
	if rev.Kind != mayfly.RevokeNamespace || rev.Subject != "customer" || !rev.At.Equal(before) {
		t.Fatalf("got revocation %+v", rev)
	}
	waitSeq(t, v, rev.Seq)
	after := []want{{alice, "alice", false}, {aliceAgain, "alice's new token, issued before T", false}, {bob, "bob", false},
		{carol, "carol, issued after T", true}, {partner, "a partner", true}, {service, "the login service's own token", true}}
	check(env, v, after...)

	// The marks are durable: a restarted server and a new verifier hold them.
	env = env.Restart()
	v = newVerifier(t, env, sdk.Config{ClientID: orders.ID, ClientSecret: ordersSecret})
	check(env, v, after...)
}
