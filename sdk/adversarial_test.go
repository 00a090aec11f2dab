package sdk_test

// Adversarial tests: hostile tokens against a verifier that follows a fake
// issuer. Each must be refused for the right reason, and nothing a token
// says may make the verifier fetch anything from anywhere but the issuer.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// craft makes a compact JWS with any header, signed by sign (nil: no
// signature).
func craft(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, claims)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hs256(key []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(input)
		return m.Sum(nil)
	}
}

func es256(t testing.TB, k *ecdsa.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte {
		sum := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
}

// attacker is a key and a web server of someone who wants a token accepted.
type attacker struct {
	key  *ecdsa.PrivateKey
	jwk  map[string]any // its public key, as a JWK
	cert string         // a self-signed certificate for it, base64
	srv  *httptest.Server
	hits atomic.Int64
}

func newAttacker(t *testing.T) *attacker {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{key: k}
	b, err := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey, KeyID: "attacker", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &a.jwk)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: start.Add(-time.Hour), NotAfter: start.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	a.cert = base64.StdEncoding.EncodeToString(der)
	set, _ := json.Marshal(map[string]any{"keys": []any{a.jwk}})
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		w.Write(set)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func TestAdversarialTokens(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	a := newAttacker(t)
	kid := e.iss.KeyID()
	jwks := e.iss.JWKS()
	var pub map[string]any
	{
		var set struct{ Keys []map[string]any }
		json.Unmarshal(jwks, &set)
		pub = set.Keys[0]
	}
	spki := func() []byte {
		var k jose.JSONWebKey
		b, _ := json.Marshal(pub)
		k.UnmarshalJSON(b)
		der, err := x509.MarshalPKIXPublicKey(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	claims := func(over map[string]any) map[string]any { return e.iss.Claims(over) }
	hdr := func(over map[string]any) map[string]any {
		h := map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}
		for k, v := range over {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	good := e.iss.Token(nil)
	parts := strings.Split(good, ".")

	for _, tc := range []struct {
		name string
		raw  func() string
		want sdk.Reason
	}{
		{"valid", func() string { return good }, ""},

		// Algorithms: only ES256, RS256 and EdDSA, and only the key's own.
		{"alg none", func() string { return craft(t, hdr(map[string]any{"alg": "none"}), claims(nil), nil) }, sdk.BadAlgorithm},
		{"alg None", func() string { return craft(t, hdr(map[string]any{"alg": "None"}), claims(nil), nil) }, sdk.BadAlgorithm},
		{"alg none with the real signature", func() string {
			return b64json(t, hdr(map[string]any{"alg": "none"})) + "." + parts[1] + "." + parts[2]
		}, sdk.BadAlgorithm},
		{"no alg", func() string { return craft(t, hdr(map[string]any{"alg": nil}), claims(nil), es256(t, a.key)) }, sdk.BadAlgorithm},
		{"HS256 keyed with the JWKS", func() string {
			return craft(t, hdr(map[string]any{"alg": "HS256"}), claims(nil), hs256(jwks))
		}, sdk.BadAlgorithm},
		{"HS256 keyed with the public key's DER", func() string {
			return craft(t, hdr(map[string]any{"alg": "HS256"}), claims(nil), hs256(spki))
		}, sdk.BadAlgorithm},
		{"HS256 keyed with the public JWK's x", func() string {
			x, _ := base64.RawURLEncoding.DecodeString(pub["x"].(string))
			return craft(t, hdr(map[string]any{"alg": "HS256"}), claims(nil), hs256(x))
		}, sdk.BadAlgorithm},
		{"HS512", func() string { return craft(t, hdr(map[string]any{"alg": "HS512"}), claims(nil), hs256(spki)) }, sdk.BadAlgorithm},
		{"ES384", func() string { return craft(t, hdr(map[string]any{"alg": "ES384"}), claims(nil), es256(t, a.key)) }, sdk.BadAlgorithm},
		{"PS256", func() string { return craft(t, hdr(map[string]any{"alg": "PS256"}), claims(nil), es256(t, a.key)) }, sdk.BadAlgorithm},
		{"RS256 named, ES256 key", func() string { return e.iss.TokenWithHeader(map[string]any{"alg": "RS256"}, nil) }, sdk.BadAlgorithm},
		{"EdDSA named, ES256 key", func() string { return e.iss.TokenWithHeader(map[string]any{"alg": "EdDSA"}, nil) }, sdk.BadAlgorithm},

		// Keys: only the issuer's JWKS, by kid.
		{"unknown kid", func() string { return e.iss.TokenWithHeader(map[string]any{"kid": "no-such-key"}, nil) }, sdk.UnknownKey},
		{"no kid", func() string { return e.iss.TokenWithHeader(map[string]any{"kid": nil}, nil) }, sdk.UnknownKey},
		{"kid not a string", func() string { return e.iss.TokenWithHeader(map[string]any{"kid": 7}, nil) }, sdk.Malformed},
		{"signed by another key under the issuer's kid", func() string { return craft(t, hdr(nil), claims(nil), es256(t, a.key)) }, sdk.BadSignature},
		{"jku elsewhere, signed by the issuer", func() string {
			return e.iss.TokenWithHeader(map[string]any{"jku": a.srv.URL}, nil)
		}, ""},
		{"x5u elsewhere, signed by the issuer", func() string {
			return e.iss.TokenWithHeader(map[string]any{"x5u": a.srv.URL}, nil)
		}, ""},
		{"jwk of the attacker, signed by the issuer", func() string {
			return e.iss.TokenWithHeader(map[string]any{"jwk": a.jwk}, nil)
		}, ""},
		{"jku and the attacker's kid, signed by the attacker", func() string {
			return craft(t, hdr(map[string]any{"jku": a.srv.URL, "kid": "attacker"}), claims(nil), es256(t, a.key))
		}, sdk.UnknownKey},
		{"x5u and the issuer's kid, signed by the attacker", func() string {
			return craft(t, hdr(map[string]any{"x5u": a.srv.URL}), claims(nil), es256(t, a.key))
		}, sdk.BadSignature},
		{"embedded jwk, signed by the attacker", func() string {
			return craft(t, hdr(map[string]any{"jwk": a.jwk, "kid": nil}), claims(nil), es256(t, a.key))
		}, sdk.UnknownKey},
		{"embedded jwk and the issuer's kid, signed by the attacker", func() string {
			return craft(t, hdr(map[string]any{"jwk": a.jwk}), claims(nil), es256(t, a.key))
		}, sdk.BadSignature},
		{"embedded jwk and the attacker's kid, signed by the attacker", func() string {
			return craft(t, hdr(map[string]any{"jwk": a.jwk, "kid": "attacker"}), claims(nil), es256(t, a.key))
		}, sdk.UnknownKey},
		{"x5c of the attacker, signed by the attacker", func() string {
			return craft(t, hdr(map[string]any{"x5c": []string{a.cert}}), claims(nil), es256(t, a.key))
		}, sdk.BadSignature},
		{"x5c of the attacker, no kid", func() string {
			return craft(t, hdr(map[string]any{"x5c": []string{a.cert}, "kid": nil}), claims(nil), es256(t, a.key))
		}, sdk.UnknownKey},

		// Headers the verifier does not accept.
		{"typ JWT", func() string { return e.iss.TokenWithHeader(map[string]any{"typ": "JWT"}, nil) }, sdk.BadType},
		{"no typ", func() string { return e.iss.TokenWithHeader(map[string]any{"typ": nil}, nil) }, sdk.BadType},
		{"crit", func() string {
			return e.iss.TokenWithHeader(map[string]any{"crit": []string{"exp"}, "exp": 1}, nil)
		}, sdk.Malformed},
		{"b64 false", func() string {
			return e.iss.TokenWithHeader(map[string]any{"b64": false, "crit": []string{"b64"}}, nil)
		}, sdk.Malformed},
		{"b64 without crit", func() string { return e.iss.TokenWithHeader(map[string]any{"b64": true}, nil) }, sdk.Malformed},

		// Claims.
		{"expired", func() string { return e.iss.Token(map[string]any{"exp": start.Add(-time.Second)}) }, sdk.Expired},
		{"nbf in the future", func() string { return e.iss.Token(map[string]any{"nbf": start.Add(time.Hour)}) }, sdk.NotYetValid},
		{"iat in the future", func() string {
			return e.iss.Token(map[string]any{"iat": start.Add(time.Hour), "exp": start.Add(time.Hour + time.Minute)})
		}, sdk.NotYetValid},
		{"ten-year lifetime", func() string { return e.iss.Token(map[string]any{"exp": start.AddDate(10, 0, 0)}) }, sdk.TooLong},
		{"wrong iss", func() string { return e.iss.Token(map[string]any{"iss": "https://evil.example"}) }, sdk.WrongIssuer},
		{"iss with a slash", func() string { return e.iss.Token(map[string]any{"iss": e.iss.URL + "/"}) }, sdk.WrongIssuer},
		{"no iss", func() string { return e.iss.Token(map[string]any{"iss": nil}) }, sdk.WrongIssuer},
		{"iss a number", func() string { return e.iss.Token(map[string]any{"iss": 1}) }, sdk.Malformed},
		{"wrong aud", func() string { return e.iss.Token(map[string]any{"aud": "https://other.example"}) }, sdk.WrongAudience},
		{"aud list without ours", func() string {
			return e.iss.Token(map[string]any{"aud": []string{"https://a.example", "https://b.example"}})
		}, sdk.WrongAudience},
		{"aud a prefix of ours", func() string { return e.iss.Token(map[string]any{"aud": "https://service.exampl"}) }, sdk.WrongAudience},
		{"no aud", func() string { return e.iss.Token(map[string]any{"aud": nil}) }, sdk.WrongAudience},
		{"no jti", func() string { return e.iss.Token(map[string]any{"jti": nil}) }, sdk.MissingClaim},
		{"no client_id", func() string { return e.iss.Token(map[string]any{"client_id": nil}) }, sdk.MissingClaim},
		{"no exp", func() string { return e.iss.Token(map[string]any{"exp": nil}) }, sdk.MissingClaim},
		{"no iat", func() string { return e.iss.Token(map[string]any{"iat": nil}) }, sdk.MissingClaim},
		{"claims not an object", func() string { return e.iss.Sign(nil, []byte(`["iss"]`)) }, sdk.Malformed},
		{"claims not JSON", func() string { return e.iss.Sign(nil, []byte(`iss=x`)) }, sdk.Malformed},
		{"claims empty", func() string { return e.iss.Sign(nil, nil) }, sdk.Malformed},

		// Shapes.
		{"empty", func() string { return "" }, sdk.Malformed},
		{"garbage", func() string { return "garbage" }, sdk.Malformed},
		{"three dots", func() string { return "..." }, sdk.Malformed},
		{"two parts", func() string { return parts[0] + "." + parts[1] }, sdk.Malformed},
		{"four parts", func() string { return good + ".x" }, sdk.Malformed},
		{"truncated in the payload", func() string { return good[:len(parts[0])+10] }, sdk.Malformed},
		{"truncated signature", func() string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:60])
		}, sdk.BadSignature},
		// Cut within a base64 quantum, the last character keeps bits of
		// the bytes cut off, as a rule (15 in 16).
		{"truncated signature, cut anywhere", func() string {
			for n := 1; ; n++ {
				if cut := good[:len(good)-n]; canon.Check(cut) != nil {
					return cut
				}
			}
		}, sdk.Malformed},
		{"signature of another token", func() string {
			other := strings.Split(e.iss.Token(nil), ".")
			return parts[0] + "." + parts[1] + "." + other[2]
		}, sdk.BadSignature},
		{"payload swapped", func() string {
			return parts[0] + "." + b64json(t, claims(map[string]any{"scope": "admin"})) + "." + parts[2]
		}, sdk.BadSignature},
		{"padded base64", func() string { return parts[0] + "=." + parts[1] + "." + parts[2] }, sdk.Malformed},
		{"standard base64", func() string { return strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+/" }, sdk.Malformed},
		{"Bearer prefix", func() string { return "Bearer " + good }, sdk.Malformed},
		{"NUL bytes", func() string { return "\x00\x00.\x00.\x00" }, sdk.Malformed},
		{"invalid UTF-8", func() string { return "\xff\xfe.\xff.\xff" }, sdk.Malformed},
		{"huge", func() string { return strings.Repeat("a", sdk.MaxTokenSize+1) }, sdk.Malformed},
		{"huge but signed", func() string { return e.iss.Token(map[string]any{"pad": strings.Repeat("x", sdk.MaxTokenSize)}) }, sdk.Malformed},
		{"just under the limit", func() string {
			for n := sdk.MaxTokenSize * 3 / 4; ; n-- {
				if raw := e.iss.Token(map[string]any{"pad": strings.Repeat("x", n)}); len(raw) <= sdk.MaxTokenSize {
					return raw
				}
			}
		}, ""},
		{"JSON serialization, one signature", func() string {
			return mustJSON(t, map[string]any{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
		}, sdk.Malformed},
		{"JSON serialization, two signatures", func() string {
			other := craft(t, hdr(map[string]any{"kid": "attacker"}), claims(nil), es256(t, a.key))
			op := strings.Split(other, ".")
			return mustJSON(t, map[string]any{"payload": parts[1], "signatures": []any{
				map[string]any{"protected": parts[0], "signature": parts[2]},
				map[string]any{"protected": op[0], "signature": op[2]},
			}})
		}, sdk.Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.verify(tc.raw())
			wantReason(t, err, tc.want)
		})
	}
	if n := a.hits.Load(); n != 0 {
		t.Errorf("the attacker's server got %d requests, want 0", n)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Unknown kids make the verifier fetch the key set again, but at most once
// per 10 s of its clock and one fetch at a time, however many arrive.
func TestUnknownKidRefetchLimited(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				raw := e.iss.TokenWithHeader(map[string]any{"kid": "bogus-" + string(rune('a'+i%26)) + strings.Repeat("x", i)}, nil)
				_, err := e.verify(raw)
				wantReason(t, err, sdk.UnknownKey)
			})
		}
		wg.Wait()
	}
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{
		{0, 1},                // only New's fetch: it was less than 10 s ago
		{9 * time.Second, 1},  // still less
		{time.Second, 2},      // 10 s after New's fetch: one refetch
		{0, 2},                // and no more
		{5 * time.Second, 2},  //
		{5 * time.Second, 3},  // 10 s after the last
		{time.Hour, 4},        //
		{time.Millisecond, 4}, //
	} {
		if step.advance > 0 {
			e.advance(step.advance)
		}
		flood()
		if got := e.iss.JWKSRequests(); got != step.want {
			t.Fatalf("after %s more: got %d JWKS requests, want %d", step.advance, got, step.want)
		}
	}
	// A key published since is found by the next allowed refetch.
	kid := e.iss.RotateKey("ES256")
	e.advance(10 * time.Second)
	c, err := e.verify(e.iss.Token(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyID != kid {
		t.Errorf("got kid %q, want %q", c.KeyID, kid)
	}
}

// A caller that gives up while another fetches the key set is not held.
func TestUnknownKidContext(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.advance(10 * time.Second)
	_, err := e.v.Verify(ctx, e.iss.TokenWithHeader(map[string]any{"kid": "bogus"}, nil))
	wantReason(t, err, sdk.UnknownKey)
}
