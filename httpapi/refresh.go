package httpapi

import (
	"net/http"
	"net/url"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/token"
)

// refreshGrant answers a refresh_token grant (RFC 6749 section 6): it
// rotates the refresh token and issues an access token for the family's
// subject, acted for by the client, carrying the family as its sid.
func (s *Server) refreshGrant(r *http.Request, f url.Values, a *token.Authenticated, req token.Request) (*token.Token, error) {
	raw := f.Get("refresh_token")
	switch {
	case s.cfg.Refresh == nil:
		return nil, mayfly.InvalidField("grant_type", "refresh tokens are not enabled")
	case raw == "":
		return nil, mayfly.InvalidField("", "refresh_token is required")
	}
	// A request the token service will refuse must not retire the token.
	if err := s.cfg.Token.Check(a, req); err != nil {
		return nil, err
	}
	var tok *token.Token
	// The access token is made while the rotation commits: the family
	// names its subject and session before then.
	fam, next, err := s.cfg.Refresh.Rotate(r.Context(), a.Client(), raw, req.JKT, req.SourceIP, func(fam *mayfly.RefreshFamily) (err error) {
		req.Subject, req.Actor, req.SID = fam.Subject, a.Client().ID, fam.ID
		tok, err = s.cfg.Token.Issue(r.Context(), a, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if fam.ID != req.SID { // cannot happen: a token belongs to one family
		return nil, mayfly.Errorf(mayfly.Internal, "refresh: the access token names another session")
	}
	tok.RefreshToken = next
	return tok, nil
}

// beginRefresh begins a refresh family for subject at client c, bound to
// the DPoP key jkt if not "", if c may have refresh tokens; it returns the
// family's ID (the sid of the access tokens it produces) and its first
// refresh token, or "" for both if c may not.
func (s *Server) beginRefresh(r *http.Request, c *mayfly.Client, subject, jkt string) (sid, refresh string, err error) {
	if s.cfg.Refresh == nil || !c.Refresh {
		return "", "", nil
	}
	fam, raw, err := s.cfg.Refresh.Begin(r.Context(), c, subject, jkt, s.sourceIP(r))
	if err != nil || fam == nil {
		return "", "", err
	}
	return fam.ID, raw, nil
}
