package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestResponsesName: beside each ID of a principal, client or credential
// the responses carry its name, in a member of its own; an ID that names
// nothing known has none. Every member of the object is still there.
func TestResponsesName(t *testing.T) {
	ctx := context.Background()
	env := servertest.New(t)
	alice := env.Human("alice")
	svc, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "billing", Kind: mayfly.Service, Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	cl, secret := env.NewClient(api.ClientRequest{Name: "billing-api", Owner: svc.ID})
	env.IssueToken(cl.ID, secret, nil)
	kid := ""
	for _, k := range env.Server.Keys.Keys("default") {
		if k.State(env.Clock.Now()) == mayfly.KeyActive {
			kid = k.KID
		}
	}
	if _, err := env.Admin.RevokeKey(ctx, kid, "laptop stolen"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: "alice", Ring: "default", Reason: "runs auth"}); err != nil {
		t.Fatal(err)
	}

	get := func(path string) any {
		t.Helper()
		r := rxCall(t, env, "GET", env.URL+path, env.Token, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return v
	}
	// find returns the object of list whose member key is value.
	find := func(list any, key, value string) map[string]any {
		t.Helper()
		items, _ := list.([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok && m[key] == value {
				return m
			}
		}
		t.Fatalf("no object with %s %q in %v", key, value, list)
		return nil
	}
	// has checks the members of m: each name is there with that value,
	// "" meaning absent.
	has := func(what string, m map[string]any, members ...string) {
		t.Helper()
		for i := 0; i+1 < len(members); i += 2 {
			got, ok := m[members[i]]
			switch want := members[i+1]; {
			case want == "" && ok:
				t.Errorf("%s: %s is %v; want no such member", what, members[i], got)
			case want != "" && got != want:
				t.Errorf("%s: %s is %v; want %q", what, members[i], got, want)
			}
		}
	}

	ps := get("/v1/principals")
	has("the service", find(ps, "id", svc.ID), "owner_id", alice, "owner_name", "alice", "kind", "service")
	has("alice, who has no owner", find(ps, "id", alice), "owner_id", "", "owner_name", "")
	has("the client", get("/v1/clients/"+cl.ID).(map[string]any), "client_id", cl.ID, "owner_id", svc.ID, "owner_name", "billing", "token_ttl", "5m0s")
	has("the token", find(get("/v1/tokens"), "client_id", cl.ID), "client_name", "billing-api", "principal_id", svc.ID, "principal_name", "billing")
	has("the credential", find(get("/v1/credentials"), "name", "bootstrap"), "owner_name", "operator")

	created := find(get("/v1/audit?action=principal.created&limit=1000"), "principal_name", "alice")
	has("alice's creation", created, "actor_name", "bootstrap", "client_name", "")
	if e, _ := created["entry"].(map[string]any); e["principal"] != alice || e["action"] != "principal.created" {
		t.Errorf("audit entry: %v; want the entry itself as before", e)
	}
	// Token issuance is recorded by "mayfly", which names nothing.
	issued := get("/v1/audit?action=tokens.issued")
	if items, _ := issued.([]any); len(items) == 0 {
		t.Fatalf("no tokens.issued entry")
	}
	has("the issuance digest", issued.([]any)[0].(map[string]any), "actor_name", "")

	has("the revoked key", get("/v1/keys/"+kid).(map[string]any), "state", "revoked", "revoked_reason", "laptop stolen")
	has("alice's custody", find(get("/v1/custody?principal=alice"), "asset", "ring"), "principal_id", alice, "principal_name", "alice", "actor_name", "bootstrap")

	o, err := env.Admin.Offboard(ctx, "alice", api.OffboardRequest{TransferTo: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	if o.PrincipalName != "alice" || o.TransferToName != "operator" || o.ActorName != "bootstrap" {
		t.Errorf("offboarding: principal %q, transfer to %q, by %q; want alice, operator, bootstrap", o.PrincipalName, o.TransferToName, o.ActorName)
	}
	named := 0
	for _, a := range o.Actions {
		if a.Subject == alice && a.SubjectName != "alice" {
			t.Errorf("action %s on alice: subject_name %q", a.Action, a.SubjectName)
		}
		if a.SubjectName != "" {
			named++
		}
	}
	if named == 0 || len(o.Offboarding.Actions) != len(o.Actions) {
		t.Errorf("offboarding actions: %d named, %d in the run, %d in the view; want some named, and the run's actions filled", named, len(o.Offboarding.Actions), len(o.Actions))
	}
}
