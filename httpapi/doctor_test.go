package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestDoctorAPIErrors: bad parameters of the report are refused with a
// message naming them.
func TestDoctorAPIErrors(t *testing.T) {
	env := servertest.New(t)
	tests := []struct {
		query  string
		status int
		want   string
	}{
		{"max_secret_age=90d&idle_days=30", 200, ""},
		{"max_secret_age=2160h", 200, ""},
		{"max_secret_age=ninety", 400, "max_secret_age"},
		{"max_secret_age=0d", 400, "max_secret_age"},
		{"max_secret_age=-5h", 400, "max_secret_age"},
		{"max_secret_age=99999999d", 400, "max_secret_age"},
		{"idle_days=0", 400, "idle_days"},
		{"idle_days=2.5", 400, "idle_days"},
		{"idle_days=99999999", 400, "idle_days"},
		{"idle_day=30", 400, "unknown parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			req, err := http.NewRequest("GET", env.URL+"/v1/doctor?"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+env.Token)
			r := env.Do(req)
			var body api.ErrorBody
			json.Unmarshal(r.Body, &body)
			if r.Status != tt.status || !strings.Contains(body.Message, tt.want) {
				t.Errorf("status %d, body %s; want %d and a message with %q", r.Status, r.Body, tt.status, tt.want)
			}
		})
	}
	req, err := http.NewRequest("GET", env.URL+"/v1/doctor", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := env.Do(req); r.Status != http.StatusUnauthorized {
		t.Errorf("without a credential: status %d; want 401", r.Status)
	}
}
