package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Signer signs access tokens with one key during the key's window. It holds
// the private key and never gives it out; it prints as its kid only.
//
// It writes the compact JWS itself: the protected header is the same for
// every token a key signs, so it is encoded once. Going through go-jose's
// signer cost 7 µs and a dozen allocations per token (BENCHMARKS.md) for
// what is a concatenation around one signature. Every test verifies these
// tokens with go-jose and go-oidc.
//
// The three private key types the standard library defines are signed
// with directly; any other crypto.Signer (a key held in an HSM or a KMS,
// which never shows its material) is signed through the interface, with
// the algorithm its public key is made for.
type Signer struct {
	kid    string
	alg    mayfly.Alg
	from   time.Time
	until  time.Time
	key    crypto.Signer
	rand   io.Reader
	header string // base64url of {"alg":…,"kid":…,"typ":"at+jwt"}
	rawHdr []byte // the same, decoded

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
	if err := signs(k.Alg, priv.Public()); err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	h, err := header(k.Alg, k.KID, "at+jwt")
	if err != nil {
		return nil, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, err
	}
	// The ceiling bounds the window even if a stored window is longer.
	until := k.DeactivateAt
	if lim := k.ActivateAt.Add(ceiling); lim.Before(until) {
		until = lim
	}
	return &Signer{kid: k.KID, alg: k.Alg, from: k.ActivateAt, until: until, key: priv, rand: rand,
		header: h, rawHdr: raw}, nil
}

// KID is the key's ID.
func (s *Signer) KID() string { return s.kid }

// Alg is the key's algorithm.
func (s *Signer) Alg() mayfly.Alg { return s.alg }

// String names the signer without its material.
func (s *Signer) String() string { return "keys.Signer(" + s.kid + ")" }

// GoString keeps %#v from printing the key.
func (s *Signer) GoString() string { return s.String() }

func (s *Signer) covers(t time.Time) bool { return !t.Before(s.from) && t.Before(s.until) }

// From is when the key's signing window opens.
func (s *Signer) From() time.Time { return s.from }

// Sign signs payload as a compact JWS with typ at+jwt, if now is inside the
// key's window.
func (s *Signer) Sign(payload []byte, now time.Time) (string, error) {
	return s.sign(s.header, payload, now, true)
}

// Digest is canon.Digest of the token Sign makes of payload, without
// decoding that token again.
func (s *Signer) Digest(payload []byte) string { return canon.DigestParts(s.rawHdr, payload) }

// SignTyped signs payload as Sign does but with the given typ, such as
// secevent+jwt for Security Event Tokens: explicit typing keeps one kind
// of token from passing for another (RFC 8725 section 3.11).
func (s *Signer) SignTyped(typ string, payload []byte, now time.Time) (string, error) {
	h, err := header(s.alg, s.kid, typ)
	if err != nil {
		return "", mayfly.E("keys.SignTyped", err)
	}
	return s.sign(h, payload, now, false)
}

func header(alg mayfly.Alg, kid, typ string) (string, error) {
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ"`
	}{string(alg), kid, typ})
	return base64.RawURLEncoding.EncodeToString(h), err
}

// sign signs header.payload. unique says the payload is never signed
// again (an access token's, with its random jti); see keySignature.
func (s *Signer) sign(header string, payload []byte, now time.Time, unique bool) (string, error) {
	if !s.covers(now) {
		return "", mayfly.Errorf(mayfly.Unavailable, "key %s is outside its signing window", s.kid)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.retired {
		return "", errRetired
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(s.sigSize()))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.signature(buf, unique)
	if err != nil {
		return "", mayfly.E("keys.Sign", err)
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// sigSize is the size of the key's signatures, or a bound on it.
func (s *Signer) sigSize() int {
	switch s.alg {
	case mayfly.ES256, mayfly.EdDSA:
		return 64
	}
	return 512 // RSA up to 4096 bits
}

// signs checks that a key with public key pub can sign as alg.
func signs(alg mayfly.Alg, pub crypto.PublicKey) error {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == mayfly.ES256 && pub.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if alg == mayfly.RS256 {
			return nil
		}
	case ed25519.PublicKey:
		if alg == mayfly.EdDSA {
			return nil
		}
	}
	return fmt.Errorf("a key with a %T public key cannot sign %s", pub, alg)
}

// signature signs the JWS signing input as RFC 7518 section 3 says for the
// key's algorithm. An ES256 signature leaves with a low S (see
// package canon): crypto/ecdsa, like most signers, makes S > n/2 as often
// as not, and verifiers accept only the low one of the two valid
// signatures, so that a token has one spelling.
func (s *Signer) signature(input []byte, unique bool) ([]byte, error) {
	sig, err := s.keySignature(input, unique)
	if err == nil && s.alg == mayfly.ES256 {
		canon.LowS(sig)
	}
	return sig, err
}

// keySignature is the signature as the key makes it.
//
// An ES256 signature of a unique input takes its nonce as RFC 6979
// derives it from the key and the message: a fifth cheaper than
// crypto/ecdsa's hedged nonce, which hashes fresh randomness into it with
// SHA-512 (BENCHMARKS.md). The hedge guards against a fault while signing
// a message that is signed again, which then leaks the key; an access
// token's payload is never signed twice (its jti is random), while other
// typed tokens may be (a Security Event Token is signed again for each
// delivery attempt), so those keep the hedged nonce.
func (s *Signer) keySignature(input []byte, unique bool) ([]byte, error) {
	switch priv := s.key.(type) {
	case *ecdsa.PrivateKey: // ES256: R and S, each 32 bytes big-endian
		h := sha256.Sum256(input)
		var rand io.Reader // nil: RFC 6979
		if !unique {
			rand = s.rand
		}
		der, err := priv.Sign(rand, h[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return fixedWidth(der, 32)
	case ed25519.PrivateKey: // EdDSA (RFC 8037)
		return ed25519.Sign(priv, input), nil
	case *rsa.PrivateKey: // RS256: RSASSA-PKCS1-v1_5 with SHA-256
		h := sha256.Sum256(input)
		return rsa.SignPKCS1v15(s.rand, priv, crypto.SHA256, h[:])
	}
	return s.opaque(input)
}

// opaque signs through the crypto.Signer interface alone, as a key held in
// an HSM or a KMS is signed with, and checks the shape of what comes back:
// a token with a malformed signature must not leave this package.
func (s *Signer) opaque(input []byte) ([]byte, error) {
	switch s.alg {
	case mayfly.ES256: // the signer answers ASN.1 DER; JWS wants R and S, 32 bytes each
		h := sha256.Sum256(input)
		der, err := s.key.Sign(s.rand, h[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return fixedWidth(der, 32)
	case mayfly.RS256: // crypto.SHA256 without *rsa.PSSOptions asks for PKCS #1 v1.5
		h := sha256.Sum256(input)
		sig, err := s.key.Sign(s.rand, h[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		if n := s.key.Public().(*rsa.PublicKey).Size(); len(sig) != n {
			return nil, fmt.Errorf("RS256 signature of %d bytes from a %d-byte key", len(sig), n)
		}
		return sig, nil
	case mayfly.EdDSA: // Ed25519 signs the message itself: no hash (RFC 8037)
		sig, err := s.key.Sign(s.rand, input, crypto.Hash(0))
		if err != nil {
			return nil, err
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("EdDSA signature of %d bytes", len(sig))
		}
		return sig, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q", s.alg)
}

// fixedWidth turns an ECDSA signature in ASN.1 DER (SEQUENCE of INTEGER r,
// INTEGER s) into r||s, each big-endian in size bytes (RFC 7518 section
// 3.4).
func fixedWidth(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("ECDSA signature: not one DER sequence")
	}
	if !seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("ECDSA signature: not a sequence of two integers")
	}
	sig := make([]byte, 2*size)
	for i, n := range [][]byte{r, s} {
		// DER: no leading zero unless the next byte's top bit is set, and
		// positive integers only.
		if len(n) == 0 || n[0]&0x80 != 0 || (len(n) > 1 && n[0] == 0 && n[1]&0x80 == 0) {
			return nil, errors.New("ECDSA signature: r or s is not a positive DER integer")
		}
		if n[0] == 0 {
			n = n[1:]
		}
		if len(n) > size || allZero(n) {
			return nil, errors.New("ECDSA signature: r or s out of range")
		}
		copy(sig[(i+1)*size-len(n):(i+1)*size], n)
	}
	return sig, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
