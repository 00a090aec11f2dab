package httpapi_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestScopeRoute: POST /v1/scope answers through the client as the
// service does; what it cannot answer is a JSON error that names the
// input at fault, never a 500.
func TestScopeRoute(t *testing.T) {
	e := servertest.New(t)
	ctx := t.Context()
	got, err := e.Admin.Scope(ctx, mayfly.ScopeQuery{Namespaces: []string{"customer"}, From: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Namespaces) != 1 || got.Namespaces[0].Records != 0 || got.Completeness.Gaps == nil {
		t.Errorf("an empty ledger: got %+v, want customer at zero, gaps listed as none", got)
	}
	if _, err := e.Admin.Scope(ctx, mayfly.ScopeQuery{Principals: []string{"nobody"}}); !errors.Is(err, mayfly.ErrNotFound) ||
		!strings.Contains(mayfly.ErrorMessage(err), `"nobody"`) {
		t.Errorf("an unknown principal: %v, want NotFound naming it", err)
	}
	for _, body := range []string{`{"kid":"x"}`, `{"source":["not a cidr"]}`, `{"by":"planet"}`, `{"minus":{"minus":{}}}`, `[`} {
		req, _ := http.NewRequest("POST", e.URL+api.ScopePath, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+e.Admin.Token)
		req.Header.Set("Content-Type", "application/json")
		resp := e.Do(req)
		if resp.Status < 400 || resp.Status >= 500 || !strings.Contains(string(resp.Body), `"error"`) {
			t.Errorf("%s: got %d %s, want a 4xx JSON error", body, resp.Status, resp.Body)
		}
	}
}
