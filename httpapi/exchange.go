package httpapi

import (
	"net/http"
	"net/url"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/token"
)

// tokenExchange answers an RFC 8693 token exchange.
func (s *Server) tokenExchange(r *http.Request, f url.Values, a *token.Authenticated, req token.Request) (*token.Token, error) {
	return nil, mayfly.InvalidField("grant_type", "token exchange is not supported yet")
}
