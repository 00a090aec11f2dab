package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/internal/apptest"
)

// adminOf makes a person with an admin credential only they have seen.
func adminOf(t *testing.T, e *scimEnv, person string) *client.Client {
	t.Helper()
	return e.Administrator(person)
}

// pendingID reads the pending action a SCIM refusal names.
func pendingID(t *testing.T, r interface{ JSON() map[string]any }) string {
	t.Helper()
	detail, _ := r.JSON()["detail"].(string)
	for f := range strings.FieldsSeq(detail) {
		if id, ok := strings.CutPrefix(f, "pa_"); ok {
			return "pa_" + strings.TrimRight(id, ").,;")
		}
	}
	t.Fatalf("no pending action in %q", detail)
	return ""
}

// TestSCIMCannotLockOutOperator: a SCIM credential cannot offboard or
// suspend the operator, the root-key custodian whose credential is the
// bootstrap one: it is refused with why, and waits for an administrator,
// who approves or rejects it, all of it in the audit log.
func TestSCIMCannotLockOutOperator(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	op, err := e.Admin.Principal(ctx, "operator")
	if err != nil {
		t.Fatal(err)
	}
	bob := adminOf(t, e, "bob") // a second administrator

	del := e.req("DELETE", "/Users/"+op.ID, "")
	wantSCIMError(t, del, http.StatusForbidden, "")
	if d, _ := del.JSON()["detail"].(string); !strings.Contains(d, "custody of the root key") || !strings.Contains(d, "mayfly pending approve") {
		t.Errorf("refusal detail %q; want why, and how to approve", d)
	}
	offboard := pendingID(t, del)
	if again := e.req("DELETE", "/Users/"+op.ID, ""); pendingID(t, again) != offboard {
		t.Errorf("an identity provider's retry queued a second pending action")
	}
	deact := e.req("PATCH", "/Users/"+op.ID, patch(`{"op":"replace","path":"active","value":false}`))
	wantSCIMError(t, deact, http.StatusForbidden, "")
	suspend := pendingID(t, deact)
	if p := e.principal(op.ID); p.Status != mayfly.Active {
		t.Fatalf("the operator after refused requests: %s; want active", p.Status)
	}
	if _, err := e.Admin.Principals(ctx); err != nil {
		t.Fatalf("the bootstrap credential after refused requests: %v", err)
	}

	waiting, err := bob.PendingActions(ctx, mayfly.Pending)
	if err != nil || len(waiting) != 2 {
		t.Fatalf("waiting actions: %v, %v; want the two refused requests", waiting, err)
	}
	for _, a := range waiting {
		if a.Subject != op.ID || a.RequestedBy != e.cred || !strings.Contains(a.Why, "root key") {
			t.Errorf("pending action %+v; want the operator, requested by the SCIM credential, with why", a)
		}
	}
	// The SCIM credential itself decides nothing.
	req, err := http.NewRequest("POST", e.URL+"/v1/pending/"+suspend+"/approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if r := e.Do(req); r.Status != http.StatusForbidden {
		t.Errorf("the SCIM credential approving: %d; want 403", r.Status)
	}

	// Rejected: nothing changes, for good.
	rej, err := bob.Reject(ctx, offboard, "the operator stays")
	if err != nil || rej.Status != mayfly.Rejected || rej.DecidedBy == "" {
		t.Fatalf("reject: %+v, %v", rej, err)
	}
	if _, err := bob.Approve(ctx, offboard, ""); mayfly.ErrorCode(err) != mayfly.Conflict {
		t.Errorf("approving a rejected action: %v; want a conflict", err)
	}
	if p := e.principal(op.ID); p.Status != mayfly.Active {
		t.Errorf("the operator after a rejection: %s; want active", p.Status)
	}

	// Approved: carried out, as the approver.
	ok, err := bob.Approve(ctx, suspend, "on leave, confirmed")
	if err != nil || ok.Status != mayfly.Approved || ok.DoneAt.IsZero() || ok.Result == "" {
		t.Fatalf("approve: %+v, %v", ok, err)
	}
	if p, err := bob.Principal(ctx, op.ID); err != nil || p.Status != mayfly.Suspended {
		t.Errorf("the operator after the approval: %+v, %v; want suspended", p, err)
	}
	if _, err := bob.Approve(ctx, suspend, ""); err != nil {
		t.Errorf("approving a done action again: %v; want it to change nothing", err)
	}

	entries := map[mayfly.Action]int{}
	recs, err := e.Server.Store().AuditEntries(ctx, mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Entry.Details["pending"] != "" && rec.Entry.Details["subject"] == op.ID {
			entries[rec.Entry.Action]++
		}
	}
	want := map[mayfly.Action]int{mayfly.ActionPendingRequested: 2, mayfly.ActionPendingRejected: 1, mayfly.ActionPendingApproved: 1, mayfly.ActionPendingDone: 1}
	for a, n := range want {
		if entries[a] != n {
			t.Errorf("audit: %d %s entries; want %d (all: %v)", entries[a], a, n, entries)
		}
	}
	apptest.CheckAuditCoverage(t, e.Server.Store())
}

// TestSCIMCannotRemoveLastAdmin: someone without whom no working admin
// credential would be left is not suspended through SCIM either; someone
// whose loss leaves one is.
func TestSCIMCannotRemoveLastAdmin(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	alice := adminOf(t, e, "alice")
	creds, err := alice.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if c.Name == "bootstrap" {
			if err := alice.RevokeCredential(ctx, c.ID, "alice administers from now on"); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, err := alice.Principal(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	r := e.req("PATCH", "/Users/"+a.ID, patch(`{"op":"replace","path":"active","value":false}`))
	wantSCIMError(t, r, http.StatusForbidden, "")
	if d, _ := r.JSON()["detail"].(string); !strings.Contains(d, "no working admin credential") {
		t.Errorf("refusal detail %q; want that no admin credential would be left", d)
	}
	if _, err := alice.Principals(ctx); err != nil {
		t.Errorf("alice's credential after the refusal: %v", err)
	}

	// With a second administrator, alice is an ordinary person to SCIM.
	adminOf2 := func(name string) {
		if _, err := alice.CreatePrincipal(ctx, api.PrincipalRequest{Name: name, Kind: mayfly.Human}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.CreateCredential(ctx, api.CredentialRequest{Name: name + " laptop", Owner: name}); err != nil {
			t.Fatal(err)
		}
	}
	adminOf2("carol")
	e.user(e.req("PATCH", "/Users/"+a.ID, patch(`{"op":"replace","path":"active","value":false}`)), http.StatusOK)
	if p, err := e.Server.Store().Principal(ctx, a.ID); err != nil || p.Status != mayfly.Suspended {
		t.Errorf("alice with a second administrator about: %+v, %v; want suspended", p, err)
	}
}
