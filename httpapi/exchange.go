package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mayflyhq/mayfly/internal/token"
)

// tokenExchange answers an RFC 8693 token exchange; package token holds
// the policy.
func (s *Server) tokenExchange(r *http.Request, f url.Values, a *token.Authenticated, req token.Request) (*token.Token, error) {
	x := token.Exchange{SubjectToken: f.Get("subject_token"), SubjectTokenType: f.Get("subject_token_type"),
		RequestedTokenType: f.Get("requested_token_type"), ActorToken: f.Get("actor_token")}
	begin := func(_ context.Context, subject string) (string, string, error) {
		return s.beginRefresh(r, a.Client(), subject, req.JKT)
	}
	return s.cfg.Token.Exchange(r.Context(), a, x, req, begin)
}
