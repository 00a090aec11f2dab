package httpapi

import (
	"net/http"
	"net/url"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/token"
)

// refreshGrant answers a refresh_token grant: it rotates the refresh token.
func (s *Server) refreshGrant(r *http.Request, f url.Values, a *token.Authenticated, req token.Request) (*token.Token, error) {
	return nil, mayfly.InvalidField("grant_type", "refresh tokens are not supported yet")
}

// beginRefresh begins a refresh family for subject at client c, bound to
// the DPoP key jkt if not "", if c may have refresh tokens; it returns the
// family's ID (the sid of the access tokens it produces) and its first
// refresh token, or "" for both if c may not.
func (s *Server) beginRefresh(r *http.Request, c *mayfly.Client, subject, jkt string) (sid, refresh string, err error) {
	return "", "", nil
}
