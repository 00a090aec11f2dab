package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestStandardClients gets tokens with golang.org/x/oauth2 using nothing but
// the discovery document, verifies them with go-oidc and go-jose against the
// published JWKS, and checks introspection.
func TestStandardClients(t *testing.T) {
	env := servertest.New(t, realClock)
	ctx := context.Background()
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner, Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{"https://orders.example"}})

	provider, err := oidc.NewProvider(ctx, env.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := clientcredentials.Config{
			ClientID: c.ID, ClientSecret: secret, TokenURL: provider.Endpoint().TokenURL,
			Scopes: []string{"orders.read"}, AuthStyle: style,
		}
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatalf("auth style %d: token: %v", style, err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
			t.Errorf("token type %q expiry %v, want Bearer with an expiry", tok.TokenType, tok.Expiry)
		}

		// go-oidc checks signature (via jwks_uri), iss, aud and exp.
		v := provider.Verifier(&oidc.Config{ClientID: "https://orders.example", SupportedSigningAlgs: []string{"ES256"}})
		idt, err := v.Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("go-oidc verify: %v", err)
		}
		if idt.Subject != c.ID {
			t.Errorf("sub %q, want %q", idt.Subject, c.ID)
		}

		// go-jose against the JWKS document, checking the RFC 9068 shape.
		claims, header := verifyWithJWKS(t, env, tok.AccessToken)
		if header.ExtraHeaders[jose.HeaderType] != "at+jwt" {
			t.Errorf("typ %v, want at+jwt", header.ExtraHeaders[jose.HeaderType])
		}
		for _, k := range []string{"iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope"} {
			if _, ok := claims[k]; !ok {
				t.Errorf("claim %s missing from %v", k, claims)
			}
		}
		if claims["scope"] != "orders.read" || claims["client_id"] != c.ID || claims["iss"] != env.URL {
			t.Errorf("claims %v: want scope orders.read, client_id %s, iss %s", claims, c.ID, env.URL)
		}
		if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 300 {
			t.Errorf("lifetime %v s, want the default 300 s", exp-iat)
		}
		if !env.Active(tok.AccessToken, c.ID, secret) {
			t.Errorf("introspection: fresh token inactive")
		}
	}
}

// realClock makes the server use the wall clock, for libraries that check
// expiry against it.
func realClock(cfg *server.Config) { cfg.Clock = mayfly.SystemClock{} }

func verifyWithJWKS(t *testing.T, env *servertest.Env, raw string) (map[string]any, jose.Header) {
	t.Helper()
	r := env.Do(mustRequest(t, "GET", env.URL+api.JWKSPath))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %s: %d keys in JWKS, want 1", tok.Headers[0].KeyID, len(keys))
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return claims, tok.Headers[0]
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func jwksKIDs(t *testing.T, env *servertest.Env) []string {
	t.Helper()
	r := env.Do(mustRequest(t, "GET", env.URL+api.JWKSPath))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

func jtiOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	tok.UnsafeClaimsWithoutVerification(&c)
	return c.ID
}

// TestRevocation checks that each way of revoking makes an active token
// inactive at once.
func TestRevocation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		revoke func(env *servertest.Env, c *mayfly.Client, secret, tok string) error
	}{
		{"token by admin", func(env *servertest.Env, c *mayfly.Client, secret, tok string) error {
			_, err := env.Admin.RevokeToken(ctx, jtiOf(t, tok), "test")
			return err
		}},
		{"token by client (RFC 7009)", func(env *servertest.Env, c *mayfly.Client, secret, tok string) error {
			if r := env.PostForm(api.RevokePath, url.Values{"token": {tok}}, c.ID, secret); r.Status != 200 {
				t.Fatalf("revoke: status %d: %s", r.Status, r.Body)
			}
			return nil
		}},
		{"client", func(env *servertest.Env, c *mayfly.Client, secret, tok string) error {
			_, err := env.Admin.RevokeClient(ctx, c.ID, "test")
			return err
		}},
		{"key", func(env *servertest.Env, c *mayfly.Client, secret, tok string) error {
			_, err := env.Admin.RevokeKey(ctx, kidOf(t, tok), "test")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := servertest.New(t)
			c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
			// A second client introspects, since a revoked client cannot.
			observer, osecret := env.NewClient(api.ClientRequest{Owner: env.Human("bob")})
			tok := env.IssueToken(c.ID, secret, nil)
			other := env.IssueToken(c.ID, secret, nil)
			if !env.Active(tok, observer.ID, osecret) {
				t.Fatal("fresh token inactive")
			}
			if err := tt.revoke(env, c, secret, tok); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if env.Active(tok, observer.ID, osecret) {
				t.Errorf("revoked token still active")
			}
			switch tt.name {
			case "key":
				kid := kidOf(t, tok)
				if slices.Contains(jwksKIDs(t, env), kid) {
					t.Errorf("revoked key %s still in JWKS", kid)
				}
				// The ring's next key took over: issuing still works, with another key.
				if got := kidOf(t, env.IssueToken(c.ID, secret, nil)); got == kid {
					t.Errorf("new token signed by revoked key %s", got)
				}
			case "client":
				r := env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
				if r.Status != 401 || r.JSON()["error"] != "invalid_client" {
					t.Errorf("revoked client token request: %d %s, want 401 invalid_client", r.Status, r.Body)
				}
			default:
				if !env.Active(other, observer.ID, osecret) {
					t.Errorf("revoking one token made another inactive")
				}
			}
		})
	}
}

// TestRevocationSurvivesRestart: a revocation is durable once acknowledged.
func TestRevocationSurvivesRestart(t *testing.T) {
	env := servertest.New(t)
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice"), TokenTTL: "1h"})
	tok := env.IssueToken(c.ID, secret, nil)
	if _, err := env.Admin.RevokeToken(context.Background(), jtiOf(t, tok), ""); err != nil {
		t.Fatal(err)
	}
	other := env.IssueToken(c.ID, secret, nil)
	env = env.Restart()
	if env.Active(tok, c.ID, secret) {
		t.Errorf("revoked token active after restart")
	}
	if !env.Active(other, c.ID, secret) {
		t.Errorf("unrevoked token inactive after restart")
	}
}

// TestIssuanceRecordUserAgent: a User-Agent a store could not keep as
// sent (bytes that are not UTF-8) costs its request nothing and no other
// request anything: the record keeps what is valid of it.
func TestIssuanceRecordUserAgent(t *testing.T) {
	env := servertest.New(t)
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	req, err := http.NewRequest("POST", env.URL+api.TokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "agent/1.0 \xff\xfe(x)")
	req.SetBasicAuth(c.ID, secret)
	if r := env.Do(req); r.Status != http.StatusOK {
		t.Fatalf("token with a User-Agent that is not UTF-8: status %d (%s)", r.Status, r.Body)
	}
	recs, err := env.Admin.Tokens(context.Background(), mayfly.IssuanceFilter{ClientID: c.ID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %d, %v; want 1", len(recs), err)
	}
	if got := recs[0].UserAgent; got != "agent/1.0 (x)" {
		t.Errorf("record's user agent %q; want %q", got, "agent/1.0 (x)")
	}
}

// TestIssuanceRecords: every token leaves a record, queryable by client,
// kid, jti and time.
func TestIssuanceRecords(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	a, asecret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	b, bsecret := env.NewClient(api.ClientRequest{Owner: env.Human("bob")})
	var jtis []string
	for range 3 {
		jtis = append(jtis, jtiOf(t, env.IssueToken(a.ID, asecret, nil)))
	}
	env.Clock.Advance(time.Hour)
	late := env.IssueToken(b.ID, bsecret, nil)

	all, err := env.Admin.Tokens(ctx, mayfly.IssuanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("got %d records, want 4", len(all))
	}
	if all[0].JTI != jtiOf(t, late) {
		t.Errorf("newest first: got %s, want %s", all[0].JTI, jtiOf(t, late))
	}
	r := all[1]
	if r.ClientID != a.ID || r.PrincipalID != a.OwnerID || r.SourceIP != "127.0.0.1" || r.UserAgent == "" || r.KID == "" ||
		!r.ExpiresAt.Equal(r.IssuedAt.Add(5*time.Minute)) {
		t.Errorf("record %+v: want client %s, owner %s, loopback source, a user agent, a kid, 5m lifetime", r, a.ID, a.OwnerID)
	}
	tests := []struct {
		name string
		f    mayfly.IssuanceFilter
		want int
	}{
		{"client", mayfly.IssuanceFilter{ClientID: a.ID}, 3},
		{"kid", mayfly.IssuanceFilter{KID: kidOf(t, late)}, 4},
		{"jti", mayfly.IssuanceFilter{JTI: jtis[1]}, 1},
		{"since", mayfly.IssuanceFilter{Since: servertest.Epoch.Add(30 * time.Minute)}, 1},
		{"until", mayfly.IssuanceFilter{Until: servertest.Epoch.Add(30 * time.Minute)}, 3},
		{"limit", mayfly.IssuanceFilter{Limit: 2}, 2},
	}
	for _, tt := range tests {
		got, err := env.Admin.Tokens(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != tt.want {
			t.Errorf("%s: got %d records, want %d", tt.name, len(got), tt.want)
		}
	}
}

// TestEveryAlgorithm: tokens of every ring algorithm verify with go-jose
// against the published JWKS, carry the algorithm in their header, and are
// active on introspection.
func TestEveryAlgorithm(t *testing.T) {
	env := servertest.New(t)
	owner := env.Human("alice")
	for _, alg := range []mayfly.Alg{mayfly.ES256, mayfly.RS256, mayfly.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			ring := "ring-" + strings.ToLower(string(alg))
			if _, err := env.Admin.CreateRing(context.Background(), api.RingRequest{Name: ring, Alg: alg}); err != nil {
				t.Fatal(err)
			}
			c, secret := env.NewClient(api.ClientRequest{Owner: owner, Ring: ring})
			for range 3 { // several signatures: ES256 R and S vary in length before padding
				tok := env.IssueToken(c.ID, secret, nil)
				claims, header := verifyWithJWKS(t, env, tok)
				if header.Algorithm != string(alg) || claims["client_id"] != c.ID {
					t.Errorf("header alg %s, client_id %v; want %s, %s", header.Algorithm, claims["client_id"], alg, c.ID)
				}
				if !env.Active(tok, c.ID, secret) {
					t.Errorf("token inactive")
				}
			}
		})
	}
}
