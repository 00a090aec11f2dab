package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// Attacks on who decides, and on who can take administration away, each
// of which worked before the check that now stops it.

// TestApproveWithHandedCredential: the only administrator makes a person
// and an admin credential for them, and so holds its token: with it, they
// can approve neither that credential nor anything else they ask for.
func TestApproveWithHandedCredential(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	op := env.Admin
	env.Human("ghost")
	cc, err := op.CreateCredential(ctx, api.CredentialRequest{Name: "ghost", Owner: "ghost"})
	if err != nil || cc.Pending == nil || cc.Pending.Status != mayfly.Unapproved {
		t.Fatalf("%+v, %v; want it made, unapproved", cc, err)
	}
	ghost := client.New(env.URL, cc.Token)
	if _, err := ghost.Approve(ctx, cc.Pending.ID, "looks fine"); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("approving the credential with itself: %v; want permission denied", err)
	}
	g, err := op.GrantCustody(ctx, api.CustodyRequest{Principal: "operator", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "mine"})
	if err != nil || g.Pending == nil || g.Pending.Status != mayfly.Unapproved {
		t.Fatalf("%+v, %v; with ghost holding only a credential the operator saw, want it made, unapproved", g, err)
	}
	if _, err := ghost.Approve(ctx, g.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("approving the operator's custody through ghost's credential: %v; want permission denied", err)
	}
	if n := unapproved(t, op); n != 2 {
		t.Errorf("doctor lists %d unapproved changes; want both", n)
	}
}

// TestTwoPersonRequestNeedsSomeone: a change that needs a second person,
// asked for with a credential no one owns, is answered for by whoever was
// shown that credential; one no one was shown cannot ask at all.
func TestTwoPersonRequestNeedsSomeone(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	alice := env.Administrator("alice")
	un, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "automation"})
	if err != nil || un.Pending == nil {
		t.Fatalf("%+v, %v", un, err)
	}
	if _, err := alice.Approve(ctx, un.Pending.ID, ""); err != nil {
		t.Fatal(err)
	}
	g, err := client.New(env.URL, un.Token).GrantCustody(ctx, api.CustodyRequest{Principal: "operator", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "x"})
	if err != nil || g.Pending == nil || g.Pending.Status != mayfly.Pending {
		t.Fatalf("%+v, %v; want it to wait", g, err)
	}
	if _, err := env.Admin.Approve(ctx, g.Pending.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("the operator approving, with their own credential, what they asked with one they made: %v; want permission denied", err)
	}
	// Made by the service itself, for no one, and shown to no one.
	_, token, err := env.Server.Identity.NewCredential(context.Background(), identity.CredentialSpec{Name: "orphan"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(env.URL, token).GrantCustody(ctx, api.CustodyRequest{Principal: "operator", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "x"}); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("a credential of no one asking for root-key custody: %v; want permission denied", err)
	}
}

// TestSubjectCannotDecideOwnDeactivation: the person an identity provider
// deactivates cannot reject it themselves.
func TestSubjectCannotDecideOwnDeactivation(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	op, err := e.Admin.Principal(ctx, "operator")
	if err != nil {
		t.Fatal(err)
	}
	bob := adminOf(t, e, "bob")
	del := e.req("DELETE", "/Users/"+op.ID, "")
	wantSCIMError(t, del, http.StatusForbidden, "")
	id := pendingID(t, del)
	if _, err := e.Admin.Reject(ctx, id, "no thanks"); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("the operator rejecting their own offboarding: %v; want permission denied", err)
	}
	if _, err := bob.Reject(ctx, id, "the operator stays"); err != nil {
		t.Errorf("someone else rejecting it: %v", err)
	}
}

// TestResponderIsShownNoSecret: a responder replaces a client's secret
// and is not shown the new one.
func TestResponderIsShownNoSecret(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	c, secret := env.NewClient(api.ClientRequest{Name: "payments", Owner: env.Human("alice")})
	rc, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "resp", Role: mayfly.RoleResponder})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.New(env.URL, rc.Token).RotateSecret(ctx, c.ID, "containment")
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != "" {
		t.Errorf("a responder was shown client %s's new secret", c.ID)
	}
	if r := env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret); r.Status != http.StatusUnauthorized {
		t.Errorf("the old secret after the responder replaced it: %d; want 401", r.Status)
	}
}

// TestLeaverRequestWithdrawn: what a person asked for and is not done is
// withdrawn when they are offboarded, so that a credential whose token
// they were shown never comes to work.
func TestLeaverRequestWithdrawn(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	alice := env.Administrator("alice")
	env.Human("bob")
	req, err := alice.CreateCredential(ctx, api.CredentialRequest{Name: "for bob", Owner: "bob"})
	if err != nil || req.Pending == nil || req.Pending.Status != mayfly.Pending {
		t.Fatalf("%+v, %v; want it to wait", req, err)
	}
	o, err := env.Admin.Offboard(ctx, "alice", api.OffboardRequest{Reason: "left"})
	if err != nil {
		t.Fatal(err)
	}
	withdrawn := false
	for _, a := range o.Actions {
		withdrawn = withdrawn || (a.Action == mayfly.ActionPendingRejected && a.Subject == req.Pending.ID)
	}
	if !withdrawn {
		t.Errorf("the offboarding report does not withdraw alice's request: %+v", o.Actions)
	}
	if _, err := env.Admin.Approve(ctx, req.Pending.ID, "bob needs it"); mayfly.ErrorCode(err) != mayfly.Conflict {
		t.Errorf("approving a withdrawn request: %v; want a conflict", err)
	}
	if _, err := client.New(env.URL, req.Token).Principals(ctx); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("the token alice was shown: %v; want it never to work", err)
	}
}

// TestResponderCannotLockOut: a responder revokes admin credentials, but
// never the last working one.
func TestResponderCannotLockOut(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	rc, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "resp", Role: mayfly.RoleResponder})
	if err != nil {
		t.Fatal(err)
	}
	spare, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "spare", Owner: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	resp := client.New(env.URL, rc.Token)
	creds, err := resp.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revoked, refused := 0, 0
	for _, c := range creds {
		if c.Role != mayfly.RoleAdmin {
			continue
		}
		switch err := resp.RevokeCredential(ctx, c.ID, "x"); mayfly.ErrorCode(err) {
		case "":
			revoked++
		case mayfly.PermissionDenied:
			refused++
		default:
			t.Fatal(err)
		}
	}
	if revoked != 1 || refused != 1 {
		t.Errorf("a responder revoking both admin credentials: %d revoked, %d refused; want one each", revoked, refused)
	}
	works := 0
	for _, c := range []*client.Client{env.Admin, client.New(env.URL, spare.Token)} {
		if _, err := c.Principals(ctx); err == nil {
			works++
		}
	}
	if works != 1 {
		t.Errorf("%d admin credentials work; want the one left", works)
	}
	if _, err := resp.Reactivate(ctx, "operator", "x"); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("a responder reactivating: %v; want permission denied", err)
	}
}

// TestSCIMConcurrentDeactivations: two deactivations at once, of the only
// two administrators, cannot both go through: the second waits for the
// first, and sees it.
func TestSCIMConcurrentDeactivations(t *testing.T) {
	ctx := context.Background()
	for run := range 5 {
		e := newSCIMEnv(t)
		alice := e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}`)
		bob := e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}`)
		a := e.Administrator("alice")
		e.Administrator("bob")
		creds, err := a.Credentials(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range creds {
			if c.Role == mayfly.RoleAdmin && c.RevokedAt.IsZero() && c.OwnerID != alice.ID && c.OwnerID != bob.ID {
				if err := a.RevokeCredential(ctx, c.ID, "real administrators exist"); err != nil {
					t.Fatal(err)
				}
			}
		}
		done := make(chan int, 2)
		for _, id := range []string{alice.ID, bob.ID} {
			go func() {
				done <- scimDo(t, e.URL, e.token, "PATCH", "/Users/"+id, patch(`{"op":"replace","path":"active","value":false}`)).Status
			}()
		}
		if s1, s2 := <-done, <-done; s1 == http.StatusOK && s2 == http.StatusOK {
			t.Errorf("run %d: SCIM suspended both administrators at once", run)
		}
		e.Stop()
	}
}

// TestServiceMadeDuringSuspension: a service made as its owner is
// suspended is either refused or held by the suspension.
func TestServiceMadeDuringSuspension(t *testing.T) {
	ctx := context.Background()
	for run := range 5 {
		env := servertest.New(t)
		alice := env.Human("alice")
		made := make(chan *api.PrincipalView, 1)
		go func() {
			p, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "svc", Kind: mayfly.Service, Owner: alice})
			if err != nil {
				p = nil // refused: the suspension came first
			}
			made <- p
		}()
		if _, err := env.Admin.Suspend(ctx, alice, "leave"); err != nil {
			t.Fatal(err)
		}
		if svc := <-made; svc != nil {
			revs, err := env.Server.Store().Revocations(ctx, 0, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			held := false
			for _, r := range revs {
				held = held || (r.Kind == mayfly.RevokeSuspend && r.Subject == svc.ID)
			}
			if !held {
				t.Errorf("run %d: alice is suspended and her service %s is not held", run, svc.ID)
			}
		}
		env.Stop()
	}
}
