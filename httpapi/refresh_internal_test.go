package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/mayflyhq/mayfly"
)

// Without a refresh service, or for a client without Refresh, a grant
// begins no family: the token response then carries no refresh_token.
func TestBeginRefreshNone(t *testing.T) {
	s := &Server{}
	r := httptest.NewRequest("POST", "/oauth2/token", nil)
	for _, c := range []*mayfly.Client{{ID: "cli-a"}, {ID: "cli-b", Refresh: true}} {
		sid, tok, err := s.beginRefresh(r, c, "customer:1", "")
		if sid != "" || tok != "" || err != nil {
			t.Errorf("client %s: beginRefresh = %q, %q, %v; want nothing", c.ID, sid, tok, err)
		}
	}
}
