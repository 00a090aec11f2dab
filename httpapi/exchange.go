package httpapi

import (
	"net/http"
	"net/url"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/token"
)

// tokenExchange answers an RFC 8693 token exchange; package token holds
// the policy.
func (s *Server) tokenExchange(r *http.Request, f url.Values, a *token.Authenticated, req token.Request) (*token.Token, error) {
	x := token.Exchange{SubjectToken: f.Get("subject_token"), SubjectTokenType: f.Get("subject_token_type"),
		RequestedTokenType: f.Get("requested_token_type"), ActorToken: f.Get("actor_token")}
	var begin token.Refresher
	if s.cfg.Refresh != nil {
		begin = func(subject string, spent func() bool) (string, string, mayfly.BatchItem, error) {
			fam, raw, item, err := s.cfg.Refresh.Start(a.Client(), subject, req.JKT, req.SourceIP, spent)
			if err != nil || fam == nil {
				return "", "", mayfly.BatchItem{}, err
			}
			return fam.ID, raw, item, nil
		}
	}
	return s.cfg.Token.Exchange(r.Context(), a, x, req, begin)
}
