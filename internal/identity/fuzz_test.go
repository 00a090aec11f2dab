package identity

// publicJWKS is the one gate between a client's registration request and the
// keys its private_key_jwt assertions are checked against: whatever it lets
// through must be public signing keys only, and must read back the same.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
)

// privateParams are the JWK members that carry private or symmetric key
// material (RFC 7518 section 6, and "priv" for ML-DSA).
var privateParams = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

func jwksJSON(tb testing.TB, keys ...any) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func jwkMap(tb testing.TB, k jose.JSONWebKey) map[string]any {
	tb.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func b64int(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }

type testKeys struct {
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	rsa   *rsa.PrivateKey
	ecPub map[string]any // the EC public key as a JWK
}

func newTestKeys(tb testing.TB) testKeys {
	tb.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	k := testKeys{ec: ec, ed: ed, rsa: rk}
	k.ecPub = jwkMap(tb, jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"})
	return k
}

// checkPublicJWKS checks publicJWKS's contract for one input.
func checkPublicJWKS(t *testing.T, raw []byte) (accepted bool) {
	t.Helper()
	out, err := publicJWKS(raw)
	if err != nil {
		if out != nil {
			t.Fatalf("got output %q with error %v, want no output", out, err)
		}
		if !errors.Is(err, mayfly.ErrInvalid) {
			t.Fatalf("got error %v, want one matching mayfly.ErrInvalid", err)
		}
		var me *mayfly.Error
		if !errors.As(err, &me) || me.Field != "jwks" {
			t.Fatalf("got error %#v, want field jwks", err)
		}
		return false
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(out, &set); err != nil {
		t.Fatalf("accepted %q but its output %q does not parse: %v", raw, out, err)
	}
	if n := len(set.Keys); n < 1 || n > 10 {
		t.Fatalf("accepted %q with %d keys, want 1-10", raw, n)
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			t.Fatalf("accepted %q and returned key %q of type %T, want only valid public keys", raw, k.KeyID, k.Key)
		}
	}
	var members struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(out, &members); err != nil {
		t.Fatal(err)
	}
	for _, k := range members.Keys {
		for _, p := range privateParams {
			if _, ok := k[p]; ok {
				t.Fatalf("accepted %q and kept private member %q in %q", raw, p, out)
			}
		}
	}
	// The output is itself acceptable and stable: it is stored, and read
	// back by every private_key_jwt authentication.
	again, err := publicJWKS(out)
	if err != nil {
		t.Fatalf("output %q of accepted %q is refused on a second pass: %v", out, raw, err)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("got %q on a second pass, want %q", again, out)
	}
	// The keys are the caller's keys, not others.
	var in jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatalf("accepted %q that does not parse: %v", raw, err)
	}
	if len(in.Keys) != len(set.Keys) {
		t.Fatalf("got %d keys out of %d in", len(set.Keys), len(in.Keys))
	}
	for i := range in.Keys {
		a, errA := in.Keys[i].Thumbprint(crypto.SHA256)
		b, errB := set.Keys[i].Thumbprint(crypto.SHA256)
		if errA != nil || errB != nil || !bytes.Equal(a, b) || in.Keys[i].KeyID != set.Keys[i].KeyID {
			t.Fatalf("key %d changed from %q to %q", i, raw, out)
		}
	}
	return true
}

func TestPublicJWKSAdversarial(t *testing.T) {
	k := newTestKeys(t)
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for key, v := range m {
			out[key] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	rsaPub := jwkMap(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "rsa", Algorithm: "RS256"})
	edPub := jwkMap(t, jose.JSONWebKey{Key: k.ed.Public(), KeyID: "ed", Algorithm: "EdDSA"})
	tenKeys := make([]any, 10)
	for i := range tenKeys {
		tenKeys[i] = with(k.ecPub, "kid", string(rune('a'+i)))
	}
	pre := k.rsa.Precomputed
	tests := []struct {
		name   string
		raw    []byte
		accept bool
	}{
		{"EC public key", jwksJSON(t, k.ecPub), true},
		{"RSA public key", jwksJSON(t, rsaPub), true},
		{"Ed25519 public key", jwksJSON(t, edPub), true},
		{"three public keys", jwksJSON(t, k.ecPub, rsaPub, edPub), true},
		{"ten keys", jwksJSON(t, tenKeys...), true},

		{"EC private key", jwksJSON(t, jwkMap(t, jose.JSONWebKey{Key: k.ec, KeyID: "ec"})), false},
		{"Ed25519 private key", jwksJSON(t, jwkMap(t, jose.JSONWebKey{Key: k.ed, KeyID: "ed"})), false},
		{"RSA private key", jwksJSON(t, jwkMap(t, jose.JSONWebKey{Key: k.rsa, KeyID: "rsa"})), false},
		{"symmetric key", jwksJSON(t, map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}), false},
		{"public then private", jwksJSON(t, k.ecPub, jwkMap(t, jose.JSONWebKey{Key: k.ec, KeyID: "ec2"})), false},
		{"public then symmetric", jwksJSON(t, k.ecPub, map[string]any{"kty": "oct", "k": "AAAA"}), false},
		// p and q are the whole private key: with them, d is a division away.
		{"RSA public key carrying its private factors", jwksJSON(t, with(rsaPub,
			"p", b64int(k.rsa.Primes[0]), "q", b64int(k.rsa.Primes[1]),
			"dp", b64int(pre.Dp), "dq", b64int(pre.Dq), "qi", b64int(pre.Qinv))), false},
		{"eleven keys", jwksJSON(t, append(tenKeys, k.ecPub)...), false},
		{"no keys", []byte(`{"keys":[]}`), false},
		{"keys null", []byte(`{"keys":null}`), false},
		{"null", []byte(`null`), false},
		{"empty object", []byte(`{}`), false},
		{"a single JWK", mustJSON(t, k.ecPub), false},
		{"not JSON", []byte(`not json`), false},
		{"empty", nil, false},
		{"unknown kty", jwksJSON(t, map[string]any{"kty": "XYZ"}), false},
		{"no kty", jwksJSON(t, map[string]any{"x": k.ecPub["x"], "y": k.ecPub["y"], "crv": "P-256"}), false},
		{"X25519 key", jwksJSON(t, map[string]any{"kty": "OKP", "crv": "X25519", "x": edPub["x"]}), false},
		{"point not on curve", jwksJSON(t, with(k.ecPub, "y", k.ecPub["x"])), false},
		{"short Ed25519 key", jwksJSON(t, with(edPub, "x", "AAAA")), false},
		{"unknown curve", jwksJSON(t, with(k.ecPub, "crv", "P-192")), false},
		{"key not an object", []byte(`{"keys":["ec"]}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkPublicJWKS(t, tc.raw); got != tc.accept {
				t.Errorf("got accepted %v, want %v", got, tc.accept)
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func FuzzPublicJWKS(f *testing.F) {
	k := newTestKeys(f)
	rsaPub := jwkMap(f, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "rsa", Algorithm: "RS256"})
	edPub := jwkMap(f, jose.JSONWebKey{Key: k.ed.Public(), KeyID: "ed", Algorithm: "EdDSA", Use: "sig"})
	for _, seed := range [][]byte{
		jwksJSON(f, k.ecPub),
		jwksJSON(f, rsaPub),
		jwksJSON(f, edPub),
		jwksJSON(f, k.ecPub, rsaPub, edPub),
		jwksJSON(f, jwkMap(f, jose.JSONWebKey{Key: k.ec, KeyID: "ec"})),
		jwksJSON(f, jwkMap(f, jose.JSONWebKey{Key: k.ed, KeyID: "ed"})),
		jwksJSON(f, map[string]any{"kty": "oct", "k": "AAAA"}),
		jwksJSON(f, map[string]any{"kty": "EC", "crv": "P-256", "x": k.ecPub["x"], "y": k.ecPub["y"], "x5c": []string{"AAAA"}}),
		[]byte(`{"keys":[]}`),
		[]byte(`{"keys":[{}]}`),
		[]byte(strings.Repeat(`{"keys":[`, 50)),
		[]byte(`null`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkPublicJWKS(t, raw)
	})
}
