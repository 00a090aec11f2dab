package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/dpop"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestDPoPAgainstMayfly: a client that must prove possession gets a
// DPoP-bound token from Mayfly's token endpoint, and a service with the
// SDK's middleware accepts it, over HTTP, only with a fresh proof by the
// client's key. The token copied out of a log, without the key, is
// useless: as a bearer token, with no proof, with a proof by another key,
// or with a captured proof replayed.
func TestDPoPAgainstMayfly(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	svc, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders-svc", Kind: mayfly.Service, Owner: env.Human("alice")})
	if err != nil {
		t.Fatal(err)
	}
	own, ownSecret := env.NewClient(api.ClientRequest{Name: "orders", Owner: svc.ID, Audiences: []string{audience}})
	v := newVerifier(t, env, sdk.Config{ClientID: own.ID, ClientSecret: ownSecret})
	app, secret := env.NewClient(api.ClientRequest{Name: "app", Owner: svc.ID, Audiences: []string{audience}, DPoP: mayfly.DPoPRequired})

	// The service, behind its public URL: the test server's own.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, _ := sdk.ClaimsFrom(r.Context())
		w.Write([]byte("bound to " + c.JKT))
	})
	hs := httptest.NewUnstartedServer(nil)
	public := "http://" + hs.Listener.Addr().String()
	m, err := sdk.NewMiddleware(v).WithDPoP(public, dpop.New(dpop.Config{Clock: env.Clock.Now}))
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = m.Handler(mux)
	hs.Start()
	t.Cleanup(hs.Close)

	// The app gets a token, with a proof of its key.
	k := tokentest.NewDPoPKey(t)
	req, _ := http.NewRequest("POST", env.URL+api.TokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app.ID, secret)
	req.Header.Set("DPoP", k.Proof(t, tokentest.ProofClaims{Method: "POST", URL: env.URL + api.TokenPath, IssuedAt: env.Clock.Now()}))
	r := env.Do(req)
	var tr api.TokenResponse
	if err := json.Unmarshal(r.Body, &tr); err != nil || r.Status != 200 || tr.TokenType != "DPoP" {
		t.Fatalf("token: status %d: %s", r.Status, r.Body)
	}
	tok := tr.AccessToken

	call := func(scheme string, proofs ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+"/orders/7", nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		res := env.Do(req)
		return res.Status, string(res.Body) + res.Header.Get("WWW-Authenticate")
	}
	proof := func(key *tokentest.DPoPKey) string {
		return key.Proof(t, tokentest.ProofClaims{Method: "GET", URL: public + "/orders/7", IssuedAt: env.Clock.Now(), AccessToken: tok})
	}

	captured := proof(k)
	if st, body := call("DPoP", captured); st != 200 || body != "bound to "+k.JKT() {
		t.Fatalf("the app, with its proof: %d %s", st, body)
	}
	for _, tc := range []struct {
		name   string
		scheme string
		proofs []string
		want   string
	}{
		{"as a bearer token", "Bearer", nil, `error="invalid_token"`},
		{"as a bearer token, with a proof", "Bearer", []string{proof(k)}, `error="invalid_token"`},
		{"without a proof", "DPoP", nil, `error="invalid_dpop_proof"`},
		{"with a proof by the thief's key", "DPoP", []string{proof(tokentest.NewDPoPKey(t))}, `error="invalid_dpop_proof"`},
		{"with the captured proof, replayed", "DPoP", []string{captured}, `error="invalid_dpop_proof"`},
	} {
		if st, body := call(tc.scheme, tc.proofs...); st != 401 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: got %d %s; want 401 %s", tc.name, st, body, tc.want)
		}
	}
}
