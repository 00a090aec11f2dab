package e2e_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// loginService is a company's login service: a client that exchanges
// subject tokens it signs, as RFC 8693 describes it, with nothing of
// Mayfly's but its URL.
type loginService struct {
	env    *servertest.Env
	id     string
	signer jose.Signer
	n      int
}

func newLoginService(t *testing.T, env *servertest.Env) *loginService {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "login-1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := env.NewClient(api.ClientRequest{Name: "login", Owner: env.Human("carol"), Scopes: []string{"orders.read"}, Audiences: []string{audience},
		JWKS: jwks, Exchange: []string{"customer"}})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "login-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &loginService{env: env, id: c.ID, signer: signer}
}

// sign signs a JWT from the login service to Mayfly, valid a minute.
func (l *loginService) sign(t *testing.T, sub, aud string) string {
	t.Helper()
	l.n++
	now := l.env.Clock.Now()
	raw, err := jwt.Signed(l.signer).Claims(jwt.Claims{Issuer: l.id, Subject: sub, Audience: jwt.Audience{aud}, ID: fmt.Sprint("jti-", l.n),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// exchange exchanges a subject token for sub, authenticated by
// private_key_jwt, and returns the token response.
func (l *loginService) exchange(t *testing.T, sub string) api.TokenResponse {
	t.Helper()
	resp, err := http.PostForm(l.env.URL+api.TokenPath, url.Values{
		"grant_type":            {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":         {l.sign(t, sub, l.env.URL)},
		"subject_token_type":    {"urn:ietf:params:oauth:token-type:jwt"},
		"audience":              {audience},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {l.sign(t, l.id, l.env.URL+api.TokenPath)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body api.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d, %v", resp.StatusCode, err)
	}
	return body
}

// A login service exchanges a subject token for its customer's access
// token; a service's verifier sees the customer as the subject and the
// login service as the actor.
func TestExchangedTokenVerifies(t *testing.T) {
	env := servertest.New(t)
	login := newLoginService(t, env)
	body := login.exchange(t, "customer:48213377")
	if body.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" || body.TokenType != "Bearer" || body.ExpiresIn <= 0 {
		t.Errorf("got issued_token_type %q, token_type %q, expires_in %d", body.IssuedTokenType, body.TokenType, body.ExpiresIn)
	}

	v := newVerifier(t, env, sdk.Config{AdminToken: env.Token})
	cl, err := v.Verify(t.Context(), body.AccessToken)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if cl.Subject != "customer:48213377" || cl.Actor != login.id || cl.ClientID != login.id || !cl.HasScope("orders.read") || cl.SessionID != "" || cl.JKT != "" {
		t.Errorf("got subject %q actor %q client %q scope %q sid %q jkt %q; want customer:48213377, %s, %s, orders.read, none, none",
			cl.Subject, cl.Actor, cl.ClientID, cl.Scope, cl.SessionID, cl.JKT, login.id, login.id)
	}
}

// The ledger tells a customer's genuine token, whose sub is not its
// client and which names an actor, from a forged one: reports of the
// genuine token raise no forged-token; a token for the same customer
// forged with a stolen key does.
func TestExchangedTokenNotForged(t *testing.T) {
	env := servertest.New(t)
	svc := newService(t, env)
	alerts := alertStream(t, env)
	login := newLoginService(t, env)
	genuine := login.exchange(t, "customer:48213377").AccessToken
	gcl, err := svc.v.Verify(t.Context(), genuine)
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.get(t, genuine); got != http.StatusOK {
		t.Fatalf("the exchanged token: %d; want 200", got)
	}
	if err := svc.rep.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	stolen := env.Steal("default")
	now := env.Clock.Now()
	jti, err := mayfly.NewJTI(now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := stolen.Sign(map[string]any{"iss": env.URL, "sub": "customer:48213377", "act": map[string]any{"sub": login.id}, "aud": audience,
		"client_id": login.id, "principal": gcl.Principal, "scope": "orders.read", "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	if got := svc.get(t, forged); got != http.StatusOK {
		t.Fatalf("a forged exchanged token, the key still trusted: %d; want 200", got)
	}
	a := forgedAlert(t, env, alerts, stolen.KID)
	// The genuine token was reported first, and its record was there to
	// compare with at once: had it fired, it would be in this alert or an
	// earlier one.
	all, err := env.Admin.Alerts(t.Context(), mayfly.AlertFilter{Rule: mayfly.RuleForgedToken})
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range all {
		for _, ev := range al.Evidence {
			if ev.JTI == gcl.ID {
				t.Errorf("forged-token fired for the genuine exchanged token: %+v", ev)
			}
		}
	}
	if len(a.Evidence) == 0 || a.Evidence[0].JTI != jti || a.Evidence[0].TokenSub != "customer:48213377" {
		t.Errorf("the alert's evidence: %+v; want the forged token's jti %s and sub customer:48213377", a.Evidence, jti)
	}
}
