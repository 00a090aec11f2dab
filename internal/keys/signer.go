package keys

import (
	"crypto"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
)

// Signer signs access tokens with one key during the key's window. It holds
// the private key and never gives it out; it prints as its kid only.
type Signer struct {
	kid   string
	alg   mayfly.Alg
	from  time.Time
	until time.Time
	jws   jose.Signer
}

func newSigner(k *mayfly.Key, priv crypto.Signer, ceiling time.Duration) (*Signer, error) {
	js, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: jose.JSONWebKey{Key: priv, KeyID: k.KID}},
		(&jose.SignerOptions{}).WithType("at+jwt"),
	)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	// The ceiling bounds the window even if a stored window is longer.
	until := k.DeactivateAt
	if lim := k.ActivateAt.Add(ceiling); lim.Before(until) {
		until = lim
	}
	return &Signer{kid: k.KID, alg: k.Alg, from: k.ActivateAt, until: until, jws: js}, nil
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
	if !s.covers(now) {
		return "", mayfly.Errorf(mayfly.Unavailable, "key %s is outside its signing window", s.kid)
	}
	obj, err := s.jws.Sign(payload)
	if err != nil {
		return "", mayfly.E("keys.Sign", err)
	}
	return obj.CompactSerialize()
}
