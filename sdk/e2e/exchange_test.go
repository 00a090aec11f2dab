package e2e_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// A login service exchanges a subject token for its customer's access
// token, as RFC 8693 describes it, with nothing of Mayfly's but its URL;
// a service's verifier sees the customer as the subject and the login
// service as the actor.
func TestExchangedTokenVerifies(t *testing.T) {
	env := servertest.New(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "login-1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	login, _ := env.NewClient(api.ClientRequest{Name: "login", Owner: env.Human("alice"), Scopes: []string{"orders.read"}, Audiences: []string{audience},
		JWKS: jwks, Exchange: []string{"customer"}})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "login-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	sign := func(sub, aud, jti string) string {
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: login.ID, Subject: sub, Audience: jwt.Audience{aud}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	resp, err := http.PostForm(env.URL+api.TokenPath, url.Values{
		"grant_type":            {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":         {sign("customer:48213377", env.URL, "st-1")},
		"subject_token_type":    {"urn:ietf:params:oauth:token-type:jwt"},
		"audience":              {audience},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {sign(login.ID, env.URL+api.TokenPath, "ca-1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken     string `json:"access_token"`
		TokenType       string `json:"token_type"`
		IssuedTokenType string `json:"issued_token_type"`
		ExpiresIn       int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d, %v", resp.StatusCode, err)
	}
	if body.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" || body.TokenType != "Bearer" || body.ExpiresIn <= 0 {
		t.Errorf("got issued_token_type %q, token_type %q, expires_in %d", body.IssuedTokenType, body.TokenType, body.ExpiresIn)
	}

	v := newVerifier(t, env, sdk.Config{AdminToken: env.Token})
	cl, err := v.Verify(t.Context(), body.AccessToken)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if cl.Subject != "customer:48213377" || cl.Actor != login.ID || cl.ClientID != login.ID || !cl.HasScope("orders.read") || cl.SessionID != "" || cl.JKT != "" {
		t.Errorf("got subject %q actor %q client %q scope %q sid %q jkt %q; want customer:48213377, %s, %s, orders.read, none, none",
			cl.Subject, cl.Actor, cl.ClientID, cl.Scope, cl.SessionID, cl.JKT, login.ID, login.ID)
	}
}
