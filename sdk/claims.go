package sdk

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Claims are a verified RFC 9068 access token's claims. A Claims returned
// by the package is the caller's own copy, except that Audience is shared
// and must not be modified.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	NotBefore time.Time // zero when the token has no nbf
	IssuedAt  time.Time
	ID        string // jti
	ClientID  string
	Scope     string // space-separated
	// Principal is the person or service accountable for the client.
	Principal string
	// KeyID is the kid of the issuer's key that signed the token.
	KeyID string
	// Actor is who acts for the subject (the act claim's sub, RFC 8693):
	// the login service that exchanged for a customer's token; "" for a
	// client's own token.
	Actor string
	// SessionID is the refresh family the token came from (sid), if any.
	SessionID string
	// JKT is the thumbprint of the key the token is bound to (cnf.jkt, RFC
	// 9449); a request with such a token must carry a DPoP proof by it.
	JKT string
}

// Scopes returns the token's scopes.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether the token carries scope.
func (c *Claims) HasScope(scope string) bool {
	s := c.Scope
	for s != "" {
		var f string
		f, s, _ = strings.Cut(s, " ")
		if f == scope {
			return true
		}
	}
	return false
}

func (c *Claims) hasAudience(aud string) bool { return slices.Contains(c.Audience, aud) }

type claimsKey struct{}

// ClaimsFrom returns the claims the middleware put in a request's context.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	switch v := ctx.Value(claimsKey{}).(type) {
	case *Claims:
		return v, v != nil
	case *request: // the middleware's, with a Reporter
		return &v.claims, true
	}
	return nil, false
}

// WithClaims returns a context carrying c, as the middleware makes for the
// handlers it wraps; tests of such handlers can use it without a token.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}
