package sdk_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/dpop"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

const dpopBase = "https://orders.example.com"

// TestMiddlewareDPoP: a DPoP-bound token is accepted only with the DPoP
// scheme and a proof, by its key, for this request and this token (RFC
// 9449 section 7); an unbound token only as a bearer token.
func TestMiddlewareDPoP(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	k, other := tokentest.NewDPoPKey(t), tokentest.NewDPoPKey(t)
	bound := e.iss.Token(map[string]any{"cnf": map[string]any{"jkt": k.JKT()}})
	unbound := e.iss.Token(nil)
	url := dpopBase + "/orders/7"
	proof := func(c tokentest.ProofClaims) string {
		if c.Method == "" {
			c.Method = "GET"
		}
		if c.URL == "" {
			c.URL = url
		}
		c.IssuedAt = e.clock.Now()
		return k.Proof(t, c)
	}
	replayed := proof(tokentest.ProofClaims{AccessToken: bound})
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := sdk.ClaimsFrom(r.Context())
		if bound := strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "dpop "); !ok || (c.JKT != "") != bound || (bound && c.JKT != k.JKT()) {
			t.Errorf("claims %+v in the handler, want jkt %s", c, k.JKT())
		}
		io.WriteString(w, "hello")
	})
	invalidProof := `DPoP realm="` + sdktest.DefaultAudience + `", algs="ES256 ES384 EdDSA RS256 PS256", error="invalid_dpop_proof", error_description="invalid DPoP proof"`
	checker := dpop.New(dpop.Config{Clock: e.clock.Now})
	plain := sdk.NewMiddleware(e.v)
	m, err := plain.WithDPoP(dpopBase, checker)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		m         *sdk.Middleware
		auth      string
		proofs    []string
		target    string
		status    int
		challenge string
	}{
		{"bound, with its proof", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound})}, "", 200, ""},
		{"scheme in lower case", m, "dpop " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound})}, "", 200, ""},
		{"query ignored", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound, URL: url + "?page=2"})}, "/orders/7?page=3", 200, ""},
		{"first use", m, "DPoP " + bound, []string{replayed}, "", 200, ""},
		{"replayed proof", m, "DPoP " + bound, []string{replayed}, "", 401, invalidProof},
		{"bound, no proof", m, "DPoP " + bound, nil, "", 401, invalidProof},
		{"bound, two proofs", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound}), proof(tokentest.ProofClaims{AccessToken: bound})}, "", 401, invalidProof},
		{"bound, proof by another key", m, "DPoP " + bound, []string{other.Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: e.clock.Now(), AccessToken: bound})}, "", 401, invalidProof},
		{"bound, proof naming its key but signed by another", m, "DPoP " + bound, []string{other.ProofWith(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: e.clock.Now(), AccessToken: bound},
			map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": k.JWK()})}, "", 401, invalidProof},
		{"bound, wrong ath", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: unbound})}, "", 401, invalidProof},
		{"bound, no ath", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{})}, "", 401, invalidProof},
		{"bound, proof for another path", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound, URL: dpopBase + "/orders/8"})}, "", 401, invalidProof},
		{"bound, proof for another service", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound, URL: "https://billing.example.com/orders/7"})}, "", 401, invalidProof},
		{"bound, proof for another method", m, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound, Method: "DELETE"})}, "", 401, invalidProof},
		{"bound, alg none", m, "DPoP " + bound, []string{k.ProofNone(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: e.clock.Now(), AccessToken: bound})}, "", 401, invalidProof},
		{"bound, as a bearer token", m, "Bearer " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound})}, "", 401,
			`DPoP realm="` + sdktest.DefaultAudience + `", algs="ES256 ES384 EdDSA RS256 PS256", error="invalid_token", error_description="token is bound to a DPoP key"`},
		{"bound, without WithDPoP", plain, "DPoP " + bound, []string{proof(tokentest.ProofClaims{AccessToken: bound})}, "", 401, invalidProof},
		{"bound, as a bearer token without WithDPoP", plain, "Bearer " + bound, nil, "", 401,
			`DPoP realm="` + sdktest.DefaultAudience + `", algs="ES256 ES384 EdDSA RS256 PS256", error="invalid_token", error_description="token is bound to a DPoP key"`},
		{"unbound, with the DPoP scheme", m, "DPoP " + unbound, []string{proof(tokentest.ProofClaims{AccessToken: unbound})}, "", 401,
			`DPoP realm="` + sdktest.DefaultAudience + `", algs="ES256 ES384 EdDSA RS256 PS256", error="invalid_token", error_description="token is not bound to a DPoP key"`},
		{"unbound, as a bearer token", m, "Bearer " + unbound, nil, "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", cmpOr(tc.target, "/orders/7"), nil)
			r.Header.Set("Authorization", tc.auth)
			for _, p := range tc.proofs {
				r.Header.Add("DPoP", p)
			}
			w := httptest.NewRecorder()
			tc.m.Handler(hello).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("got status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("got WWW-Authenticate\n%s\nwant\n%s", got, tc.challenge)
			}
		})
	}

	// Without a token, a middleware that takes DPoP offers both schemes.
	w := httptest.NewRecorder()
	m.Handler(hello).ServeHTTP(w, httptest.NewRequest("GET", "/orders/7", nil))
	if got := w.Header().Values("WWW-Authenticate"); w.Code != 401 || len(got) != 2 || !strings.HasPrefix(got[0], "DPoP ") || !strings.HasPrefix(got[1], "Bearer ") {
		t.Errorf("no token: got %d %q, want 401 with a DPoP and a Bearer challenge", w.Code, got)
	}
}

// TestMiddlewareDPoPReported: the reporting path checks proofs too.
func TestMiddlewareDPoPReported(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	k := tokentest.NewDPoPKey(t)
	bound := e.iss.Token(map[string]any{"cnf": map[string]any{"jkt": k.JKT()}})
	rep, err := sdk.NewReporter(e.v, sdk.ReporterConfig{Service: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sdk.NewMiddleware(e.v).WithReporter(rep).WithDPoP(dpopBase, dpop.New(dpop.Config{Clock: e.clock.Now}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		auth   string
		proof  string
		status int
	}{
		{"with its proof", "DPoP " + bound, k.Proof(t, tokentest.ProofClaims{Method: "GET", URL: dpopBase + "/x", IssuedAt: e.clock.Now(), AccessToken: bound}), 200},
		{"as a bearer token", "Bearer " + bound, "", 401},
		{"without its proof", "DPoP " + bound, "", 401},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Authorization", tc.auth)
		if tc.proof != "" {
			r.Header.Set("DPoP", tc.proof)
		}
		w := httptest.NewRecorder()
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: got status %d, want %d", tc.name, w.Code, tc.status)
		}
	}
}

func TestWithDPoPBase(t *testing.T) {
	e := newEnv(t, nil)
	c := dpop.New(dpop.Config{})
	for _, base := range []string{"", "orders.example.com", "ftp://orders.example.com", "https://orders.example.com/?x=1"} {
		if _, err := sdk.NewMiddleware(e.v).WithDPoP(base, c); err == nil {
			t.Errorf("WithDPoP(%q) accepted", base)
		}
	}
	if _, err := sdk.NewMiddleware(e.v).WithDPoP(dpopBase, nil); err == nil {
		t.Errorf("WithDPoP accepted no checker")
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
