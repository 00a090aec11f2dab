package httpapi_test

import (
	"context"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// unapproved counts the doctor's unapproved-change findings.
func unapproved(t *testing.T, c *client.Client) int {
	t.Helper()
	r, err := c.Doctor(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range r.Findings {
		if f.Kind == mayfly.FindingUnapproved {
			n++
		}
	}
	return n
}

// TestTwoPersonAdminCredential: while the operator is the only person with
// an admin credential of their own, a new one of role admin for someone
// else is made at once, recorded as unapproved and listed by the doctor.
// A person handed one is not a second person until they replace it with
// one only they have seen. Then a new one waits: its token, shown once to
// the requester, works only after another person approves; the requester
// cannot, with this credential or another of theirs, nor can whoever
// would own it; a rejected one never works.
func TestTwoPersonAdminCredential(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	env.Human("alice")
	env.Human("bob")
	op := env.Admin

	// The operator's second credential is their own: nobody needed.
	spare, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "operator spare", Owner: "operator"})
	if err != nil || spare.Pending != nil {
		t.Fatalf("an administrator's own second credential: %+v, %v; want it made at once", spare, err)
	}
	opSpare := client.New(env.URL, spare.Token)

	// Alone: alice's is made now, unapproved.
	handed, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "alice (handed)", Owner: "alice"})
	if err != nil || handed.Pending == nil || handed.Pending.Status != mayfly.Unapproved {
		t.Fatalf("alice's admin credential with one administrator: %+v, %v; want made, unapproved", handed, err)
	}
	if n := unapproved(t, op); n != 1 {
		t.Errorf("doctor lists %d unapproved changes; want alice's credential", n)
	}
	aliceHanded := client.New(env.URL, handed.Token)
	// The operator was shown it: it decides nothing the operator asked.
	g, err := op.GrantCustody(ctx, api.CustodyRequest{Principal: "bob", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "drill"})
	if err != nil || g.Pending == nil || g.Pending.Status != mayfly.Unapproved {
		t.Fatalf("root-key custody while alice holds only a handed credential: %+v, %v; want it made, unapproved", g, err)
	}
	if _, err := aliceHanded.Approve(ctx, g.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("approving the operator's request with a credential the operator was shown: %v; want permission denied", err)
	}
	// alice replaces it with her own; the handed one goes, and with it
	// its finding.
	own, err := aliceHanded.CreateCredential(ctx, api.CredentialRequest{Name: "alice", Owner: "alice"})
	if err != nil || own.Pending != nil {
		t.Fatalf("alice's own credential: %+v, %v; want it made at once", own, err)
	}
	if err := aliceHanded.RevokeCredential(ctx, handed.ID, "replaced"); err != nil {
		t.Fatal(err)
	}
	alice := client.New(env.URL, own.Token)
	if n := unapproved(t, op); n != 1 {
		t.Errorf("doctor lists %d unapproved changes; want only the custody grant", n)
	}
	if _, err := alice.Approve(ctx, g.Pending.ID, "drill confirmed"); err != nil {
		t.Fatal(err)
	}
	if n := unapproved(t, op); n != 0 {
		t.Errorf("doctor lists %d unapproved changes after alice approved; want none", n)
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

	// One for alice, asked by the operator: alice may not approve what
	// she would get.
	more, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "alice spare", Owner: "alice"})
	if err != nil || more.Pending == nil || more.Pending.Status != mayfly.Pending {
		t.Fatalf("another credential for alice: %+v, %v; want it to wait", more, err)
	}
	if _, err := alice.Approve(ctx, more.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("alice approving her own credential: %v; want permission denied", err)
	}
	// Rejected: the token never works.
	if _, err := bob.Reject(ctx, more.Pending.ID, "no"); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		// bob's credential was shown to the operator, who asked: bob may
		// not decide it either.
		t.Errorf("bob, whose token the operator was shown, rejecting the operator's request: %v; want permission denied", err)
	}
	// A third person, carol, with a credential of her own: handed one
	// that alice approves, then her own made with it.
	env.Human("carol")
	ch, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "carol (handed)", Owner: "carol"})
	if err != nil || ch.Pending == nil {
		t.Fatalf("carol's handed credential: %+v, %v", ch, err)
	}
	if _, err := alice.Approve(ctx, ch.Pending.ID, ""); err != nil {
		t.Fatal(err)
	}
	co, err := client.New(env.URL, ch.Token).CreateCredential(ctx, api.CredentialRequest{Name: "carol", Owner: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	carol := client.New(env.URL, co.Token)
	if _, err := carol.Reject(ctx, more.Pending.ID, "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(env.URL, more.Token).Principals(ctx); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("a rejected credential's token: %v; want it not to work", err)
	}
	// Roles other than admin need no one.
	aud, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "auditor", Role: mayfly.RoleAuditor})
	if err != nil || aud.Pending != nil {
		t.Errorf("an auditor credential: %+v, %v; want it made at once", aud, err)
	}
}

// TestTwoPersonRootCustody: custody of the root key, with two people
// holding admin credentials of their own, is recorded only once the other
// approves; the requester cannot, nor can the person it would be granted.
func TestTwoPersonRootCustody(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	alice := env.Administrator("alice")
	ops := env.Administrator("ops")
	g, err := env.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: "ops", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "restore drill"})
	if err != nil || g.Custody != nil || g.Pending == nil || g.Pending.Status != mayfly.Pending {
		t.Fatalf("root-key custody: %+v, %v; want it to wait", g, err)
	}
	held := func() int {
		recs, err := env.Admin.Custody(ctx, "ops", "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Asset == mayfly.AssetRootKey {
				n++
			}
		}
		return n
	}
	if n := held(); n != 0 {
		t.Fatalf("ops has %d root-key custody records before approval; want none", n)
	}
	for name, c := range map[string]*client.Client{"the requester": env.Admin, "the one it would be granted": ops} {
		if _, err := c.Approve(ctx, g.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
			t.Errorf("%s approving: %v; want permission denied", name, err)
		}
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
