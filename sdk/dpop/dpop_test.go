package dpop_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk/dpop"
)

const url = "https://api.example.com/orders"

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newChecker(cfg dpop.Config) (*dpop.Checker, *clock) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	cfg.Clock = c.Now
	return dpop.New(cfg), c
}

func TestCheckAccepts(t *testing.T) {
	ch, clk := newChecker(dpop.Config{})
	k := tokentest.NewDPoPKey(t)
	tests := []struct {
		name  string
		htu   string // the proof's
		req   string // the request's
		token string
	}{
		{"same URL", url, url, ""},
		{"query and fragment ignored", url + "?a=1#f", url + "?b=2", ""},
		{"scheme and host case, default port", "HTTPS://API.Example.com:443/orders", url, ""},
		{"http default port", "http://localhost:80/x", "http://LOCALHOST/x", ""},
		{"empty path is /", "https://api.example.com", "https://api.example.com/", ""},
		{"with an access token", url, url, "eyJ.token.sig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proof := k.Proof(t, tokentest.ProofClaims{Method: "GET", URL: tt.htu, IssuedAt: clk.now, AccessToken: tt.token})
			p, err := ch.Check(proof, dpop.Request{Method: "GET", URL: tt.req, AccessToken: tt.token})
			if err != nil {
				t.Fatalf("got %v, want the proof accepted", err)
			}
			if p.JKT != k.JKT() {
				t.Errorf("got jkt %q, want %q", p.JKT, k.JKT())
			}
			if !p.IssuedAt.Equal(clk.now) || p.ID == "" {
				t.Errorf("got %+v", p)
			}
		})
	}
}

// TestCheckOtherAlgorithms: EdDSA and RSA keys, signed with go-jose's
// own embedding of the public key.
func TestCheckOtherAlgorithms(t *testing.T) {
	ch, clk := newChecker(dpop.Config{})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		alg  jose.SignatureAlgorithm
		key  any
		pub  any
		want bool
	}{
		{jose.EdDSA, ed, ed.Public(), true},
		{jose.RS256, rs, &rs.PublicKey, true},
		{jose.PS256, rs, &rs.PublicKey, true},
		{jose.RS512, rs, &rs.PublicKey, false}, // not offered
		{jose.RS256, small, &small.PublicKey, false},
	}
	for _, tt := range tests {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: tt.alg, Key: tt.key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign(tokentest.ProofClaims{Method: "POST", URL: url, IssuedAt: clk.now}.Payload(t))
		if err != nil {
			t.Fatal(err)
		}
		proof, _ := jws.CompactSerialize()
		p, err := ch.Check(proof, dpop.Request{Method: "POST", URL: url})
		if got := err == nil; got != tt.want {
			t.Errorf("%s: got %v, want accepted %v", tt.alg, err, tt.want)
			continue
		}
		if err == nil {
			tp, _ := (&jose.JSONWebKey{Key: tt.pub}).Thumbprint(0x5) // crypto.SHA256
			if len(tp) == 0 || p.JKT == "" {
				t.Errorf("%s: no thumbprint", tt.alg)
			}
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	k, other := tokentest.NewDPoPKey(t), tokentest.NewDPoPKey(t)
	t0 := time.Unix(1_800_000_000, 0)
	good := tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: t0, AccessToken: "tok"}
	with := func(f func(*tokentest.ProofClaims)) tokentest.ProofClaims {
		c := good
		f(&c)
		return c
	}
	header := func(kv ...any) map[jose.HeaderKey]any {
		h := map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": k.JWK()}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(h, jose.HeaderKey(kv[i].(string)))
			} else {
				h[jose.HeaderKey(kv[i].(string))] = kv[i+1]
			}
		}
		return h
	}
	tests := []struct {
		name  string
		proof func(t *testing.T) string
	}{
		{"wrong htu", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.URL = "https://api.example.com/other" }))
		}},
		{"htu of another host", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.URL = "https://evil.example.com/orders" }))
		}},
		{"htu with another port", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.URL = "https://api.example.com:8443/orders" }))
		}},
		{"htu http for https", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.URL = "http://api.example.com/orders" }))
		}},
		{"htu relative", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.URL = "/orders" }))
		}},
		{"wrong htm", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.Method = "POST" }))
		}},
		{"htm in lower case", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.Method = "get" }))
		}},
		{"iat too old", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.IssuedAt = t0.Add(-dpop.DefaultWindow - time.Second) }))
		}},
		{"iat in the future", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.IssuedAt = t0.Add(dpop.DefaultSkew + time.Second) }))
		}},
		{"no iat", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.Drop = []string{"iat"} }))
		}},
		{"no jti", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.Drop = []string{"jti"} }))
		}},
		{"no ath", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.AccessToken = "" }))
		}},
		{"ath of another token", func(t *testing.T) string {
			return k.Proof(t, with(func(c *tokentest.ProofClaims) { c.AccessToken = "another" }))
		}},
		{"signed by another key than its jwk", func(t *testing.T) string {
			return other.ProofWith(t, good, header())
		}},
		{"alg none", func(t *testing.T) string { return k.ProofNone(t, good) }},
		{"HS256 with a symmetric jwk", func(t *testing.T) string { return tokentest.ProofSymmetric(t, good) }},
		{"private key in the jwk header", func(t *testing.T) string {
			return k.ProofWith(t, good, header("jwk", k.PrivateJWK()))
		}},
		{"no jwk", func(t *testing.T) string { return k.ProofWith(t, good, header("jwk", nil)) }},
		{"kid instead of jwk", func(t *testing.T) string { return k.ProofWith(t, good, header("jwk", nil, "kid", "k1")) }},
		{"kid beside jwk", func(t *testing.T) string { return k.ProofWith(t, good, header("kid", "k1")) }},
		{"jku", func(t *testing.T) string { return k.ProofWith(t, good, header("jku", "https://evil.example.com/jwks")) }},
		{"typ missing", func(t *testing.T) string { return k.ProofWith(t, good, header("typ", nil)) }},
		{"typ at+jwt", func(t *testing.T) string { return k.ProofWith(t, good, header("typ", "at+jwt")) }},
		{"typ JWT", func(t *testing.T) string { return k.ProofWith(t, good, header("typ", "JWT")) }},
		{"typ in upper case", func(t *testing.T) string { return k.ProofWith(t, good, header("typ", "DPOP+JWT")) }},
		{"garbage", func(t *testing.T) string { return "not-a-jwt" }},
		{"empty", func(t *testing.T) string { return "" }},
		{"three dots of nothing", func(t *testing.T) string { return ".." }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := newChecker(dpop.Config{})
			p, err := ch.Check(tt.proof(t), dpop.Request{Method: "GET", URL: url, AccessToken: "tok"})
			t.Log(err)
			var de *dpop.Error
			if !errors.As(err, &de) {
				t.Fatalf("got %+v, %v; want a *dpop.Error", p, err)
			}
		})
	}
	// The same check accepts the good proof, so each case above fails for
	// its own reason.
	ch, _ := newChecker(dpop.Config{})
	if _, err := ch.Check(k.Proof(t, good), dpop.Request{Method: "GET", URL: url, AccessToken: "tok"}); err != nil {
		t.Fatalf("the good proof: %v", err)
	}
}

// TestCheckReplay: a proof is accepted once within its window, by any
// request; a refused proof is not remembered; memory is freed as proofs
// leave the window, and a full memory refuses rather than forgets.
func TestCheckReplay(t *testing.T) {
	ch, clk := newChecker(dpop.Config{ReplayCacheSize: 2})
	k := tokentest.NewDPoPKey(t)
	req := dpop.Request{Method: "GET", URL: url}
	proof := k.Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: clk.now, ID: "one"})
	// Refused for its method first: that does not burn its jti.
	if _, err := ch.Check(proof, dpop.Request{Method: "POST", URL: url}); err == nil {
		t.Fatal("accepted for POST")
	}
	if _, err := ch.Check(proof, req); err != nil {
		t.Fatalf("first use: %v", err)
	}
	clk.now = clk.now.Add(dpop.DefaultWindow - time.Second)
	if _, err := ch.Check(proof, req); !errors.Is(err, dpop.ErrReplayed) {
		t.Fatalf("replay: got %v, want ErrReplayed", err)
	}
	// Another key may use the same jti.
	k2 := tokentest.NewDPoPKey(t)
	if _, err := ch.Check(k2.Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: clk.now, ID: "one"}), req); err != nil {
		t.Fatalf("another key, same jti: %v", err)
	}
	// Memory is full: the next proof is refused, not let through.
	third := k.Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: clk.now, ID: "three"})
	if _, err := ch.Check(third, req); !errors.Is(err, dpop.ErrFull) {
		t.Fatalf("full: got %v, want ErrFull", err)
	}
	// Once the first proof has left the window, its place is free, and
	// the proof itself is refused for its age.
	clk.now = clk.now.Add(dpop.DefaultSkew + 2*time.Second)
	if _, err := ch.Check(proof, req); err == nil || errors.Is(err, dpop.ErrReplayed) {
		t.Fatalf("old proof: got %v, want refused for its age", err)
	}
	if _, err := ch.Check(third, req); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestNormalURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://A.example/x?q#f", "https://a.example/x"},
		{"https://a.example:443", "https://a.example/"},
		{"http://a.example:8080/x", "http://a.example:8080/x"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"ftp://a.example/x", ""},
		{"https://user:pw@a.example/x", ""},
		{"a.example/x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := dpop.NormalURL(tt.in)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("NormalURL(%q): got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
