package pending_test

import (
	"context"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/pending"
)

// world is a Mayfly with two people, each with two admin credentials, and
// one credential no one owns.
type world struct {
	env           *apptest.Env
	alice, alice2 context.Context
	bob           context.Context
	nobody        context.Context
	handled       int
	fail          error // what the test kind's handler returns
}

const testKind mayfly.PendingKind = "test.change"

func newWorld(t *testing.T, twoPerson bool) *world {
	env := apptest.New(t)
	w := &world{env: env}
	env.App.Pending.Register(testKind, pending.Kind{TwoPerson: twoPerson, Handle: func(ctx context.Context, a *mayfly.PendingAction) (string, error) {
		if w.fail != nil {
			return "", w.fail
		}
		w.handled++
		return "changed " + a.Subject, nil
	}})
	// Made by the service itself, as the bootstrap credential is: no one
	// else was shown them, so each is its owner's alone.
	cred := func(name, owner string) context.Context {
		a, _, err := env.App.Identity.NewCredential(context.Background(), identity.CredentialSpec{Name: name, Role: mayfly.RoleAdmin, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		return env.As(a)
	}
	env.Human("alice")
	env.Human("bob")
	w.alice, w.alice2, w.bob, w.nobody = cred("alice-1", "alice"), cred("alice-2", "alice"), cred("bob-1", "bob"), cred("shared", "")
	return w
}

func (w *world) request(t *testing.T, ctx context.Context) *mayfly.PendingAction {
	t.Helper()
	a, created, err := w.env.App.Pending.Request(ctx, pending.Request{Kind: testKind, Subject: "x", Why: "test"})
	if err != nil || !created {
		t.Fatalf("Request: %+v, %v, created %v", a, err, created)
	}
	return a
}

// TestNoOneDecidesTheirOwn: neither the credential that asked nor another
// credential of the same person decides a request; someone else does.
func TestNoOneDecidesTheirOwn(t *testing.T) {
	w := newWorld(t, false)
	p := w.env.App.Pending
	a := w.request(t, w.alice)
	for name, ctx := range map[string]context.Context{"the requesting credential": w.alice, "the requester's second credential": w.alice2} {
		if _, err := p.Approve(ctx, a.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
			t.Errorf("approve with %s: %v; want permission denied", name, err)
		}
		if _, err := p.Reject(ctx, a.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
			t.Errorf("reject with %s: %v; want permission denied", name, err)
		}
	}
	if w.handled != 0 {
		t.Fatalf("handled %d times before anyone else decided", w.handled)
	}
	done, err := p.Approve(w.bob, a.ID, "ok")
	if err != nil || done.DoneAt.IsZero() || w.handled != 1 {
		t.Fatalf("approve by someone else: %+v, %v, handled %d", done, err, w.handled)
	}
}

// TestTwoPersonNeedsAPerson: a kind that needs a second person is not
// decided with a credential that belongs to no one, which anyone could
// hold; an ordinary kind is.
func TestTwoPersonNeedsAPerson(t *testing.T) {
	w := newWorld(t, true)
	a := w.request(t, w.alice)
	if _, err := w.env.App.Pending.Approve(w.nobody, a.ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("two-person approval with an unowned credential: %v; want permission denied", err)
	}
	if _, err := w.env.App.Pending.Approve(w.bob, a.ID, ""); err != nil {
		t.Errorf("two-person approval by another person: %v", err)
	}

	o := newWorld(t, false)
	b := o.request(t, o.alice)
	if _, err := o.env.App.Pending.Approve(o.nobody, b.ID, ""); err != nil {
		t.Errorf("ordinary approval with an unowned credential: %v", err)
	}
}

// TestApprovalRetried: an approved action whose handler failed stays
// approved and not done; approving it again carries it out once.
func TestApprovalRetried(t *testing.T) {
	w := newWorld(t, false)
	p := w.env.App.Pending
	a := w.request(t, w.alice)
	w.fail = mayfly.Errorf(mayfly.Unavailable, "the store is away")
	got, err := p.Approve(w.bob, a.ID, "")
	if err == nil || got == nil || got.Status != mayfly.Approved || !got.DoneAt.IsZero() || got.Result == "" {
		t.Fatalf("approve with a failing handler: %+v, %v; want approved, not done, with the failure", got, err)
	}
	w.fail = nil
	if _, err := p.Reject(w.bob, a.ID, ""); mayfly.ErrorCode(err) != mayfly.Conflict {
		t.Errorf("rejecting an approved action: %v; want a conflict", err)
	}
	if got, err = p.Approve(w.alice, a.ID, ""); err != nil || got.DoneAt.IsZero() {
		t.Fatalf("approving again: %+v, %v; want done", got, err)
	}
	if _, err = p.Approve(w.bob, a.ID, ""); err != nil || w.handled != 1 {
		t.Errorf("approving a done action: %v, handled %d times; want once", err, w.handled)
	}
	if _, _, err := p.Request(w.alice, pending.Request{Kind: "no.such.kind", Subject: "x"}); mayfly.ErrorCode(err) != mayfly.Internal {
		t.Errorf("a request of an unknown kind: %v; want an internal error", err)
	}
	apptest.CheckAuditCoverage(t, w.env.App.Store())
}
