package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// TestHeldSignerStopsAtRotateAndRevoke: token.Issue takes a Signer and signs
// later. Once a rotation or revocation is acknowledged, a Signer fetched
// before it can no longer sign.
func TestHeldSignerStopsAtRotateAndRevoke(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	if err := s.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	held, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	k, _ := s.Key(held.KID())
	if !f.clock.Now().Before(k.DeactivateAt) {
		if _, err := held.Sign([]byte(`{}`), f.clock.Now()); err == nil {
			t.Errorf("key %s signed after rotation ended its window at %s", held.KID(), k.DeactivateAt)
		}
	}
	held2, err := s.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, held2.KID(), "compromised"); err != nil {
		t.Fatal(err)
	}
	if _, err := held2.Sign([]byte(`{}`), f.clock.Now()); err == nil {
		t.Errorf("key %s signed after its revocation was acknowledged", held2.KID())
	}
}

// TestWithSignerFollowsRevocation: a key revoked between fetching its
// Signer and signing does not fail the request: WithSigner signs again
// with the key that took over.
func TestWithSignerFollowsRevocation(t *testing.T) {
	f := newFixture(t)
	s := f.service(t, 0)
	ctx := context.Background()
	if err := s.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	var tried []string
	sg, raw, err := s.WithSigner(ctx, keys.DefaultRing, func(sg *keys.Signer) (string, error) {
		tried = append(tried, sg.KID())
		if len(tried) == 1 {
			if _, err := s.Revoke(ctx, sg.KID(), "revoked mid-request"); err != nil {
				t.Fatal(err)
			}
		}
		return sg.Sign([]byte(`{}`), f.clock.Now())
	})
	if err != nil || raw == "" {
		t.Fatalf("WithSigner: %q, %v; want a token signed by the key that took over", raw, err)
	}
	if len(tried) != 2 || sg.KID() != tried[1] || tried[1] == tried[0] {
		t.Errorf("signed with %v, returned %s; want the revoked key, then its successor", tried, sg.KID())
	}
}

// TestSigningPassesOverKeyRevokedElsewhere: two services on one store
// stand for two replicas. Once this one has heard of the other's key
// revocation, it no longer signs with that key, even before it reloads its
// keys.
func TestSigningPassesOverKeyRevokedElsewhere(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	here, there := f.service(t, 0), f.service(t, 0)
	if err := here.EnsureRing(ctx, keys.DefaultRing); err != nil {
		t.Fatal(err)
	}
	if err := there.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	sg, err := here.Signer(ctx, keys.DefaultRing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := there.Revoke(ctx, sg.KID(), "compromised"); err != nil {
		t.Fatal(err)
	}
	if err := f.revokers[here].Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if next, err := here.Signer(ctx, keys.DefaultRing); err == nil && next.KID() == sg.KID() {
		t.Errorf("still signing with %s after hearing of its revocation", sg.KID())
	}
}

// opaqueKey hides a private key behind crypto.Signer alone, as an HSM or a
// KMS does, so that the Signer cannot take its fast path. It counts the
// signatures it makes.
type opaqueKey struct {
	key   crypto.Signer
	calls atomic.Int64
}

func (o *opaqueKey) Public() crypto.PublicKey { return o.key.Public() }

func (o *opaqueKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	o.calls.Add(1)
	return o.key.Sign(rand, digest, opts)
}

// signerKeys makes one private key of each algorithm.
func signerKeys(t testing.TB) map[mayfly.Alg]crypto.Signer {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[mayfly.Alg]crypto.Signer{mayfly.ES256: ec, mayfly.RS256: rs, mayfly.EdDSA: ed}
}

var signerNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func newTestSigner(t testing.TB, alg mayfly.Alg, priv crypto.Signer) *keys.Signer {
	t.Helper()
	k := &mayfly.Key{KID: "kid-" + string(alg), Alg: alg, ActivateAt: signerNow.Add(-time.Minute), DeactivateAt: signerNow.Add(time.Hour)}
	sg, err := keys.NewSigner(k, priv, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

// verifyToken checks raw with go-jose against pub, as a resource server
// would, and returns its payload and protected header.
func verifyToken(t *testing.T, raw string, alg mayfly.Alg, pub crypto.PublicKey) ([]byte, jose.Header) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("%s: parse: %v", alg, err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		t.Fatalf("%s: verify: %v", alg, err)
	}
	return payload, jws.Signatures[0].Protected
}

// TestOpaqueSignerVerifies: a key that offers only crypto.Signer signs
// through it, and go-jose verifies the tokens under the public key. ES256
// signs 300 times, so that a short R or S (1 in 128) is all but certain to
// test the conversion from DER.
func TestOpaqueSignerVerifies(t *testing.T) {
	for alg, priv := range signerKeys(t) {
		t.Run(string(alg), func(t *testing.T) {
			n := map[mayfly.Alg]int{mayfly.ES256: 300, mayfly.EdDSA: 20, mayfly.RS256: 3}[alg]
			key := &opaqueKey{key: priv}
			sg := newTestSigner(t, alg, key)
			for i := range n {
				payload := fmt.Appendf(nil, `{"n":%d}`, i)
				raw, err := sg.Sign(payload, signerNow)
				if err != nil {
					t.Fatal(err)
				}
				got, h := verifyToken(t, raw, alg, priv.Public())
				if string(got) != string(payload) {
					t.Fatalf("#%d: got payload %q, want %q", i, got, payload)
				}
				if h.Algorithm != string(alg) || h.KeyID != sg.KID() || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
					t.Fatalf("#%d: got header alg %q kid %q typ %v", i, h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType])
				}
			}
			if got := key.calls.Load(); got != int64(n) {
				t.Errorf("crypto.Signer.Sign called %d times for %d tokens; the fast path was taken", got, n)
			}
		})
	}
}

// TestFastAndOpaqueAgree: one key signs the same claims through the fast
// path and through crypto.Signer. Both tokens verify under the key with the
// same header and payload; RS256 and EdDSA signatures are deterministic, so
// there the tokens are identical byte for byte.
func TestFastAndOpaqueAgree(t *testing.T) {
	payload := []byte(`{"iss":"https://mayfly.test","sub":"mfc_x","jti":"j"}`)
	for alg, priv := range signerKeys(t) {
		t.Run(string(alg), func(t *testing.T) {
			fast, err := newTestSigner(t, alg, priv).Sign(payload, signerNow)
			if err != nil {
				t.Fatal(err)
			}
			opaque, err := newTestSigner(t, alg, &opaqueKey{key: priv}).Sign(payload, signerNow)
			if err != nil {
				t.Fatal(err)
			}
			fp, fh := verifyToken(t, fast, alg, priv.Public())
			op, oh := verifyToken(t, opaque, alg, priv.Public())
			if string(op) != string(fp) || oh.Algorithm != fh.Algorithm || oh.KeyID != fh.KeyID ||
				oh.ExtraHeaders[jose.HeaderType] != fh.ExtraHeaders[jose.HeaderType] {
				t.Errorf("crypto.Signer path: payload %q header %+v; fast path: payload %q header %+v", op, oh, fp, fh)
			}
			signingInput := func(raw string) string { return raw[:strings.LastIndexByte(raw, '.')] }
			if signingInput(opaque) != signingInput(fast) {
				t.Errorf("signing inputs differ:\n%s\n%s", signingInput(opaque), signingInput(fast))
			}
			if alg != mayfly.ES256 && opaque != fast {
				t.Errorf("deterministic %s signatures differ:\n%s\n%s", alg, opaque, fast)
			}
		})
	}
}

// faultyKey answers with a fixed signature, as a broken HSM might.
type faultyKey struct {
	pub crypto.PublicKey
	sig []byte
}

func (f faultyKey) Public() crypto.PublicKey { return f.pub }
func (f faultyKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return f.sig, nil
}

// TestOpaqueSignerRefuses: a key that cannot make the ring's algorithm is
// refused when the Signer is made, and a malformed signature from a
// crypto.Signer fails Sign rather than leaving in a token.
func TestOpaqueSignerRefuses(t *testing.T) {
	ks := signerKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := func(alg mayfly.Alg) *mayfly.Key {
		return &mayfly.Key{KID: "k", Alg: alg, ActivateAt: signerNow.Add(-time.Minute), DeactivateAt: signerNow.Add(time.Hour)}
	}
	for _, tc := range []struct {
		name string
		alg  mayfly.Alg
		key  crypto.Signer
	}{
		{"Ed25519 key for ES256", mayfly.ES256, &opaqueKey{key: ks[mayfly.EdDSA]}},
		{"P-384 key for ES256", mayfly.ES256, &opaqueKey{key: p384}},
		{"ECDSA key for RS256", mayfly.RS256, ks[mayfly.ES256]},
		{"RSA key for EdDSA", mayfly.EdDSA, &opaqueKey{key: ks[mayfly.RS256]}},
	} {
		if sg, err := keys.NewSigner(k(tc.alg), tc.key, rand.Reader); err == nil {
			t.Errorf("%s: got %v, want an error", tc.name, sg)
		}
	}

	long := make([]byte, 33)
	long[0] = 1
	for _, tc := range []struct {
		name string
		alg  mayfly.Alg
		sig  []byte
	}{
		{"ES256 raw r||s instead of DER", mayfly.ES256, make([]byte, 64)},
		{"ES256 DER with trailing bytes", mayfly.ES256, append(mustDER(t, bigInt(1), bigInt(2)), 0)},
		{"ES256 r of 33 bytes", mayfly.ES256, mustDER(t, new(big.Int).SetBytes(long), bigInt(2))},
		{"ES256 s zero", mayfly.ES256, mustDER(t, bigInt(1), bigInt(0))},
		{"ES256 r negative", mayfly.ES256, mustDER(t, bigInt(-1), bigInt(2))},
		{"RS256 short", mayfly.RS256, make([]byte, 255)},
		{"EdDSA short", mayfly.EdDSA, make([]byte, 63)},
	} {
		sg, err := keys.NewSigner(k(tc.alg), faultyKey{pub: ks[tc.alg].Public(), sig: tc.sig}, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := sg.Sign([]byte(`{}`), signerNow); err == nil {
			t.Errorf("%s: got token %q, want an error", tc.name, raw)
		}
	}
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }

func mustDER(t *testing.T, r, s *big.Int) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// BenchmarkSign compares signing with the key's own type and through
// crypto.Signer, per algorithm.
func BenchmarkSign(b *testing.B) {
	payload := []byte(`{"iss":"https://mayfly.example","sub":"mfc_abcdefghijklmnop","aud":"https://orders.example","exp":1767323345,"nbf":1767323045,"iat":1767323045,"jti":"06h3o74akcqs7mvahdrrf4hsoc","client_id":"mfc_abcdefghijklmnop","scope":"orders.read","principal":"prn_abcdefghijklmnop"}`)
	for _, alg := range []mayfly.Alg{mayfly.ES256, mayfly.EdDSA, mayfly.RS256} {
		priv := signerKeys(b)[alg]
		for _, path := range []struct {
			name string
			key  crypto.Signer
		}{{"fast", priv}, {"crypto.Signer", &opaqueKey{key: priv}}} {
			b.Run(string(alg)+"/"+path.name, func(b *testing.B) {
				sg := newTestSigner(b, alg, path.key)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := sg.Sign(payload, signerNow); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestES256SignsLowS: every ES256 token has a low S, through the fast path
// and through crypto.Signer, and is in canonical form. crypto/ecdsa makes
// a high S half the time, so 200 tokens by each path would hold about 100
// high ones if the Signer did not make them low.
func TestES256SignsLowS(t *testing.T) {
	priv := signerKeys(t)[mayfly.ES256]
	for _, path := range []struct {
		name string
		key  crypto.Signer
	}{{"fast", priv}, {"crypto.Signer", &opaqueKey{key: priv}}} {
		t.Run(path.name, func(t *testing.T) {
			sg := newTestSigner(t, mayfly.ES256, path.key)
			for i := range 200 {
				raw, err := sg.Sign(fmt.Appendf(nil, `{"n":%d}`, i), signerNow)
				if err != nil {
					t.Fatal(err)
				}
				verifyToken(t, raw, mayfly.ES256, priv.Public())
				if err := canon.Check(raw); err != nil {
					t.Fatalf("#%d: %v", i, err)
				}
				sig, err := base64.RawURLEncoding.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
				if err != nil {
					t.Fatal(err)
				}
				if err := canon.CheckSignature("ES256", sig); err != nil {
					t.Fatalf("#%d: %v\ntoken: %s", i, err, raw)
				}
			}
		})
	}
}

// FuzzFixedWidth: the DER an opaque signer answers is accepted exactly
// when it is the DER encoding/asn1 writes for two positive integers of at
// most 32 bytes each (encoding/asn1 alone would also read a sequence with
// more elements after S), and read as r||s.
func FuzzFixedWidth(f *testing.F) {
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02})
	f.Add([]byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x02})
	f.Add([]byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02})       // non-minimal
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x02})             // negative
	f.Add([]byte{0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x05, 0x00}) // a third element
	f.Fuzz(func(t *testing.T, der []byte) {
		got, err := keys.FixedWidth(der, 32)
		var rs struct{ R, S *big.Int }
		rest, refErr := asn1.Unmarshal(der, &rs)
		refOK := refErr == nil && len(rest) == 0 && rs.R.Sign() > 0 && rs.S.Sign() > 0 && rs.R.BitLen() <= 256 && rs.S.BitLen() <= 256
		if refOK {
			again, err := asn1.Marshal(rs)
			refOK = err == nil && bytes.Equal(again, der)
		}
		if err != nil {
			if refOK {
				t.Fatalf("refused %x, which encoding/asn1 reads as r=%v s=%v", der, rs.R, rs.S)
			}
			return
		}
		if !refOK {
			t.Fatalf("accepted %x, which encoding/asn1 refuses (%v)", der, refErr)
		}
		want := make([]byte, 64)
		rs.R.FillBytes(want[:32])
		rs.S.FillBytes(want[32:])
		if !bytes.Equal(got, want) {
			t.Fatalf("%x: got %x, want %x", der, got, want)
		}
	})
}

// TestES256Nonces: an access token's signature takes RFC 6979's nonce, so
// the same payload signs the same; a typed token, which may be signed
// again (a Security Event Token on each delivery attempt), keeps the
// hedged nonce and signs differently each time. All of them verify.
func TestES256Nonces(t *testing.T) {
	priv := signerKeys(t)[mayfly.ES256]
	sg := newTestSigner(t, mayfly.ES256, priv)
	payload := []byte(`{"jti":"same"}`)
	sign := func(typed bool) string {
		var raw string
		var err error
		if typed {
			raw, err = sg.SignTyped("secevent+jwt", payload, signerNow)
		} else {
			raw, err = sg.Sign(payload, signerNow)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !typed {
			verifyToken(t, raw, mayfly.ES256, priv.Public())
		}
		return raw
	}
	if a, b := sign(false), sign(false); a != b {
		t.Errorf("an access token's payload signed twice gave two signatures:\n%s\n%s", a, b)
	}
	if a, b := sign(true), sign(true); a == b {
		t.Errorf("a typed token signed twice gave one signature: %s", a)
	}
}
