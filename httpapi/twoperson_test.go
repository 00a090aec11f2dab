package httpapi_test

import (
	"context"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestTwoPersonAdminCredential: while the operator is the only person with
// an admin credential, a new one of role admin is made at once, recorded
// as unapproved and listed by the doctor until someone else approves it.
// Once two people hold one, a new one waits: its token, shown once to the
// requester, works only after another person approves; the requester
// cannot, with this credential or another of theirs; a rejected one never
// works.
func TestTwoPersonAdminCredential(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	env.Human("alice")
	env.Human("bob")
	op := env.Admin

	// Alone: the operator's second credential, and alice's, are made now.
	second, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "operator spare", Owner: "operator"})
	if err != nil || second.Pending == nil || second.Pending.Status != mayfly.Unapproved {
		t.Fatalf("an admin credential with one administrator: %+v, %v; want made, unapproved", second, err)
	}
	opSpare := client.New(env.URL, second.Token)
	if _, err := opSpare.Principals(ctx); err != nil {
		t.Fatalf("the unapproved credential does not work: %v", err)
	}
	cc, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "alice laptop", Owner: "alice"})
	if err != nil || cc.Pending == nil || cc.Pending.Status != mayfly.Unapproved {
		t.Fatalf("alice's admin credential: %+v, %v; want made, unapproved", cc, err)
	}
	alice := client.New(env.URL, cc.Token)
	report := func(c *client.Client) *mayfly.DoctorReport {
		t.Helper()
		r, err := c.Doctor(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	unapproved := func(r *mayfly.DoctorReport) int {
		n := 0
		for _, f := range r.Findings {
			if f.Kind == mayfly.FindingUnapproved {
				n++
			}
		}
		return n
	}
	if n := unapproved(report(op)); n != 2 {
		t.Errorf("doctor lists %d unapproved changes; want the two credentials", n)
	}
	// alice reviews them afterwards, and they leave the report.
	for _, id := range []string{second.Pending.ID, cc.Pending.ID} {
		if _, err := alice.Approve(ctx, id, "reviewed"); err != nil {
			t.Fatal(err)
		}
	}
	if n := unapproved(report(op)); n != 0 {
		t.Errorf("doctor lists %d unapproved changes after alice approved them; want none", n)
	}

	// Two people now: bob's waits.
	bobCred, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "bob laptop", Owner: "bob"})
	if err != nil || bobCred.Pending == nil || bobCred.Pending.Status != mayfly.Pending || bobCred.Token == "" {
		t.Fatalf("bob's admin credential with two administrators: %+v, %v; want it to wait, with its token", bobCred, err)
	}
	bob := client.New(env.URL, bobCred.Token)
	if _, err := bob.Principals(ctx); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("bob's token before approval: %v; want it not to work", err)
	}
	for name, c := range map[string]*client.Client{"the requesting credential": op, "the requester's other credential": opSpare} {
		if _, err := c.Approve(ctx, bobCred.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
			t.Errorf("approving with %s: %v; want permission denied", name, err)
		}
	}
	if _, err := bob.Principals(ctx); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("bob's token after refused approvals: %v; want it not to work", err)
	}
	if _, err := alice.Approve(ctx, bobCred.Pending.ID, "bob joins ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Principals(ctx); err != nil {
		t.Errorf("bob's token after alice approved: %v", err)
	}
	custody, err := op.Custody(ctx, "operator", "")
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, c := range custody {
		shown = shown || (c.Asset == mayfly.AssetCredential && c.AssetID == bobCred.ID)
	}
	if !shown {
		t.Errorf("the operator, shown bob's token, has no custody record of it: %+v", custody)
	}

	// Rejected: the token never works.
	eve, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "eve", Owner: "bob"})
	if err != nil || eve.Pending == nil {
		t.Fatalf("another admin credential: %+v, %v", eve, err)
	}
	if _, err := alice.Reject(ctx, eve.Pending.ID, "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(env.URL, eve.Token).Principals(ctx); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("a rejected credential's token: %v; want it not to work", err)
	}
	// Roles other than admin need no one.
	aud, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "auditor", Role: mayfly.RoleAuditor})
	if err != nil || aud.Pending != nil {
		t.Errorf("an auditor credential: %+v, %v; want it made at once", aud, err)
	}
	if n := len(report(op).Findings); n != 0 {
		t.Errorf("doctor: %+v; want nothing left", report(op).Findings)
	}
}

// TestTwoPersonRootCustody: custody of the root key, with two people
// holding admin credentials, is recorded only once the other approves.
func TestTwoPersonRootCustody(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	env.Human("alice")
	env.Human("ops")
	cc, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "alice laptop", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice := client.New(env.URL, cc.Token)
	g, err := env.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: "ops", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "restore drill"})
	if err != nil || g.Custody != nil || g.Pending == nil || g.Pending.Status != mayfly.Pending {
		t.Fatalf("root-key custody: %+v, %v; want it to wait", g, err)
	}
	held := func() int {
		recs, err := env.Admin.Custody(ctx, "ops", "")
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	if n := held(); n != 0 {
		t.Fatalf("ops has %d custody records before approval; want none", n)
	}
	if _, err := env.Admin.Approve(ctx, g.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("the requester approving: %v; want permission denied", err)
	}
	if _, err := alice.Approve(ctx, g.Pending.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Approve(ctx, g.Pending.ID, ""); err != nil || held() != 1 {
		t.Errorf("ops after approval, and approving again: %d records, %v; want one", held(), err)
	}
	// Custody of a ring needs no one.
	if g, err := env.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: "ops", Ring: "default", Kind: mayfly.CustodyAdmin, Reason: "oncall"}); err != nil || g.Custody == nil || g.Pending != nil {
		t.Errorf("ring custody: %+v, %v; want it recorded at once", g, err)
	}
}
