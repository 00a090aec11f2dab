package sdk

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// jwk is k as a JWK with the given kid, alg and use ("" leaves one out).
func jwk(t *testing.T, k any, kid, alg, use string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: alg, Use: use})
	if err != nil {
		t.Fatalf("%s: %v", kid, err)
	}
	return b
}

// keySetDoc is a JWKS document of keys.
func keySetDoc(t *testing.T, keys ...json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Only public ES256 (P-256), RS256 (2048 bits or more) and EdDSA signing keys
// with a kid, and an alg that fits them if they name one, enter the key set:
// no HMAC secret, private key, weak or other-curve key can be chosen by a
// token's kid.
func TestParseKeySet(t *testing.T) {
	gen := func(k crypto.Signer, err error) crypto.Signer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	es := gen(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	other := gen(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	p384 := gen(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	rs := gen(rsa.GenerateKey(rand.Reader, 2048))
	rs1024 := gen(rsa.GenerateKey(rand.Reader, 1024))
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc := keySetDoc(t,
		jwk(t, es.Public(), "es", "ES256", "sig"),
		jwk(t, rs.Public(), "rs", "", ""),
		jwk(t, edPriv.Public(), "ed", "EdDSA", "sig"),
		jwk(t, other.Public(), "es", "ES256", "sig"), // a second key under a kid: the first is kept
		jwk(t, []byte("a shared secret of thirty-two b."), "hmac", "HS256", "sig"),
		jwk(t, other, "private", "ES256", "sig"),
		jwk(t, p384.Public(), "p384", "", "sig"),
		jwk(t, rs1024.Public(), "rsa1024", "RS256", "sig"),
		jwk(t, other.Public(), "enc", "", "enc"),
		jwk(t, other.Public(), "alg-rs256", "RS256", "sig"),
		jwk(t, rs.Public(), "alg-ps256", "PS256", "sig"),
		jwk(t, other.Public(), "", "ES256", "sig"),
	)
	ks, notes, err := parseKeySet(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for kid, k := range ks {
		got[kid] = string(k.alg)
	}
	if want := map[string]string{"es": "ES256", "rs": "RS256", "ed": "EdDSA"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got keys %v, want %v", got, want)
	}
	if !ks["es"].pub.(*ecdsa.PublicKey).Equal(es.Public()) {
		t.Errorf("kid es: got the second key published under it, want the first")
	}
	if len(notes) != 9 {
		t.Errorf("got %d notes, want one for each of the 9 keys left out:\n%q", len(notes), notes)
	}

	// A refreshed set keeps the pointer of a key it publishes again
	// unchanged, so tokens cached under it stay valid, and replaces a key
	// published under a known kid with another.
	again, _, err := parseKeySet(keySetDoc(t,
		jwk(t, es.Public(), "es", "ES256", "sig"),
		jwk(t, other.Public(), "rs", "", ""),
	), ks)
	if err != nil {
		t.Fatal(err)
	}
	if again["es"] != ks["es"] {
		t.Errorf("kid es, republished unchanged: got a new key, want the same pointer")
	}
	if again["rs"] == ks["rs"] || again["rs"].alg != jose.ES256 {
		t.Errorf("kid rs, republished with another key: got %+v, want the new ES256 key", again["rs"])
	}
}

// An https issuer's keys are fetched over https: metadata naming an http
// jwks_uri is refused.
func TestDiscoverKeepsHTTPS(t *testing.T) {
	var jwksURI string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, "https://"+r.Host, jwksURI)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		jwksURI string
		ok      bool
	}{
		{srv.URL + "/jwks", true},
		{"http://" + srv.Listener.Addr().String() + "/jwks", false},
	} {
		jwksURI = tc.jwksURI
		md, err := discover(context.Background(), srv.Client(), srv.URL)
		if tc.ok != (err == nil) {
			t.Errorf("jwks_uri %s: got %+v, %v; want ok %v", tc.jwksURI, md, err, tc.ok)
		}
	}
}
