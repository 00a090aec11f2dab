package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestSSFCLI: an operator sees a receiver's stream, pauses it and deletes it.
func TestSSFCLI(t *testing.T) {
	srv := servertest.New(t, func(c *server.Config) { c.SSFAllowHTTP = true })
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	req, _ := http.NewRequest("POST", srv.URL+"/ssf/stream", strings.NewReader(
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"http://127.0.0.1:9/events","authorization_header":"Bearer s3cr3t-receiver"},"description":"siem"}`))
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp := srv.Do(req)
	if resp.Status != 201 {
		t.Fatalf("create stream: %d %s", resp.Status, resp.Body)
	}
	id, _ := resp.JSON()["stream_id"].(string)

	r := run(env, "ssf", "list")
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "push") {
		t.Fatalf("ssf list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(env, "ssf", "show", id)
	if r.code != 0 || !strings.Contains(r.stdout, "enabled") || !strings.Contains(r.stdout, "siem") {
		t.Fatalf("ssf show: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(env, "ssf", "status", id, "paused", "--reason", "receiver maintenance")
	if r.code != 0 || !strings.Contains(r.stdout, "paused") {
		t.Fatalf("ssf status: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r = run(env, "ssf", "show", id, "--json"); !strings.Contains(r.stdout, `"status": "paused"`) && !strings.Contains(r.stdout, `"status":"paused"`) {
		t.Fatalf("ssf show --json after pausing: %s", r.stdout)
	}
	r = run(env, "ssf", "status", id, "asleep")
	if r.code != 1 || !strings.Contains(r.stderr, "enabled, paused or disabled") {
		t.Fatalf("ssf status with a bad status: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = run(env, "ssf", "status", id); r.code != 2 {
		t.Fatalf("ssf status without a status: exit %d, want 2 (usage)", r.code)
	}
	for _, args := range [][]string{{"ssf", "list", "--json"}, {"ssf", "show", id, "--json"}} {
		if r := run(env, args...); strings.Contains(r.stdout, "s3cr3t-receiver") {
			t.Fatalf("%v printed the receiver's authorization header", args)
		}
	}
	if r = run(env, "ssf", "delete", id); r.code != 0 {
		t.Fatalf("ssf delete: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = run(env, "ssf", "show", id); r.code != 1 || !strings.Contains(r.stderr, "no stream") {
		t.Fatalf("ssf show after delete: exit %d, stderr %q", r.code, r.stderr)
	}
}
