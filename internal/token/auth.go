package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
)

// AssertionType is the RFC 7523 client assertion type.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Assertion limits.
const (
	MaxAssertionLifetime = time.Hour
	assertionLeeway      = 30 * time.Second
)

// assertionAlgs are the algorithms a client may sign its assertion with.
// "none" and the HMAC family are absent: an assertion must prove possession
// of a private key the server never sees.
var assertionAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// Credentials are what a client presented at an endpoint.
type Credentials struct {
	ClientID      string
	Secret        string // client_secret_basic or client_secret_post
	Assertion     string // private_key_jwt
	AssertionType string
	// PublicAllowed says the endpoint accepts a public client by its
	// client_id alone (token_endpoint_auth_method "none"): only the token
	// endpoint does, where such a client must then prove possession of a
	// DPoP key. A confidential client is never authenticated so.
	PublicAllowed bool
}

// Claimed is the client the credentials claim to be, before anything is
// checked: the client_id, else the subject of a client assertion, read
// without verifying it. It keys the lockouts after failed authentication;
// nothing may trust it.
func (cr Credentials) Claimed() string {
	if cr.ClientID != "" || cr.Assertion == "" {
		return cr.ClientID
	}
	_, rest, ok := strings.Cut(cr.Assertion, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || len(payload) > MaxTokenSize {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var cl struct {
		Sub string `json:"sub"`
	}
	if josejson.Unmarshal(b, &cl) != nil { // names matched exactly, as the verifier matches them
		return ""
	}
	return cl.Sub
}

var errBadClient = mayfly.Errorf(mayfly.Unauthenticated, "client authentication failed")

// Authenticated is a client that proved who it is and could obtain and use
// tokens when it did: what Issue and Revoke act for. Only Authenticate and
// Admit make one, so every request checks that once.
type Authenticated struct {
	client *mayfly.Client
	// at is when the checks began, and so the issue time of a token made
	// for it: a change that stops the client (a new secret, its owner's
	// suspension) and the not-before mark timed after it then cannot let
	// a token checked before the change carry a time after the mark.
	at time.Time
}

// Client is the authenticated client.
func (a *Authenticated) Client() *mayfly.Client { return a.client }

// Admit returns c as Authenticated if it can obtain and use tokens now, for
// callers that established who it is themselves.
func (s *Service) Admit(ctx context.Context, c *mayfly.Client) (*Authenticated, error) {
	return s.admit(ctx, c, s.cfg.Clock.Now())
}

// admit checks c, whose checks began at at.
func (s *Service) admit(ctx context.Context, c *mayfly.Client, at time.Time) (*Authenticated, error) {
	if err := s.cfg.Identity.Usable(ctx, c); err != nil {
		return nil, err
	}
	return &Authenticated{client: c, at: at}, nil
}

// Authenticate returns the client the credentials prove, if it can obtain
// and use tokens, or an Unauthenticated error. Failures look alike on
// purpose: the message does not tell an unknown client from a wrong secret.
func (s *Service) Authenticate(ctx context.Context, cr Credentials) (*Authenticated, error) {
	at := s.cfg.Clock.Now()
	if cr.Assertion != "" || cr.AssertionType != "" {
		return s.authenticateAssertion(ctx, cr, at)
	}
	if cr.ClientID != "" && cr.Secret == "" && cr.PublicAllowed {
		return s.authenticatePublic(ctx, cr.ClientID, at)
	}
	if cr.ClientID == "" || cr.Secret == "" {
		return nil, errBadClient
	}
	c, err := s.cfg.Identity.Client(ctx, cr.ClientID)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil, errBadClient
	}
	if err != nil {
		return nil, err
	}
	if !identity.SecretMatches(c.SecretHash, cr.Secret) {
		return nil, errBadClient
	}
	return s.admit(ctx, c, at)
}

// authenticatePublic returns the public client id names. Any other
// client is refused as if its secret were wrong.
func (s *Service) authenticatePublic(ctx context.Context, id string, at time.Time) (*Authenticated, error) {
	c, err := s.cfg.Identity.Client(ctx, id)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil, errBadClient
	}
	if err != nil {
		return nil, err
	}
	if !c.Public || len(c.SecretHash) > 0 || len(c.JWKS) > 0 {
		return nil, errBadClient
	}
	return s.admit(ctx, c, at)
}

func (s *Service) authenticateAssertion(ctx context.Context, cr Credentials, at time.Time) (*Authenticated, error) {
	if cr.AssertionType != AssertionType {
		return nil, mayfly.InvalidField("client_assertion_type", "client_assertion_type must be %s", AssertionType)
	}
	if cr.Secret != "" {
		return nil, mayfly.InvalidField("client_assertion", "use one client authentication method, not two")
	}
	if len(cr.Assertion) > MaxTokenSize {
		return nil, mayfly.InvalidField("client_assertion", "client_assertion is too large")
	}
	tok, err := jwt.ParseSigned(cr.Assertion, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion is not a signed JWT with an accepted algorithm")
	}
	// The subject names the client; nothing is trusted until the signature
	// verifies under that client's registered key.
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion claims are malformed")
	}
	id := unverified.Subject
	if cr.ClientID != "" && cr.ClientID != id {
		return nil, errBadClient
	}
	c, err := s.cfg.Identity.Client(ctx, id)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil, errBadClient
	}
	if err != nil {
		return nil, err
	}
	if len(c.JWKS) == 0 {
		return nil, errBadClient
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &set); err != nil {
		return nil, mayfly.E("token.authenticateAssertion", err)
	}
	h := tok.Headers[0]
	var cl jwt.Claims
	verified := false
	for _, k := range set.Keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &cl) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errBadClient
	}
	now := s.cfg.Clock.Now()
	aud := []string{s.cfg.Issuer, s.cfg.TokenEndpoint}
	err = cl.ValidateWithLeeway(jwt.Expected{Issuer: c.ID, Subject: c.ID, AnyAudience: aud, Time: now}, assertionLeeway)
	switch {
	case err != nil:
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion is invalid: %v", err)
	case cl.Expiry == nil:
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion has no exp")
	case cl.Expiry.Time().After(now.Add(MaxAssertionLifetime)):
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion expires more than %s from now", MaxAssertionLifetime)
	case cl.ID == "":
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion has no jti")
	}
	a, err := s.admit(ctx, c, at)
	if err != nil {
		return nil, err
	}
	// Recorded only after the signature verified, so a forger cannot burn
	// a client's jtis.
	// Remembered a second past the last instant it is accepted.
	if err := s.cfg.Store.UseAssertion(ctx, c.ID, cl.ID, cl.Expiry.Time().Add(assertionLeeway+time.Second)); err != nil {
		if mayfly.ErrorCode(err) == mayfly.Conflict {
			return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion jti was already used")
		}
		return nil, err
	}
	return a, nil
}
