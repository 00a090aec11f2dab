package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// tokenRequest posts form to the token endpoint with the given DPoP
// headers, and HTTP Basic credentials if id and secret are not empty.
func tokenRequest(t *testing.T, env *servertest.Env, form url.Values, id, secret string, proofs ...string) *servertest.Response {
	t.Helper()
	req, err := http.NewRequest("POST", env.URL+api.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return env.Do(req)
}

var clientCredentials = url.Values{"grant_type": {"client_credentials"}}

// TestDPoPBoundToken: a client that must prove possession gets a token
// bound to its key (RFC 9449 section 5): token_type DPoP, cnf.jkt the
// key's thumbprint, and introspection says so (section 6.2). A client
// that may prove possession gets a bound token with a proof and a bearer
// token without.
func TestDPoPBoundToken(t *testing.T) {
	env := servertest.New(t)
	owner := env.Human("alice")
	aud := []string{"https://orders.example"}
	required, secret := env.NewClient(api.ClientRequest{Owner: owner, Audiences: aud, DPoP: mayfly.DPoPRequired})
	optional, secret2 := env.NewClient(api.ClientRequest{Owner: owner, Audiences: aud})
	k := tokentest.NewDPoPKey(t)
	proof := func() string {
		return k.Proof(t, tokentest.ProofClaims{Method: "POST", URL: env.URL + api.TokenPath, IssuedAt: env.Clock.Now()})
	}

	for _, c := range []struct {
		id, secret string
	}{{required.ID, secret}, {optional.ID, secret2}} {
		r := tokenRequest(t, env, clientCredentials, c.id, c.secret, proof())
		if r.Status != 200 {
			t.Fatalf("%s: status %d: %s", c.id, r.Status, r.Body)
		}
		body := r.JSON()
		if body["token_type"] != "DPoP" {
			t.Errorf("token_type %v, want DPoP", body["token_type"])
		}
		tok := body["access_token"].(string)
		claims, _ := verifyWithJWKS(t, env, tok)
		cnf, _ := claims["cnf"].(map[string]any)
		if cnf["jkt"] != k.JKT() {
			t.Errorf("cnf %v, want jkt %s", claims["cnf"], k.JKT())
		}
		in := env.PostForm(api.IntrospectPath, url.Values{"token": {tok}}, c.id, c.secret).JSON()
		incnf, _ := in["cnf"].(map[string]any)
		if in["active"] != true || in["token_type"] != "DPoP" || incnf["jkt"] != k.JKT() {
			t.Errorf("introspection %v, want active, token_type DPoP, cnf.jkt %s", in, k.JKT())
		}
	}

	r := tokenRequest(t, env, clientCredentials, optional.ID, secret2)
	if r.Status != 200 || r.JSON()["token_type"] != "Bearer" {
		t.Fatalf("without a proof, optional: status %d: %s", r.Status, r.Body)
	}
	claims, _ := verifyWithJWKS(t, env, r.JSON()["access_token"].(string))
	if _, ok := claims["cnf"]; ok {
		t.Errorf("a bearer token with cnf %v", claims["cnf"])
	}

	r = tokenRequest(t, env, clientCredentials, required.ID, secret)
	if r.Status != 400 || r.JSON()["error"] != "invalid_dpop_proof" {
		t.Fatalf("without a proof, required: status %d: %s; want 400 invalid_dpop_proof", r.Status, r.Body)
	}
}

// TestDPoPAdversarialProofs: every proof RFC 9449 section 4.3 says to
// refuse is refused with invalid_dpop_proof, and no token is issued.
func TestDPoPAdversarialProofs(t *testing.T) {
	env := servertest.New(t)
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice"), Audiences: []string{"https://orders.example"}, DPoP: mayfly.DPoPRequired})
	k, other := tokentest.NewDPoPKey(t), tokentest.NewDPoPKey(t)
	now := env.Clock.Now()
	good := tokentest.ProofClaims{Method: "POST", URL: env.URL + api.TokenPath, IssuedAt: now}
	with := func(f func(*tokentest.ProofClaims)) tokentest.ProofClaims {
		g := good
		f(&g)
		return g
	}
	hdr := func(k, v string, jwk map[string]any) map[jose.HeaderKey]any {
		h := map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": jwk}
		if v == "" {
			delete(h, jose.HeaderKey(k))
		} else {
			h[jose.HeaderKey(k)] = v
		}
		return h
	}
	replayed := k.Proof(t, good)
	if r := tokenRequest(t, env, clientCredentials, c.ID, secret, replayed); r.Status != 200 {
		t.Fatalf("first use: status %d: %s", r.Status, r.Body)
	}
	tests := []struct {
		name   string
		proofs []string
	}{
		{"wrong htu", []string{k.Proof(t, with(func(p *tokentest.ProofClaims) { p.URL = env.URL + api.IntrospectPath }))}},
		{"htu of another server", []string{k.Proof(t, with(func(p *tokentest.ProofClaims) { p.URL = "https://mayfly.example" + api.TokenPath }))}},
		{"wrong htm", []string{k.Proof(t, with(func(p *tokentest.ProofClaims) { p.Method = "GET" }))}},
		{"replayed jti", []string{replayed}},
		{"replayed jti, fresh signature", []string{k.Proof(t, with(func(p *tokentest.ProofClaims) { p.ID = "jti-1" })), k.Proof(t, with(func(p *tokentest.ProofClaims) { p.ID = "jti-1" }))}[1:]},
		{"iat too old", []string{k.Proof(t, with(func(p *tokentest.ProofClaims) { p.IssuedAt = now.Add(-2 * time.Minute) }))}},
		{"iat in the future", []string{k.Proof(t, with(func(p *tokentest.ProofClaims) { p.IssuedAt = now.Add(time.Minute) }))}},
		{"signed by another key than its jwk", []string{other.ProofWith(t, good, hdr("typ", "dpop+jwt", k.JWK()))}},
		{"alg none", []string{k.ProofNone(t, good)}},
		{"HS256, a symmetric key", []string{tokentest.ProofSymmetric(t, good)}},
		{"a private key in the jwk header", []string{k.ProofWith(t, good, hdr("typ", "dpop+jwt", k.PrivateJWK()))}},
		{"typ missing", []string{k.ProofWith(t, good, hdr("typ", "", k.JWK()))}},
		{"typ JWT", []string{k.ProofWith(t, good, hdr("typ", "JWT", k.JWK()))}},
		{"two DPoP headers", []string{k.Proof(t, good), k.Proof(t, good)}},
		{"garbage", []string{"garbage"}},
		{"empty", []string{""}},
	}
	// The fresh-signature replay: its first use.
	if r := tokenRequest(t, env, clientCredentials, c.ID, secret, k.Proof(t, with(func(p *tokentest.ProofClaims) { p.ID = "jti-1" }))); r.Status != 200 {
		t.Fatalf("jti-1 first use: status %d: %s", r.Status, r.Body)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tokenRequest(t, env, clientCredentials, c.ID, secret, tt.proofs...)
			if r.Status != 400 || r.JSON()["error"] != "invalid_dpop_proof" || r.JSON()["access_token"] != nil {
				t.Fatalf("status %d: %s; want 400 invalid_dpop_proof", r.Status, r.Body)
			}
		})
	}
}

// TestDPoPPublicClient: a public client authenticates at the token
// endpoint by its client_id alone, and only there; it must bring a DPoP
// proof and may only refresh. A confidential client is never
// authenticated by its client_id alone, not even with a valid proof.
func TestDPoPPublicClient(t *testing.T) {
	env := servertest.New(t, servertest.NoLockout)
	owner := env.Human("alice")
	aud := []string{"https://orders.example"}
	app, secret := env.NewClient(api.ClientRequest{Owner: owner, Audiences: aud, Public: true, DPoP: mayfly.DPoPRequired, Refresh: true})
	if secret != "" {
		t.Fatalf("a public client was given a secret")
	}
	confidential, _ := env.NewClient(api.ClientRequest{Owner: owner, Audiences: aud, DPoP: mayfly.DPoPRequired})
	k := tokentest.NewDPoPKey(t)
	proof := func() string {
		return k.Proof(t, tokentest.ProofClaims{Method: "POST", URL: env.URL + api.TokenPath, IssuedAt: env.Clock.Now()})
	}
	refresh := func(id string) url.Values {
		return url.Values{"grant_type": {api.GrantRefreshToken}, "refresh_token": {"mfr_whatever"}, "client_id": {id}}
	}
	ccByID := func(id string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
	}
	tests := []struct {
		name      string
		form      url.Values
		proofs    []string
		status    int
		wantError string
		// past says the request got past client authentication.
		past bool
	}{
		{"public, refresh, with a proof", refresh(app.ID), []string{proof()}, 400, "", true},
		{"public, refresh, without a proof", refresh(app.ID), nil, 400, "invalid_dpop_proof", true},
		{"public, refresh, a bad proof", refresh(app.ID), []string{"garbage"}, 400, "invalid_dpop_proof", true},
		{"public, client_credentials", ccByID(app.ID), []string{proof()}, 400, "unauthorized_client", true},
		{"confidential by client_id alone, with a proof", refresh(confidential.ID), []string{proof()}, 401, "invalid_client", false},
		{"confidential by client_id alone, client_credentials", ccByID(confidential.ID), []string{proof()}, 401, "invalid_client", false},
		{"unknown client_id", refresh("mfc_nobody"), []string{proof()}, 401, "invalid_client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tokenRequest(t, env, tt.form, "", "", tt.proofs...)
			got, _ := r.JSON()["error"].(string)
			if r.Status != tt.status || (tt.wantError != "" && got != tt.wantError) || (got == "invalid_client") == tt.past {
				t.Fatalf("status %d: %s; want %d %q (past authentication: %v)", r.Status, r.Body, tt.status, tt.wantError, tt.past)
			}
			if r.JSON()["access_token"] != nil {
				t.Fatalf("issued a token: %s", r.Body)
			}
		})
	}

	// Only the token endpoint knows public clients: introspection and
	// revocation refuse a client_id alone.
	for _, path := range []string{api.IntrospectPath, api.RevokePath} {
		r := env.PostForm(path, url.Values{"token": {"x"}, "client_id": {app.ID}}, "", "")
		if r.Status != 401 {
			t.Errorf("%s by client_id alone: status %d: %s; want 401", path, r.Status, r.Body)
		}
	}

	// Discovery offers "none" at the token endpoint only, and DPoP.
	var md api.Metadata
	r := env.Do(mustRequest(t, "GET", env.URL+"/.well-known/oauth-authorization-server"))
	if err := json.Unmarshal(r.Body, &md); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(md.TokenEndpointAuthMethods, "none") || slices.Contains(md.IntrospectionEndpointAuthMethods, "none") || slices.Contains(md.RevocationEndpointAuthMethods, "none") {
		t.Errorf("auth methods: token %v introspection %v revocation %v", md.TokenEndpointAuthMethods, md.IntrospectionEndpointAuthMethods, md.RevocationEndpointAuthMethods)
	}
	if !slices.Contains(md.DPoPSigningAlgs, "ES256") || slices.Contains(md.DPoPSigningAlgs, "none") || slices.Contains(md.DPoPSigningAlgs, "HS256") || !slices.Contains(md.ClaimsSupported, "cnf") {
		t.Errorf("dpop_signing_alg_values_supported %v claims_supported %v", md.DPoPSigningAlgs, md.ClaimsSupported)
	}
}
