package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

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
	if !c.KeyAuthenticated() {
		// A client with a secret authenticates with it: its keys sign
		// only its subject tokens, and alone must not get it tokens.
		return nil, errBadClient
	}
	var cl jwt.Claims
	if ok, err := s.clientSigned(c, tok, &cl); err != nil {
		return nil, mayfly.E("token.authenticateAssertion", err)
	} else if !ok {
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
	if err := checkJTI(cl.ID); err != nil {
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion %v", err)
	}
	a, err := s.admit(ctx, c, at)
	if err != nil {
		return nil, err
	}
	// Recorded only after the signature verified, so a forger cannot burn
	// a client's jtis.
	// Remembered a second past the last instant it is accepted.
	used, err := s.useJTI(ctx, c.ID, cl.ID, cl.Expiry.Time().Add(assertionLeeway+time.Second))
	switch {
	case err != nil:
		return nil, err
	case used:
		return nil, mayfly.Errorf(mayfly.Unauthenticated, "client_assertion jti was already used")
	}
	return a, nil
}

// MaxJTI bounds the jti of a client assertion or subject token.
const MaxJTI = 256

// checkJTI refuses a jti a store could not keep as it is: longer than
// MaxJTI bytes, not UTF-8, or with control characters.
func checkJTI(jti string) error {
	if len(jti) > MaxJTI {
		return fmt.Errorf("jti is longer than %d bytes", MaxJTI)
	}
	if !utf8.ValidString(jti) || strings.ContainsFunc(jti, unicode.IsControl) {
		return errors.New("jti must be UTF-8 without control characters")
	}
	return nil
}

// jtiUse is a jti's use waiting for its commit, which sets done, and
// used if it was used before.
type jtiUse struct {
	mayfly.AssertionUse
	done, used bool
}

// spent reports whether u's commit recorded the jti, first.
func (u *jtiUse) spent() bool { return u.done && !u.used }

// useJTI records that client used jti, which is remembered until exp,
// and reports whether it was used already. Concurrent requests' uses
// share one commit: with synchronous commits, one each would bound
// private_key_jwt and token exchange to the disk's commit rate.
func (s *Service) useJTI(ctx context.Context, client, jti string, exp time.Time) (used bool, err error) {
	u := &jtiUse{AssertionUse: mayfly.AssertionUse{ClientID: client, JTI: jti, Exp: exp}}
	if err := s.cfg.Audit.UpdateBatch(ctx, s.jtis.Item(u)); err != nil {
		return false, mayfly.E("token.useJTI", err)
	}
	return u.used, nil
}

// useJTIs writes a commit's jtis.
func (s *Service) useJTIs(tx mayfly.Tx, uses []*jtiUse) error {
	vs := make([]mayfly.AssertionUse, len(uses))
	for i, u := range uses {
		vs[i] = u.AssertionUse
	}
	used, err := s.cfg.Store.UseAssertions(tx, vs)
	if err != nil {
		return err
	}
	for i, u := range uses {
		u.done, u.used = true, used[i]
	}
	return nil
}

// clientSigned verifies tok, a JWT with one signature in one of
// assertionAlgs, under a key of c's registered JWKS, and decodes its
// claims into dst (such as *jwt.Claims) if it does. It reports false if no
// key of c's verifies it, or c has none; an error only if c's JWKS is
// unreadable.
func (s *Service) clientSigned(c *mayfly.Client, tok *jwt.JSONWebToken, dst ...any) (bool, error) {
	if len(c.JWKS) == 0 || len(tok.Headers) != 1 {
		return false, nil
	}
	set, err := s.keySets.get(c.JWKS)
	if err != nil {
		return false, err
	}
	h := tok.Headers[0]
	for _, k := range set.Keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, dst...) == nil {
			return true, nil
		}
	}
	return false, nil
}

// keySets keeps clients' JWKS parsed, by their JSON: a login service
// presents two JWTs a request, and parsing its keys (an EC key's point is
// checked to be on its curve) costs a good part of verifying them. A
// client's new JWKS is other JSON, so nothing goes stale.
type keySets struct {
	mu   sync.Mutex
	sets map[string]*jose.JSONWebKeySet
}

// maxKeySets bounds the sets kept; past it, they are dropped all at once.
const maxKeySets = 1024

func (ks *keySets) get(raw []byte) (*jose.JSONWebKeySet, error) {
	ks.mu.Lock()
	set := ks.sets[string(raw)]
	ks.mu.Unlock()
	if set != nil {
		return set, nil
	}
	set = new(jose.JSONWebKeySet)
	if err := json.Unmarshal(raw, set); err != nil {
		return nil, err
	}
	ks.mu.Lock()
	if ks.sets == nil || len(ks.sets) >= maxKeySets {
		ks.sets = map[string]*jose.JSONWebKeySet{}
	}
	ks.sets[string(raw)] = set
	ks.mu.Unlock()
	return set, nil
}
