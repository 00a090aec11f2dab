package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
)

func ceiling(d time.Duration) apptest.Option {
	return func(c *app.Config) { c.KeyLifetimeCeiling, c.AllowLongKeyLifetime = d, true }
}

// TestCeilingNeedsSecondPerson: raising the key lifetime ceiling above the
// default is made at once, unapproved, while one person holds an admin
// credential; once two do, a start that raises it further runs at the
// ceiling approved until someone other than the operator approves it.
func TestCeilingNeedsSecondPerson(t *testing.T) {
	env := apptest.New(t, ceiling(90*24*time.Hour))
	if got := env.App.Keys.Ceiling(); got != 90*24*time.Hour {
		t.Fatalf("one administrator: ceiling %s; want the 2160h asked for, carried out unapproved", got)
	}
	acts, err := env.App.Pending.List(env.Admin(), mayfly.PendingFilter{Kind: mayfly.PendingCeiling})
	if err != nil || len(acts) != 1 || acts[0].Status != mayfly.Unapproved || acts[0].DoneAt.IsZero() {
		t.Fatalf("the raise: %+v, %v; want one unapproved, done", acts, err)
	}

	// A second administrator, alice, with a credential only she has seen;
	// a start asking for more.
	env.Human("alice")
	alice, _, err := env.App.Identity.NewCredential(context.Background(), identity.CredentialSpec{Name: "alice", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	env = env.Restart(ceiling(180 * 24 * time.Hour))
	if got := env.App.Keys.Ceiling(); got != 90*24*time.Hour {
		t.Fatalf("two administrators: ceiling %s; want the approved 2160h until someone approves more", got)
	}
	if _, err := env.App.Keys.CreateRing(env.Admin(), "long", mayfly.ES256, 120*24*time.Hour, nil); mayfly.ErrorCode(err) != mayfly.Invalid {
		t.Errorf("a ring of 2880h under the approved 2160h ceiling: %v; want refused", err)
	}
	waiting, err := env.App.Pending.List(env.Admin(), mayfly.PendingFilter{Kind: mayfly.PendingCeiling, Status: mayfly.Pending})
	if err != nil || len(waiting) != 1 || waiting[0].Params["ceiling"] != (180*24*time.Hour).String() {
		t.Fatalf("waiting raise: %+v, %v", waiting, err)
	}
	op, err := env.App.Identity.Fresh(env.Admin(), "operator")
	if err != nil {
		t.Fatal(err)
	}
	if waiting[0].Requester != op.ID {
		t.Errorf("the raise is asked by %q; want the operator who started the server", waiting[0].Requester)
	}
	// The operator's own credential cannot approve it; alice's can.
	if _, err := env.App.Pending.Approve(env.Admin(), waiting[0].ID, ""); mayfly.ErrorCode(err) != mayfly.PermissionDenied {
		t.Errorf("the operator approving their own raise: %v; want permission denied", err)
	}
	if _, err := env.App.Pending.Approve(env.As(alice), waiting[0].ID, "long-lived HSM ring"); err != nil {
		t.Fatal(err)
	}
	if got := env.App.Keys.Ceiling(); got != 180*24*time.Hour {
		t.Errorf("after approval: ceiling %s; want 4320h", got)
	}
	// Kept for every start, which asks for nothing more.
	env = env.Restart(ceiling(180 * 24 * time.Hour))
	if got := env.App.Keys.Ceiling(); got != 180*24*time.Hour {
		t.Errorf("after a restart: ceiling %s; want the approved 4320h", got)
	}
	if waiting, _ := env.App.Pending.List(env.Admin(), mayfly.PendingFilter{Status: mayfly.Pending}); len(waiting) != 0 {
		t.Errorf("a restart at the approved ceiling asked again: %+v", waiting)
	}
	// A start asking for less runs at less, with no one's approval.
	env = env.Restart()
	if got := env.App.Keys.Ceiling(); got != mayfly.KeyLifetimeCeiling {
		t.Errorf("a start at the default: ceiling %s; want %s", got, mayfly.KeyLifetimeCeiling)
	}
	apptest.CheckAuditCoverage(t, env.App.Store())
}
