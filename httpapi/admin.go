package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// adminHandler is an admin API handler; it returns errors for the one mapping.
type adminHandler func(w http.ResponseWriter, r *http.Request, admin *mayfly.AdminCredential) error

// admin authenticates the bearer admin credential, and checks that its
// role is one who may call the route, before h runs.
func (s *Server) admin(pattern string, who access, h adminHandler) {
	s.declare(pattern, who)
	s.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			s.jsonError(w, r, mayfly.Errorf(mayfly.Unauthenticated, "the admin API needs an Authorization: Bearer admin credential"))
			return
		}
		a, r, err := s.login(r, bearer, who.allows, func(role mayfly.Role) string { return who.denial(role, pattern) })
		if err != nil {
			s.jsonError(w, r, err)
			return
		}
		if err := h(w, r, a); err != nil {
			s.jsonError(w, r, err)
		}
	})
}

// login authenticates a bearer admin or SCIM credential, under the
// lockout, whose role must be one allowed, else it is refused with what
// denied says; records the login; and returns the request carrying the
// credential as the caller, for the records.
func (s *Server) login(r *http.Request, bearer string, allowed func(mayfly.Role) bool, denied func(mayfly.Role) string) (*mayfly.AdminCredential, *http.Request, error) {
	var a *mayfly.AdminCredential
	err := s.guardAdmin(r, func() (err error) {
		a, err = s.cfg.Identity.AuthenticateAdmin(r.Context(), bearer)
		return err
	})
	if err != nil {
		return nil, r, err
	}
	if !allowed(a.Role) {
		return nil, r, mayfly.Errorf(mayfly.PermissionDenied, "%s", denied(a.Role))
	}
	if err := s.cfg.Identity.AdminLogin(r.Context(), a, s.sourceIP(r)); err != nil {
		return nil, r, err
	}
	return a, r.WithContext(identity.WithCaller(audit.WithActor(r.Context(), a.ID), a)), nil
}

func (s *Server) adminRoutes() {
	s.admin("POST /v1/principals", adminOnly, s.createPrincipal)
	s.admin("GET /v1/principals", reading, s.expensive("principal list", s.listPrincipals))
	s.admin("GET /v1/principals/{ref}", reading, s.showPrincipal)
	s.admin("POST /v1/clients", adminOnly, s.createClient)
	s.admin("GET /v1/clients", reading, s.expensive("client list", s.listClients))
	s.admin("GET /v1/clients/{id}", reading, s.showClient)
	s.admin("POST /v1/clients/{id}/revoke", responding, s.revokeClient)
	s.admin("POST /v1/rings", ringAdmin, s.createRing)
	s.admin("GET /v1/rings", keyReading, s.listRings)
	s.admin("GET /v1/rings/{name}", keyReading, s.showRing)
	s.admin("POST /v1/rings/{name}/rotate", ringAdmin, noBody(s.rotateRing))
	s.admin("GET /v1/keys", keyReading, s.listKeys)
	s.admin("GET /v1/keys/{kid}", keyReading, s.showKey)
	s.admin("POST /v1/keys/{kid}/revoke", keyRevoking, s.revokeKey)
	s.admin("GET /v1/tokens", reading, s.expensive("token list", s.listTokens))
	s.admin("POST /v1/tokens/{jti}/revoke", responding, s.revokeToken)
	s.peopleRoutes()
	s.subjectRoutes()
}

func (s *Server) createPrincipal(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.PrincipalRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.cfg.Identity.CreatePrincipal(r.Context(), req.Name, req.Kind, req.Owner)
	if err != nil {
		return err
	}
	v, err := one(s.principalViews(r.Context(), p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listPrincipals(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	ps, err := s.cfg.Identity.Principals(r.Context())
	if err != nil {
		return err
	}
	vs, err := s.principalViews(r.Context(), ps...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) showPrincipal(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	p, err := s.cfg.Identity.Principal(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	v, err := one(s.principalViews(r.Context(), p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) createClient(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.ClientRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ttl, err := duration("token_ttl", req.TokenTTL)
	if err != nil {
		return err
	}
	idle, err := duration("refresh_idle", req.RefreshIdle)
	if err != nil {
		return err
	}
	absolute, err := duration("refresh_absolute", req.RefreshAbsolute)
	if err != nil {
		return err
	}
	c, secret, err := s.cfg.Identity.CreateClient(r.Context(), identity.ClientSpec{
		Name: req.Name, Owner: req.Owner, Scopes: req.Scopes, Audiences: req.Audiences, TokenTTL: ttl, Ring: req.Ring, JWKS: req.JWKS,
		AuthMethod: req.TokenEndpointAuthMethod, Exchange: req.Exchange, Refresh: req.Refresh, RefreshIdle: idle, RefreshAbsolute: absolute, DPoP: req.DPoP, Public: req.Public,
	})
	if err != nil {
		return err
	}
	v, err := s.createdClient(r.Context(), c, secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func duration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, mayfly.InvalidField(field, "%s %q is not a duration such as 90s, 15m or 24h", field, s)
	}
	return d, nil
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	cs, err := s.cfg.Identity.Clients(r.Context())
	if err != nil {
		return err
	}
	vs, err := s.clientViews(r.Context(), cs...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) showClient(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	c, err := s.cfg.Identity.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := one(s.clientViews(r.Context(), c))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func revokeReason(r *http.Request, a *mayfly.AdminCredential) (string, error) {
	var req api.RevokeRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return "", err
		}
	}
	if req.Reason == "" {
		req.Reason = "revoked by admin " + a.Name
	}
	return req.Reason, nil
}

func (s *Server) revokeClient(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	rev, err := s.cfg.Identity.RevokeClient(r.Context(), r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	v, err := s.revocationView(r.Context(), rev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) keyViews(ring string) []api.KeyView {
	now := s.cfg.Clock.Now()
	ks := s.cfg.Keys.Keys(ring)
	var reasons map[string]string // read only if needed: it walks every revocation
	for _, k := range ks {
		if k.State(now) == mayfly.KeyRevoked {
			reasons = s.cfg.Revoker.Reasons(mayfly.RevokeKey)
			break
		}
	}
	out := []api.KeyView{}
	for _, k := range ks {
		out = append(out, keyView(k, now, reasons))
	}
	return out
}

// keyView is k as the API shows it; reasons are the revoked keys' reasons
// by kid.
func keyView(k *mayfly.Key, now time.Time, reasons map[string]string) api.KeyView {
	v := api.KeyView{Key: *k, State: k.State(now), Material: "sealed"}
	if len(k.Sealed) == 0 {
		v.Material = "destroyed"
	}
	if v.State == mayfly.KeyRevoked {
		v.RevokedReason = reasons[k.KID]
	}
	return v
}

func (s *Server) createRing(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.RingRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	lifetime, err := duration("lifetime", req.Lifetime)
	if err != nil {
		return err
	}
	// Whoever creates a ring chose it and may administer it: custody,
	// recorded with the ring.
	ring, err := s.cfg.Keys.CreateRing(r.Context(), req.Name, req.Alg, lifetime, func(tx mayfly.Tx) error {
		return s.cfg.Identity.Created(r.Context(), tx, mayfly.AssetRing, req.Name)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.RingView{Ring: *ring, Keys: s.keyViews(ring.Name)})
	return nil
}

func (s *Server) listRings(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	out := []api.RingView{}
	for _, ring := range s.cfg.Keys.Rings() {
		out = append(out, api.RingView{Ring: *ring, Keys: s.keyViews(ring.Name)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) showRing(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	ring, err := s.cfg.Keys.Ring(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RingView{Ring: *ring, Keys: s.keyViews(ring.Name)})
	return nil
}

func (s *Server) rotateRing(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	name := r.PathValue("name")
	if err := s.cfg.Keys.Rotate(r.Context(), name); err != nil {
		return err
	}
	s.cfg.Log.Info("ring rotated", "ring", name, "admin", a.ID)
	return s.showRing(w, r, a)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	ring := r.URL.Query().Get("ring")
	if ring != "" {
		if _, err := s.cfg.Keys.Ring(ring); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, s.keyViews(ring))
	return nil
}

func (s *Server) showKey(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	k, err := s.cfg.Keys.Key(r.PathValue("kid"))
	if err != nil {
		return err
	}
	now := s.cfg.Clock.Now()
	var reasons map[string]string
	if k.State(now) == mayfly.KeyRevoked {
		reasons = s.cfg.Revoker.Reasons(mayfly.RevokeKey)
	}
	writeJSON(w, http.StatusOK, keyView(k, now, reasons))
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	rev, err := s.cfg.Keys.Revoke(r.Context(), r.PathValue("kid"), reason)
	if err != nil {
		return err
	}
	v, err := s.revocationView(r.Context(), rev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f := mayfly.IssuanceFilter{ClientID: q.Get("client"), KID: q.Get("kid"), JTI: q.Get("jti"), Digest: q.Get("digest"), Subject: q.Get("sub")}
	if d := f.Digest; d != "" && !isDigest(d) {
		return mayfly.InvalidField("digest", "digest is not a token digest: %d base64url characters, as canon.Digest makes", canon.DigestLen)
	}
	var err error
	if f.Since, err = timeParam(q.Get("since")); err != nil {
		return mayfly.InvalidField("since", "since: %v", err)
	}
	if f.Until, err = timeParam(q.Get("until")); err != nil {
		return mayfly.InvalidField("until", "until: %v", err)
	}
	if l := q.Get("limit"); l != "" {
		if f.Limit, err = strconv.Atoi(l); err != nil || f.Limit < 1 {
			return mayfly.InvalidField("limit", "limit %q is not a positive number", l)
		}
	}
	recs, err := s.cfg.Token.Issuances(r.Context(), f)
	if err != nil {
		return err
	}
	vs, err := s.issuanceViews(r.Context(), recs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

// timeParam accepts RFC 3339 times and Unix seconds.
func timeParam(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, mayfly.Errorf(mayfly.Invalid, "%q is neither an RFC 3339 time nor Unix seconds", v)
	}
	return t, nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	rev, err := s.cfg.Token.RevokeJTI(r.Context(), r.PathValue("jti"), reason)
	if err != nil {
		return err
	}
	v, err := s.revocationView(r.Context(), rev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// isDigest reports whether d is a token digest as canon.Digest writes it:
// 128 bits in unpadded base64url, with no stray bits.
func isDigest(d string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(d)
	return err == nil && len(d) == canon.DigestLen && len(b) == 16
}
