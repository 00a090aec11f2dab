package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestPendingCommands: what a SCIM credential may not do alone is listed,
// approved and rejected with mayfly pending, as an administrator would.
func TestPendingCommands(t *testing.T) {
	srv := servertest.New(t)
	ctx := context.Background()
	op, err := srv.Admin.Principal(ctx, "operator")
	if err != nil {
		t.Fatal(err)
	}
	scimCred, err := srv.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "okta", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	bob := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Administrator("bob").Token}
	scim := func(method, body string) int {
		req, err := http.NewRequest(method, srv.URL+api.SCIMPath+"/Users/"+op.ID, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+scimCred.Token)
		req.Header.Set("Content-Type", api.SCIMContentType)
		return srv.Do(req).Status
	}
	if st := scim("DELETE", ""); st != http.StatusForbidden {
		t.Fatalf("SCIM DELETE of the operator: %d; want 403", st)
	}
	if st := scim("PATCH", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`); st != http.StatusForbidden {
		t.Fatalf("SCIM deactivation of the operator: %d; want 403", st)
	}

	r := run(bob, "pending", "list", "--json")
	var list []mayfly.PendingAction
	if err := json.Unmarshal([]byte(r.stdout), &list); r.code != 0 || err != nil || len(list) != 2 {
		t.Fatalf("pending list --json: exit %d, %v, %q", r.code, err, r.stdout)
	}
	ids := map[mayfly.PendingKind]string{}
	for _, a := range list {
		ids[a.Kind] = a.ID
	}
	if r := run(bob, "pending", "list"); r.code != 0 || !strings.Contains(r.stdout, ids[mayfly.PendingOffboard]) || !strings.Contains(r.stdout, "root key") {
		t.Errorf("pending list: exit %d, %q; want both actions and why", r.code, r.stdout)
	}
	if r := run(bob, "pending", "reject", ids[mayfly.PendingOffboard], "--reason", "no"); r.code != 0 || !strings.Contains(r.stdout, "rejected") {
		t.Errorf("pending reject: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := run(bob, "pending", "approve", ids[mayfly.PendingSuspend], "--reason", "confirmed"); r.code != 0 || !strings.Contains(r.stdout, "suspended") {
		t.Errorf("pending approve: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := run(bob, "pending", "list"); r.code != 0 || !strings.Contains(r.stdout, "Nothing is waiting") {
		t.Errorf("pending list after the decisions: exit %d, %q", r.code, r.stdout)
	}
	if r := run(bob, "pending", "list", "--status", "all"); r.code != 0 || !strings.Contains(r.stdout, ids[mayfly.PendingSuspend]) || !strings.Contains(r.stdout, ids[mayfly.PendingOffboard]) {
		t.Errorf("pending list --status all: exit %d, %q; want both", r.code, r.stdout)
	}
	if r := run(bob, "pending", "list", "--status", "bogus"); r.code != 2 {
		t.Errorf("pending list --status bogus: exit %d; want a usage error", r.code)
	}
	if r := run(bob, "pending", "approve", "pa_nosuch"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("pending approve of nothing: exit %d, %q", r.code, r.stderr)
	}
}
