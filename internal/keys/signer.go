package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Signer signs access tokens with one key during the key's window. It holds
// the private key and never gives it out; it prints as its kid only.
//
// It writes the compact JWS itself: the protected header is the same for
// every token a key signs, so it is encoded once. Going through go-jose's
// signer cost 7 µs and a dozen allocations per token (BENCHMARKS.md) for
// what is a concatenation around one signature. Every test verifies these
// tokens with go-jose and go-oidc.
type Signer struct {
	kid    string
	alg    mayfly.Alg
	from   time.Time
	until  time.Time
	key    crypto.Signer
	rand   io.Reader
	header string // base64url of {"alg":…,"kid":…,"typ":"at+jwt"}

	// retired is set when the key's window changes or it is revoked. Sign
	// holds the read lock while signing, so once retire returns no
	// signature by this Signer can still be made.
	mu      sync.RWMutex
	retired bool
}

// errRetired tells the caller to fetch the ring's current Signer, as
// Service.WithSigner does.
var errRetired = mayfly.Errorf(mayfly.Unavailable, "signing key was rotated or revoked")

// retire stops the Signer for good, waiting for signatures in flight.
func (s *Signer) retire() {
	s.mu.Lock()
	s.retired = true
	s.mu.Unlock()
}

func (s *Signer) isRetired() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.retired
}

func newSigner(k *mayfly.Key, priv crypto.Signer, ceiling time.Duration, rand io.Reader) (*Signer, error) {
	switch priv.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, fmt.Errorf("key %s: unsupported private key type %T", k.KID, priv)
	}
	h, err := header(k.Alg, k.KID, "at+jwt")
	if err != nil {
		return nil, err
	}
	// The ceiling bounds the window even if a stored window is longer.
	until := k.DeactivateAt
	if lim := k.ActivateAt.Add(ceiling); lim.Before(until) {
		until = lim
	}
	return &Signer{kid: k.KID, alg: k.Alg, from: k.ActivateAt, until: until, key: priv, rand: rand,
		header: h}, nil
}

// KID is the key's ID.
func (s *Signer) KID() string { return s.kid }

// String names the signer without its material.
func (s *Signer) String() string { return "keys.Signer(" + s.kid + ")" }

// GoString keeps %#v from printing the key.
func (s *Signer) GoString() string { return s.String() }

func (s *Signer) covers(t time.Time) bool { return !t.Before(s.from) && t.Before(s.until) }

// Sign signs payload as a compact JWS with typ at+jwt, if now is inside the
// key's window.
func (s *Signer) Sign(payload []byte, now time.Time) (string, error) {
	return s.sign(s.header, payload, now)
}

// SignTyped signs payload as Sign does but with the given typ, such as
// secevent+jwt for Security Event Tokens: explicit typing keeps one kind
// of token from passing for another (RFC 8725 section 3.11).
func (s *Signer) SignTyped(typ string, payload []byte, now time.Time) (string, error) {
	h, err := header(s.alg, s.kid, typ)
	if err != nil {
		return "", mayfly.E("keys.SignTyped", err)
	}
	return s.sign(h, payload, now)
}

func header(alg mayfly.Alg, kid, typ string) (string, error) {
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ"`
	}{string(alg), kid, typ})
	return base64.RawURLEncoding.EncodeToString(h), err
}

func (s *Signer) sign(header string, payload []byte, now time.Time) (string, error) {
	if !s.covers(now) {
		return "", mayfly.Errorf(mayfly.Unavailable, "key %s is outside its signing window", s.kid)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.retired {
		return "", errRetired
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(512))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.signature(buf)
	if err != nil {
		return "", mayfly.E("keys.Sign", err)
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// signature signs the JWS signing input as RFC 7518 section 3 says for the
// key's algorithm.
func (s *Signer) signature(input []byte) ([]byte, error) {
	switch priv := s.key.(type) {
	case *ecdsa.PrivateKey: // ES256: R and S, each 32 bytes big-endian
		h := sha256.Sum256(input)
		r, ss, err := ecdsa.Sign(s.rand, priv, h[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return sig, nil
	case ed25519.PrivateKey: // EdDSA (RFC 8037)
		return ed25519.Sign(priv, input), nil
	case *rsa.PrivateKey: // RS256: RSASSA-PKCS1-v1_5 with SHA-256
		h := sha256.Sum256(input)
		return rsa.SignPKCS1v15(s.rand, priv, crypto.SHA256, h[:])
	}
	return nil, fmt.Errorf("unsupported key type %T", s.key)
}
