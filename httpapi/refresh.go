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
	var minted *token.Minted
	fam, next, err := s.cfg.Refresh.Rotate(r.Context(), a.Client(), raw, req.JKT, req.SourceIP, func(fam *mayfly.RefreshFamily, rotated func() bool) (mayfly.BatchItem, error) {
		req.Subject, req.Actor, req.SID = fam.Subject, a.Client().ID, fam.ID
		m, err := s.cfg.Token.Mint(r.Context(), a, req)
		if err != nil {
			return mayfly.BatchItem{}, err
		}
		minted = m
		return s.cfg.Token.Record(m, rotated), nil
	})
	if err != nil {
		return nil, err
	}
	if fam.ID != req.SID { // cannot happen: a token belongs to one family
		return nil, mayfly.Errorf(mayfly.Internal, "refresh: the access token names another session")
	}
	tok, err := minted.Token()
	if err != nil {
		return nil, err
	}
	tok.RefreshToken = next
	return tok, nil
}
