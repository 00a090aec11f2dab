package dpop_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk/dpop"
)

// rawProof signs header and payload, JSON as given byte for byte, with
// k under ES256 (or ES384 if alg says so, with the hash truncated as
// ECDSA does): for headers no JSON encoder would write.
func rawProof(t *testing.T, k *ecdsa.PrivateKey, alg, header, payload string) string {
	t.Helper()
	e := base64.RawURLEncoding.EncodeToString
	in := e([]byte(header)) + "." + e([]byte(payload))
	var digest []byte
	size := 32
	if alg == "ES384" {
		h := sha512.Sum384([]byte(in))
		digest, size = h[:], 48
	} else {
		h := sha256.Sum256([]byte(in))
		digest = h[:]
	}
	r, s, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	return in + "." + e(sig)
}

func jwkJSON(t *testing.T, k *tokentest.DPoPKey) string {
	b, err := json.Marshal(k.JWK())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckAdversarial: proofs crafted byte by byte, past what a JWS
// library would write.
func TestCheckAdversarial(t *testing.T) {
	k := tokentest.NewDPoPKey(t)
	ch, clk := newChecker(dpop.Config{})
	iat := clk.now.Unix()
	jwk := jwkJSON(t, k)
	payload := func(extra string) string {
		return `{"jti":"` + rand.Text() + `","htm":"GET","htu":"` + url + `","iat":` + big.NewInt(iat).String() + extra + `}`
	}
	hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + jwk
	tests := []struct {
		name, alg, header, payload string
		want                       bool
	}{
		{"control: well formed", "ES256", hdr + `}`, payload(""), true},
		{"two typ members, the last one right", "ES256", `{"typ":"JWT",` + hdr[1:] + `}`, payload(""), false},
		{"two typ members, the first one right", "ES256", hdr + `,"typ":"JWT"}`, payload(""), false},
		{"two alg members", "ES256", hdr + `,"alg":"none"}`, payload(""), false},
		{"two jwk members", "ES256", hdr + `,"jwk":` + jwkJSON(t, tokentest.NewDPoPKey(t)) + `}`, payload(""), false},
		{"two htm members", "ES256", hdr + `}`, payload(`,"htm":"POST"`), false},
		{"two iat members", "ES256", hdr + `}`, payload(`,"iat":1`), false},
		{"crit", "ES256", hdr + `,"crit":["exp"],"exp":1}`, payload(""), false},
		{"b64 false", "ES256", hdr + `,"b64":false,"crit":["b64"]}`, payload(""), false},
		{"x5c", "ES256", hdr + `,"x5c":["MIIB"]}`, payload(""), false},
		{"iat beyond int64", "ES256", hdr + `}`, `{"jti":"x","htm":"GET","htu":"` + url + `","iat":1e300}`, false},
		{"iat negative", "ES256", hdr + `}`, `{"jti":"x","htm":"GET","htu":"` + url + `","iat":-9223372036854775808}`, false},
		{"iat a string", "ES256", hdr + `}`, `{"jti":"x","htm":"GET","htu":"` + url + `","iat":"` + big.NewInt(iat).String() + `"}`, false},
		{"jti not a string", "ES256", hdr + `}`, `{"jti":1,"htm":"GET","htu":"` + url + `","iat":` + big.NewInt(iat).String() + `}`, false},
		{"ES384 with a P-256 key", "ES384", `{"typ":"dpop+jwt","alg":"ES384","jwk":` + jwk + `}`, payload(""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ch.Check(rawProof(t, k.Priv, tt.alg, tt.header, tt.payload), dpop.Request{Method: "GET", URL: url})
			t.Log(err)
			if got := err == nil; got != tt.want {
				t.Fatalf("got %v, want accepted %v", err, tt.want)
			}
			var de *dpop.Error
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("got %T, want a *dpop.Error", err)
			}
		})
	}
}

// TestCheckURLs: htu and the request's URL must name the same resource;
// nothing that differs in path, port, scheme or host is taken for it.
func TestCheckURLs(t *testing.T) {
	k := tokentest.NewDPoPKey(t)
	ch, clk := newChecker(dpop.Config{})
	tests := []struct {
		htu, req string
		want     bool
	}{
		{"https://api.example.com/orders/", "https://api.example.com/orders", false},
		{"https://api.example.com/x/../orders", "https://api.example.com/admin", false},
		{"https://api.example.com/%61dmin", "https://api.example.com/orders", false},
		{"https://api.example.com/orders", "https://api.example.com/Orders", false},
		{"https://api.example.com./orders", "https://api.example.com/orders", false},
		{"https://api.example.com:443/orders", "https://api.example.com:8443/orders", false},
		{"https://evil.example@api.example.com/orders", "https://api.example.com/orders", false},
		{"https://api.example.com:80/orders", "https://api.example.com/orders", false},
		{"http://api.example.com:443/orders", "https://api.example.com/orders", false},
		{"https://[::1]/orders", "https://[::1]:443/orders", true},
		{"https://[::1]/orders", "https://[::2]/orders", false},
		{"https://api.example.com/orders#frag", "https://api.example.com/orders?x", true},
		{"https://api.example.com/orders%3Fx", "https://api.example.com/orders?x", false},
		{"https://api.example.com\\@evil.example/orders", "https://evil.example/orders", false},
	}
	for _, tt := range tests {
		proof := k.Proof(t, tokentest.ProofClaims{Method: "GET", URL: tt.htu, IssuedAt: clk.now})
		_, err := ch.Check(proof, dpop.Request{Method: "GET", URL: tt.req})
		if got := err == nil; got != tt.want {
			t.Errorf("htu %q for %q: got %v, want accepted %v", tt.htu, tt.req, err, tt.want)
		}
	}
}

// TestCheckMemoryPerKey: one key cannot take the whole replay memory:
// past its share it is refused, and other keys are not.
func TestCheckMemoryPerKey(t *testing.T) {
	ch, clk := newChecker(dpop.Config{ReplayCacheSize: 64, ReplayPerKey: 8})
	req := dpop.Request{Method: "GET", URL: url}
	greedy := tokentest.NewDPoPKey(t)
	refused := 0
	for range 64 {
		_, err := ch.Check(greedy.Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: clk.now}), req)
		if err != nil {
			if !errors.Is(err, dpop.ErrKeyFull) {
				t.Fatalf("got %v, want ErrKeyFull", err)
			}
			refused++
		}
	}
	if refused != 64-8 {
		t.Fatalf("got %d of 64 refused, want 56", refused)
	}
	if _, err := ch.Check(tokentest.NewDPoPKey(t).Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: clk.now}), req); err != nil {
		t.Fatalf("another key after the greedy one: %v", err)
	}
	// Its share is free again once its proofs have left the window.
	clk.now = clk.now.Add(dpop.DefaultWindow + dpop.DefaultSkew)
	if _, err := ch.Check(greedy.Proof(t, tokentest.ProofClaims{Method: "GET", URL: url, IssuedAt: clk.now}), req); err != nil {
		t.Fatalf("the greedy key after the window: %v", err)
	}
}
