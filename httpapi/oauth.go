package httpapi

import (
	"cmp"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"github.com/mayflyhq/mayfly/sdk/dpop"
)

func (s *Server) oauthRoutes() {
	s.handle("GET /.well-known/openid-configuration", s.discovery)
	s.handle("GET /.well-known/oauth-authorization-server", s.discovery)
	s.handle("GET "+api.JWKSPath, s.jwks)
	s.handle("GET /.well-known/jwks.json", s.jwks)
	s.handle("POST "+api.TokenPath, s.token)
	s.declare(introspectRoute, reading) // with an admin credential; any client may
	s.handle(introspectRoute, s.introspect)
	s.handle("POST "+api.RevokePath, s.revoke)
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	iss := s.cfg.Issuer
	methods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	// Public clients authenticate by client_id alone, at the token endpoint only.
	tokenMethods := append(slices.Clip(methods), "none")
	algs := []string{"ES256", "RS256", "EdDSA"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, api.Metadata{
		Issuer: iss, TokenEndpoint: iss + api.TokenPath, JWKSURI: iss + api.JWKSPath,
		IntrospectionEndpoint: iss + api.IntrospectPath, RevocationEndpoint: iss + api.RevokePath,
		GrantTypes: []string{"client_credentials", api.GrantTokenExchange, api.GrantRefreshToken}, ResponseTypes: []string{}, SubjectTypes: []string{"public"},
		TokenEndpointAuthMethods: tokenMethods, IntrospectionEndpointAuthMethods: methods, RevocationEndpointAuthMethods: methods,
		TokenEndpointAuthSigningAlgs: []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"},
		IDTokenSigningAlgs:           algs, AccessTokenSigningAlgs: algs,
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "principal", "act", "cnf", "sid"},
		DPoPSigningAlgs: dpop.Algs,
	})
}

// JWKSMaxAge is how long verifiers may cache the key set, in seconds. Keys
// are published a whole key lifetime before they sign, far longer than this.
const JWKSMaxAge = int(mayfly.JWKSMaxAge / time.Second)

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(JWKSMaxAge))
	body, err := s.cfg.Keys.JWKSJSON()
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

// oauthError is an RFC 6749 section 5.2 error response.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// oauthCode maps an error to an RFC 6749 error code and status.
func oauthCode(err error) (string, int) {
	var me *mayfly.Error
	errors.As(err, &me)
	switch mayfly.ErrorCode(err) {
	case mayfly.Unauthenticated:
		return "invalid_client", http.StatusUnauthorized
	case mayfly.PermissionDenied:
		return "unauthorized_client", http.StatusBadRequest
	case mayfly.Invalid:
		switch me.Field {
		case "scope":
			return "invalid_scope", http.StatusBadRequest
		case "audience", "resource":
			return "invalid_target", http.StatusBadRequest
		case "grant_type":
			return "unsupported_grant_type", http.StatusBadRequest
		case "refresh_token":
			return "invalid_grant", http.StatusBadRequest
		case "dpop": // RFC 9449 section 5
			return "invalid_dpop_proof", http.StatusBadRequest
		}
		return "invalid_request", http.StatusBadRequest
	case mayfly.Unavailable:
		return "temporarily_unavailable", http.StatusServiceUnavailable
	case mayfly.RateLimited: // see limit.go for why this code
		return "temporarily_unavailable", http.StatusTooManyRequests
	}
	return "server_error", http.StatusInternalServerError
}

func (s *Server) oauthFail(w http.ResponseWriter, r *http.Request, err error) {
	code, st := oauthCode(err)
	s.issuedResult(r, code)
	s.logError(r, err)
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); st == http.StatusUnauthorized && strings.EqualFold(scheme, "Basic") {
		w.Header().Set("WWW-Authenticate", `Basic realm="mayfly"`)
	}
	w.Header().Set("Pragma", "no-cache")
	retryAfter(w, st, err)
	writeJSON(w, st, oauthError{Error: code, Description: mayfly.ErrorMessage(err)})
}

func (s *Server) issuedResult(r *http.Request, result string) {
	if r.URL.Path == api.TokenPath {
		s.issued.WithLabelValues(result).Inc()
	}
}

// multiValued parameters may repeat; RFC 6749 section 3.2 forbids repeating any other.
var multiValued = map[string]bool{"audience": true, "resource": true}

// form reads an application/x-www-form-urlencoded body. Parameters in the
// query string are ignored: secrets do not belong in URLs.
func form(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, mayfly.Errorf(mayfly.Invalid, "content type must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, mayfly.Errorf(mayfly.Invalid, "request body exceeds %d bytes", MaxBodySize)
		}
		return nil, mayfly.Errorf(mayfly.Invalid, "cannot read request body")
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, mayfly.Errorf(mayfly.Invalid, "request body is not valid form encoding")
	}
	for k, vals := range v {
		if len(vals) > 1 && !multiValued[k] {
			return nil, mayfly.Errorf(mayfly.Invalid, "parameter %q is repeated", k)
		}
	}
	return v, nil
}

// credentials extracts client authentication from the Authorization header
// (client_secret_basic) or the form (client_secret_post, private_key_jwt).
func credentials(r *http.Request, f url.Values) (token.Credentials, error) {
	cr := token.Credentials{
		ClientID: f.Get("client_id"), Secret: f.Get("client_secret"),
		Assertion: f.Get("client_assertion"), AssertionType: f.Get("client_assertion_type"),
	}
	if h := r.Header.Get("Authorization"); h != "" {
		id, secret, ok := r.BasicAuth()
		if !ok {
			return cr, mayfly.Errorf(mayfly.Unauthenticated, "malformed Authorization header")
		}
		if cr.Secret != "" || cr.Assertion != "" {
			return cr, mayfly.Errorf(mayfly.Invalid, "use one client authentication method, not two")
		}
		// RFC 6749 section 2.3.1: both parts are form-encoded before Basic encoding.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || (cr.ClientID != "" && cr.ClientID != id) {
			return cr, mayfly.Errorf(mayfly.Unauthenticated, "malformed Authorization header")
		}
		cr.ClientID, cr.Secret = id, secret
	}
	return cr, nil
}

// sourceIP is the client's address for the issuance record: the TCP peer,
// unless the peer is a trusted proxy, in which case the nearest address in
// X-Forwarded-For that is not a trusted proxy. Headers from anyone else are
// ignored, so a client cannot choose what the record says.
func (s *Server) sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer.String() // a malformed hop: trust nothing past it
		}
		if !s.trusted(a) {
			return a.Unmap().String()
		}
		peer = a
	}
	return peer.Unmap().String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// client reads a form and authenticates the client it names: the first
// steps of every endpoint a client calls. check, if not nil, vets the form
// before the client is authenticated.
func (s *Server) client(r *http.Request, check func(url.Values) error) (url.Values, *token.Authenticated, error) {
	f, err := form(r)
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(f); err != nil {
			return nil, nil, err
		}
	}
	c, err := s.authenticateClient(r, f)
	return f, c, err
}

// authenticateClient authenticates the client whose credentials are in r's
// Authorization header or in its form f, under the lockouts.
func (s *Server) authenticateClient(r *http.Request, f url.Values) (*token.Authenticated, error) {
	cr, err := credentials(r, f)
	// Public clients get tokens, and nothing else: grant then requires
	// their DPoP proof and the refresh grant.
	cr.PublicAllowed = r.URL.Path == api.TokenPath
	var c *token.Authenticated
	err = s.guardClient(r, cr.Claimed(), func() error {
		if err != nil {
			return err
		}
		c, err = s.cfg.Token.Authenticate(r.Context(), cr)
		return err
	})
	return c, err
}

// grantType refuses a token request for a grant Mayfly does not offer.
func grantType(f url.Values) error {
	switch gt := f.Get("grant_type"); gt {
	case "client_credentials", api.GrantTokenExchange, api.GrantRefreshToken:
		return nil
	case "":
		return mayfly.InvalidField("", "grant_type is required")
	default:
		return mayfly.InvalidField("grant_type", "grant_type %q is not supported", gt)
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	f, c, err := s.client(r, grantType)
	if err != nil {
		s.oauthFail(w, r, err)
		return
	}
	tok, err := s.grant(r, f, c)
	if err != nil {
		s.oauthFail(w, r, err)
		return
	}
	s.issued.WithLabelValues("ok").Inc()
	w.Header().Set("Pragma", "no-cache")
	resp := api.TokenResponse{AccessToken: tok.AccessToken, TokenType: cmp.Or(tok.TokenType, "Bearer"), ExpiresIn: tok.ExpiresIn, Scope: tok.Scope,
		RefreshToken: tok.RefreshToken}
	if f.Get("grant_type") == api.GrantTokenExchange {
		resp.IssuedTokenType = api.TokenTypeAccess
	}
	writeJSON(w, http.StatusOK, resp)
}

// grant answers an authenticated client's token request by its grant
// type, which grantType vetted. A DPoP proof, if the request carries
// one, binds what is issued to its key (jkt); a client that must prove
// possession is refused without one, and a public client may only
// refresh.
func (s *Server) grant(r *http.Request, f url.Values, a *token.Authenticated) (*token.Token, error) {
	c, gt := a.Client(), f.Get("grant_type")
	jkt, err := s.dpopProof(r, c)
	if err != nil {
		return nil, err
	}
	switch {
	case (c.DPoP == mayfly.DPoPRequired || c.Public) && jkt == "":
		return nil, errDPoPRequired
	case c.Public && gt != api.GrantRefreshToken:
		return nil, mayfly.Errorf(mayfly.PermissionDenied, "a public client may only refresh")
	}
	req := token.Request{Scope: f.Get("scope"), Audience: append(f["audience"], f["resource"]...), SourceIP: s.sourceIP(r),
		UserAgent: r.UserAgent(), JKT: jkt}
	switch gt {
	case api.GrantTokenExchange:
		return s.tokenExchange(r, f, a, req)
	case api.GrantRefreshToken:
		return s.refreshGrant(r, f, a, req)
	}
	return s.cfg.Token.Issue(r.Context(), a, req)
}

const introspectRoute = "POST " + api.IntrospectPath

// introspect answers for any authenticated client, or for an administrator.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	f, err := form(r)
	if err == nil {
		err = s.authenticate(r, f, introspectRoute, reading)
	}
	if mayfly.ErrorCode(err) == mayfly.PermissionDenied && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		// An admin credential of a role that may not introspect: a bearer
		// without the privilege, as RFC 6750 section 3.1 answers it.
		s.logError(r, err)
		writeJSON(w, http.StatusForbidden, oauthError{Error: "insufficient_scope", Description: mayfly.ErrorMessage(err)})
		return
	}
	if err != nil {
		s.oauthFail(w, r, err)
		return
	}
	raw := f.Get("token")
	if raw == "" {
		s.oauthFail(w, r, mayfly.InvalidField("token", "token is required"))
		return
	}
	resp := api.Introspection{}
	if cl := s.cfg.Token.Introspect(r.Context(), raw); cl != nil {
		// An active token is in canonical form, so it has a digest.
		dg, _ := canon.Digest(raw)
		resp = api.Introspection{Digest: dg, Active: true, Scope: cl.Scope, ClientID: cl.ClientID, TokenType: "Bearer", Exp: cl.Expiry, Iat: cl.IssuedAt,
			Nbf: cl.NotBefore, Sub: cl.Subject, Aud: cl.Audience, Iss: cl.Issuer, JTI: cl.ID, Principal: cl.Principal}
		if cl.Cnf != nil { // RFC 9449 section 6.2
			resp.TokenType, resp.Cnf = "DPoP", &api.Confirmation{JKT: cl.Cnf.JKT}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// authenticate checks who sent r to pattern, under the lockouts: a
// client, by its credentials in the Authorization header or in the form f,
// or a bearer admin credential of a role who allows.
func (s *Server) authenticate(r *http.Request, f url.Values, pattern string, who access) error {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		_, err := s.authenticateClient(r, f)
		return err
	}
	var a *mayfly.AdminCredential
	err := s.guardAdmin(r, func() (err error) {
		a, err = s.cfg.Identity.AuthenticateAdmin(r.Context(), bearer)
		return err
	})
	if err != nil {
		return err
	}
	return mayCall(a, pattern, who)
}

// reauthenticate checks again the credentials of a request that
// authenticate admitted, as a long-lived stream does. It runs outside the
// lockouts, which are for guessing: a stream must not end because others
// failed from its address.
func (s *Server) reauthenticate(r *http.Request, pattern string, who access) error {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		cr, err := credentials(r, url.Values{})
		if err == nil {
			_, err = s.cfg.Token.Authenticate(r.Context(), cr)
		}
		return err
	}
	a, err := s.cfg.Identity.AuthenticateAdmin(r.Context(), bearer)
	if err != nil {
		return err
	}
	return mayCall(a, pattern, who)
}

// mayCall says whether the bearer credential a may call pattern, a route
// that clients call too.
func mayCall(a *mayfly.AdminCredential, pattern string, who access) error {
	switch {
	case a.Role == mayfly.RoleSCIM: // no credential here at all
		return mayfly.Errorf(mayfly.Unauthenticated, "only a client or an admin credential may do this")
	case !who.allows(a.Role):
		return mayfly.Errorf(mayfly.PermissionDenied, "%s", who.denial(a.Role, pattern))
	}
	return nil
}

// revoke is RFC 7009: a client revokes one of its own tokens.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	f, c, err := s.client(r, nil)
	if err != nil {
		s.oauthFail(w, r, err)
		return
	}
	raw := f.Get("token")
	if raw == "" {
		s.oauthFail(w, r, mayfly.InvalidField("token", "token is required"))
		return
	}
	if err := s.cfg.Token.Revoke(r.Context(), c, raw); err != nil {
		s.oauthFail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
