package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestSCIMToken makes a SCIM credential as an operator would, for an
// identity provider, and checks that it provisions and does nothing else.
func TestSCIMToken(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	srv.Human("alice")

	r := run(env, "scim", "token", "create", "--name", "okta", "--owner", "alice", "--json")
	var cc struct {
		ID, Name, Role, Token string
		OwnerID               string `json:"owner_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cc); r.code != 0 || err != nil {
		t.Fatalf("scim token create --json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if cc.Name != "okta" || cc.Role != "scim" || cc.OwnerID == "" || !strings.HasPrefix(cc.Token, "mfa_") {
		t.Errorf("got %+v; want a scim credential named okta, owned by alice, with its token", cc)
	}
	status := func(path, token string) int {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return srv.Do(req).Status
	}
	if got := status(api.SCIMPath+"/Users", cc.Token); got != http.StatusOK {
		t.Errorf("the SCIM credential at /scim/v2/Users: got %d; want 200", got)
	}
	if got := status("/v1/principals", cc.Token); got != http.StatusForbidden {
		t.Errorf("the SCIM credential at the admin API: got %d; want 403", got)
	}

	r = run(env, "scim", "token", "create")
	if r.code != 0 || !strings.Contains(r.stdout, "shown once") || !strings.Contains(r.stdout, srv.URL+api.SCIMPath) {
		t.Fatalf("scim token create: exit %d, stdout %q, stderr %q; want the token, the SCIM URL and a warning", r.code, r.stdout, r.stderr)
	}
	var token string
	for line := range strings.Lines(r.stdout) {
		if v, ok := strings.CutPrefix(line, "token:"); ok {
			token = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(token, "mfa_") || !strings.Contains(r.stdout, "scim\n") {
		t.Errorf("got %q; want a token line and role scim", r.stdout)
	}
	if got := status(api.SCIMPath+"/ServiceProviderConfig", token); got != http.StatusOK {
		t.Errorf("the printed token at /scim/v2: got %d; want 200", got)
	}
	if r := run(env, "credential", "list"); strings.Contains(r.stdout, token) || strings.Count(r.stdout, "scim") < 2 {
		t.Errorf("credential list: got %q; want both SCIM credentials and no token", r.stdout)
	}

	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"scim", "token", "create", "extra"}, 2, "no arguments"},
		{[]string{"scim", "token"}, 2, "needs a subcommand"},
		{[]string{"scim"}, 2, "needs a subcommand"},
		{[]string{"scim", "token", "create", "--owner", "nobody"}, 1, "not found"},
		{[]string{"scim", "token", "create", "--name", ""}, 1, "1-128 characters"},
	}
	for _, tc := range tests {
		if r := run(env, tc.args...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: got exit %d, stderr %q; want %d, %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// TestServeSCIMDeactivate: a value other than suspend or offboard is
// refused, not taken for the default.
func TestServeSCIMDeactivate(t *testing.T) {
	r := run(map[string]string{"MAYFLY_SCIM_DEACTIVATE": "delete"}, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, `SCIM deactivation "delete" is not suspend or offboard`) {
		t.Errorf("got exit %d, stderr %q; want the value refused", r.code, r.stderr)
	}
}
