package ledger

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/memo"
)

// KeyFinder finds a signing key Mayfly made, whatever its state.
type KeyFinder interface {
	Key(kid string) (*mayfly.Key, error)
}

// TokenChecker verifies the raw tokens services report (see
// CheckTokens). It keeps the public keys it has parsed, and remembers the
// tokens whose signature verified: a service reports the same token with
// each request it makes in the token's life, and a P-256 verification
// (about 65 µs) was half of the ingest's CPU when every report carried
// its token.
type TokenChecker struct {
	keys KeyFinder
	mu   sync.Mutex
	pubs map[string]crypto.PublicKey
	// The verified tokens, by the SHA-256 of their whole compact form,
	// signature included.
	verified *memo.Memory[struct{}]
}

// verifiedMax bounds a generation of remembered tokens: 2 x 65,536 x
// about 40 bytes.
const verifiedMax = 1 << 16

// NewTokenChecker returns a TokenChecker on keys.
func NewTokenChecker(keys KeyFinder) *TokenChecker {
	return &TokenChecker{keys: keys, pubs: map[string]crypto.PublicKey{}, verified: memo.New[struct{}](verifiedMax)}
}

// tokenAlgs are the algorithms Mayfly signs with.
var tokenAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// tokenClaims are the claims a report keeps of a token.
type tokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	IssuedAt any    `json:"iat"`
	Expiry   any    `json:"exp"`
}

// CheckTokens fills, for each report of a raw token, the claims the token
// holds, sets Check to LedgerSigned if its signature verifies under a key
// of Mayfly's in any state (revoked, retired: such a token in use is what
// detection looks for) or LedgerUnsigned if not, and drops the token. It
// is not the acceptance check: an expired or revoked token is recorded as
// what it is. An unsigned token's claims are taken as it states them.
func (c *TokenChecker) CheckTokens(reports []mayfly.LedgerReport) {
	for i := range reports {
		r := &reports[i]
		if r.Token == "" {
			continue
		}
		raw := unpadded(string(r.Token))
		r.Token = ""
		r.Check = mayfly.LedgerUnsigned
		kid, cl := unverifiedClaims(raw)
		r.KID = clip(kid)
		if cl != nil {
			r.Issuer, r.Subject, r.JTI, r.ClientID = clip(cl.Issuer), clip(cl.Subject), clip(cl.ID), clip(cl.ClientID)
			r.IssuedAt, r.Expires = unixTime(cl.IssuedAt), unixTime(cl.Expiry)
		}
		if c != nil && c.signed(raw, kid) {
			r.Check = mayfly.LedgerSigned
		}
	}
}

// signed reports whether raw's signature verifies under Mayfly's key kid.
// Only a verified token is remembered: a key's public half never changes,
// so neither does the answer, where a failure may be the store's and pass.
func (c *TokenChecker) signed(raw, kid string) bool {
	if kid == "" {
		return false
	}
	sum := memo.Sum(raw)
	if _, ok := c.verified.Get(sum); ok {
		return true
	}
	if !c.verify(raw, kid) {
		return false
	}
	c.verified.Put(sum, struct{}{})
	return true
}

// verify checks raw's signature under Mayfly's key kid.
func (c *TokenChecker) verify(raw, kid string) bool {
	k, err := c.keys.Key(kid)
	if err != nil {
		return false
	}
	c.mu.Lock()
	pub, ok := c.pubs[kid]
	c.mu.Unlock()
	if !ok {
		if pub, err = x509.ParsePKIXPublicKey(k.Public); err != nil {
			return false
		}
		c.mu.Lock()
		c.pubs[kid] = pub
		c.mu.Unlock()
	}
	jws, err := jose.ParseSignedCompact(raw, tokenAlgs)
	if err != nil || len(jws.Signatures) != 1 || jws.Signatures[0].Header.Algorithm != string(k.Alg) {
		return false
	}
	_, err = jws.Verify(pub)
	return err == nil
}

// unpadded strips the padding of raw's parts, which its digest ignores:
// a padded spelling of a genuine token is the token Mayfly signed, and
// JWS signs the unpadded parts.
func unpadded(raw string) string {
	if !strings.Contains(raw, "=") {
		return raw
	}
	parts := strings.Split(raw, ".")
	for i, p := range parts {
		parts[i] = strings.TrimRight(p, "=")
	}
	return strings.Join(parts, ".")
}

// unverifiedClaims reads the kid of a compact JWS's header and the claims
// of its payload, without checking anything; nil claims if they do not
// decode.
func unverifiedClaims(raw string) (string, *tokenClaims) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", nil
	}
	var h struct {
		KID string `json:"kid"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err == nil {
		if josejson.Unmarshal(b, &h) != nil {
			h.KID = ""
		}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return h.KID, nil
	}
	var cl tokenClaims
	if josejson.Unmarshal(b, &cl) != nil {
		return h.KID, nil
	}
	return h.KID, &cl
}

// unixTime reads a NumericDate claim; anything else is the zero time.
func unixTime(v any) time.Time {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case josejson.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return time.Time{}
		}
	default:
		return time.Time{}
	}
	if f <= 0 || f > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

// clip bounds a claim a token states to what a ledger bucket keeps: a
// forger chooses its claims, and a long one must not stop the batch.
func clip(s string) string {
	if len(s) <= mayfly.LedgerMaxName {
		return s
	}
	return strings.ToValidUTF8(s[:mayfly.LedgerMaxName], "")
}
