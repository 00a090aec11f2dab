package tokentest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DPoPKey is a client's DPoP key, and the proofs it signs, made from RFC
// 9449's text with go-jose alone, apart from the package that checks
// them, so that a test of the checker does not share its mistakes.
type DPoPKey struct {
	Priv *ecdsa.PrivateKey
}

// NewDPoPKey returns a new P-256 key.
func NewDPoPKey(t testing.TB) *DPoPKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPKey{Priv: k}
}

// JWK is the public key as a JWK, as a proof's header carries it.
func (k *DPoPKey) JWK() map[string]any {
	b := func(n []byte) string { return base64.RawURLEncoding.EncodeToString(n) }
	pt, err := k.Priv.PublicKey.Bytes() // 0x04, x, y
	if err != nil {
		panic(err)
	}
	x, y := pt[1:33], pt[33:]
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b(x), "y": b(y)}
}

// JKT is the key's RFC 7638 thumbprint: SHA-256 of its required members
// in lexicographic order, without whitespace, base64url.
func (k *DPoPKey) JKT() string {
	j := k.JWK()
	s := `{"crv":"P-256","kty":"EC","x":"` + j["x"].(string) + `","y":"` + j["y"].(string) + `"}`
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ProofClaims are a proof's claims (RFC 9449 section 4.2). Zero IssuedAt
// means now; an empty ID a random one.
type ProofClaims struct {
	Method, URL string
	IssuedAt    time.Time
	ID          string
	// AccessToken, if set, gives the proof an ath: the base64url SHA-256
	// of the token.
	AccessToken string
	// Extra claims, and claims to drop (by name).
	Extra map[string]any
	Drop  []string
}

// Payload is the claims' JSON.
func (c ProofClaims) Payload(t testing.TB) []byte {
	t.Helper()
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	id := c.ID
	if id == "" {
		id = rand.Text()
	}
	m := map[string]any{"jti": id, "htm": c.Method, "htu": c.URL, "iat": iat.Unix()}
	if c.AccessToken != "" {
		h := sha256.Sum256([]byte(c.AccessToken))
		m["ath"] = base64.RawURLEncoding.EncodeToString(h[:])
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	for _, k := range c.Drop {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Proof is a well-formed proof: typ dpop+jwt, ES256, the public key in
// its jwk header.
func (k *DPoPKey) Proof(t testing.TB, c ProofClaims) string {
	t.Helper()
	return k.ProofWith(t, c, map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": k.JWK()})
}

// ProofWith signs c with k under the given header (alg is ES256, set by
// the signer): a header may lie about the key, the type, or anything.
func (k *DPoPKey) ProofWith(t testing.TB, c ProofClaims, header map[jose.HeaderKey]any) string {
	t.Helper()
	opts := &jose.SignerOptions{ExtraHeaders: header}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.Priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(c.Payload(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ProofSymmetric is a proof whose "key" is an HMAC secret, carried in its
// jwk header as RFC 7517 writes one, signed with HS256.
func ProofSymmetric(t testing.TB, c ProofClaims) string {
	t.Helper()
	secret := []byte(rand.Text() + rand.Text())
	jwk := map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(secret)}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": jwk}})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(c.Payload(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ProofNone is an unsigned proof (alg none) naming k's key.
func (k *DPoPKey) ProofNone(t testing.TB, c ProofClaims) string {
	t.Helper()
	h, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": k.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	e := base64.RawURLEncoding.EncodeToString
	return e(h) + "." + e(c.Payload(t)) + "."
}

// PrivateJWK is k as a JWK with its private member d.
func (k *DPoPKey) PrivateJWK() map[string]any {
	j := k.JWK()
	d, err := k.Priv.Bytes()
	if err != nil {
		panic(err)
	}
	j["d"] = base64.RawURLEncoding.EncodeToString(d)
	return j
}
