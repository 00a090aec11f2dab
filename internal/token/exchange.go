package token

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// MaxSubjectTokenLifetime bounds how far ahead a subject token may
// expire: it is made by a login service for one exchange, just after the
// customer logged in, so a long-lived one is a stolen one waiting.
const MaxSubjectTokenLifetime = 5 * time.Minute

// MaxSubjectID bounds the part of a subject after its namespace.
const MaxSubjectID = 200

// Exchange is what an RFC 8693 token exchange request carries beyond the
// token request every grant has.
type Exchange struct {
	SubjectToken       string
	SubjectTokenType   string
	RequestedTokenType string // "" or the access token type
	ActorToken         string // not supported: the client itself is the actor
}

// Refresher begins a refresh family for subject, if the client may have
// one: it returns the family's ID (the sid of its access tokens), its
// first refresh token, and the item that writes it (for UpdateBatch),
// which must begin it only if spent reports true when the commit reaches
// it; "" and no item if the client may not.
type Refresher func(subject string, spent func() bool) (sid, refresh string, item mayfly.BatchItem, err error)

// errNoExchange refuses a client not allowed to exchange (RFC 6749
// section 5.2 unauthorized_client).
var errNoExchange = mayfly.Errorf(mayfly.PermissionDenied, "this client may not exchange subject tokens")

// Exchange answers a token exchange (RFC 8693): the authenticated client,
// a login service, presents a subject token it signed naming a subject,
// such as "customer:48213377", and receives an access token for that
// subject whose act claim names the client. begin, if the client may have
// refresh tokens, begins their family.
//
// Errors: a client that may not exchange, or not in the subject's
// namespace, is PermissionDenied (unauthorized_client); a missing,
// malformed or unacceptable subject token, or an unsupported token type,
// is Invalid for the field (invalid_request, as RFC 8693 section 2.2.2
// requires); a scope or audience the client may not have is Invalid for
// "scope" or "audience" (invalid_scope, invalid_target).
func (s *Service) Exchange(ctx context.Context, a *Authenticated, x Exchange, req Request, begin Refresher) (*Token, error) {
	c := a.client
	if len(c.Exchange) == 0 {
		return nil, errNoExchange
	}
	switch {
	case x.SubjectToken == "":
		return nil, mayfly.InvalidField("subject_token", "subject_token is required")
	case x.SubjectTokenType != api.TokenTypeJWT:
		return nil, mayfly.InvalidField("subject_token_type", "subject_token_type must be %s", api.TokenTypeJWT)
	case x.RequestedTokenType != "" && x.RequestedTokenType != api.TokenTypeAccess:
		return nil, mayfly.InvalidField("requested_token_type", "only %s is issued", api.TokenTypeAccess)
	case x.ActorToken != "":
		return nil, mayfly.InvalidField("actor_token", "actor_token is not supported: the authenticated client is the actor")
	}
	cl, err := s.subjectToken(c, x.SubjectToken)
	if err != nil {
		return nil, err
	}
	ns, _, _ := strings.Cut(cl.Subject, ":")
	if !slices.Contains(c.Exchange, ns) {
		return nil, mayfly.Errorf(mayfly.PermissionDenied, "this client may not exchange for subjects in namespace %q", ns)
	}
	// Checked before the jti is spent, so that a request refused for
	// them can be made again, right, with the same subject token.
	if _, err := grantScope(c, req.Scope); err != nil {
		return nil, err
	}
	if _, err := s.grantAudience(c, req.Audience); err != nil {
		return nil, err
	}
	// The subject token's jti, the refresh family and the access token's
	// record commit together, the family and the record only if the jti
	// was spent there first. Kept apart from the client's assertions'
	// jtis: "exchange:" cannot begin a client ID.
	jti := &jtiUse{AssertionUse: mayfly.AssertionUse{ClientID: "exchange:" + c.ID, JTI: cl.ID, Exp: cl.Expiry.Time().Add(assertionLeeway + time.Second)}}
	items := []mayfly.BatchItem{s.jtis.Item(jti)}
	req.Subject, req.Actor = cl.Subject, c.ID
	var refresh string
	if c.Refresh && begin != nil {
		var item mayfly.BatchItem
		if req.SID, refresh, item, err = begin(cl.Subject, jti.spent); err != nil {
			return nil, err
		}
		if req.SID != "" {
			items = append(items, item)
		}
	}
	m, err := s.Mint(ctx, a, req)
	if err != nil {
		return nil, err
	}
	items = append(items, s.Record(m, jti.spent))
	if err := s.cfg.Audit.UpdateBatch(ctx, items...); err != nil {
		return nil, mayfly.E("token.Exchange", err)
	}
	if jti.used {
		return nil, mayfly.InvalidField("subject_token", "subject_token jti was already used")
	}
	tok, err := m.Token()
	if err != nil {
		return nil, err
	}
	tok.RefreshToken = refresh
	return tok, nil
}

// subjectToken verifies a subject token that client c signed and returns
// its claims: signed with an asymmetric algorithm by a key of c's JWKS,
// iss c, aud this issuer, sub NAMESPACE:ID, a jti, an iat, and an exp
// that has not passed and is at most MaxSubjectTokenLifetime away.
func (s *Service) subjectToken(c *mayfly.Client, raw string) (*jwt.Claims, error) {
	bad := func(format string, args ...any) error {
		return mayfly.InvalidField("subject_token", "subject_token "+format, args...)
	}
	if len(raw) > MaxTokenSize {
		return nil, bad("is too large")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, bad("is not a signed JWT with an accepted algorithm")
	}
	var cl jwt.Claims
	ok, err := s.clientSigned(c, tok, &cl)
	if err != nil {
		return nil, mayfly.E("token.Exchange", err)
	}
	if !ok {
		return nil, bad("is not signed by a key registered for this client")
	}
	now := s.cfg.Clock.Now()
	err = cl.ValidateWithLeeway(jwt.Expected{Issuer: c.ID, AnyAudience: []string{s.cfg.Issuer}, Time: now}, assertionLeeway)
	switch {
	case err != nil:
		return nil, bad("is invalid: %v", err)
	case cl.Expiry == nil:
		return nil, bad("has no exp")
	case cl.Expiry.Time().After(now.Add(MaxSubjectTokenLifetime)):
		return nil, bad("expires more than %s from now", MaxSubjectTokenLifetime)
	case cl.IssuedAt == nil:
		return nil, bad("has no iat")
	case cl.ID == "":
		return nil, bad("has no jti")
	}
	if err := checkJTI(cl.ID); err != nil {
		return nil, bad("%v", err)
	}
	if err := checkSubject(cl.Subject); err != nil {
		return nil, bad("%v", err)
	}
	return &cl, nil
}

// checkSubject checks that sub is NAMESPACE:ID: a namespace as clients
// name them (a lowercase letter, then up to 31 lowercase letters, digits,
// _ or -), and an ID of 1 to MaxSubjectID printable ASCII characters
// without spaces.
func checkSubject(sub string) error {
	ns, id, ok := strings.Cut(sub, ":")
	if !ok {
		return mayfly.Errorf(mayfly.Invalid, "sub %q is not NAMESPACE:ID", sub)
	}
	if len(ns) == 0 || len(ns) > 32 || ns[0] < 'a' || ns[0] > 'z' {
		return mayfly.Errorf(mayfly.Invalid, "sub's namespace must be 1-32 lowercase letters, digits, _ or -, beginning with a letter")
	}
	for i := range len(ns) {
		if b := ns[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return mayfly.Errorf(mayfly.Invalid, "sub's namespace must be 1-32 lowercase letters, digits, _ or -, beginning with a letter")
		}
	}
	if len(id) == 0 || len(id) > MaxSubjectID {
		return mayfly.Errorf(mayfly.Invalid, "sub's ID must be 1-%d characters", MaxSubjectID)
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return mayfly.Errorf(mayfly.Invalid, "sub's ID must be printable ASCII without spaces")
		}
	}
	return nil
}
