package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestAuditAPIErrors: bad input gets a clear JSON error, never a panic.
func TestAuditAPIErrors(t *testing.T) {
	env := servertest.New(t)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/audit/0", 200},
		{"GET", "/v1/audit/abc", 400},
		{"GET", "/v1/audit/999999", 404},
		{"GET", "/v1/audit/proof/999999", 404},
		{"GET", "/v1/audit/proof/0?size=999999", 400},
		{"GET", "/v1/audit/consistency?old=5&new=1", 400},
		{"GET", "/v1/audit/consistency?old=-1", 400},
		{"GET", "/v1/audit?limit=x", 400},
		{"GET", "/v1/audit?since=yesterday", 400},
		{"GET", "/v1/audit/export?from=nope", 400},
		{"POST", "/v1/audit/verify", 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, env.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+env.Token)
		r := env.Do(req)
		if r.Status != tt.status {
			t.Errorf("%s %s: status %d (%s), want %d", tt.method, tt.path, r.Status, r.Body, tt.status)
		}
		if tt.status >= 400 && r.JSON()["message"] == nil {
			t.Errorf("%s %s: no JSON error message: %s", tt.method, tt.path, r.Body)
		}
		req, _ = http.NewRequest(tt.method, env.URL+tt.path, nil)
		if r := env.Do(req); r.Status != 401 {
			t.Errorf("%s %s without credential: status %d, want 401", tt.method, tt.path, r.Status)
		}
	}
}
