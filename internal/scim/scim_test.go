package scim_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/scim"
)

func setup(t *testing.T) (*apptest.Env, *scim.Service, *mayfly.AdminCredential, context.Context) {
	t.Helper()
	env := apptest.New(t)
	cred, _, err := env.App.Identity.NewCredential(env.Admin(), identity.CredentialSpec{Name: "hr", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	return env, env.App.SCIM, cred, env.As(cred)
}

// TestUniqueRace: two identity providers' requests for one userName, in
// different letter case, race; the store's index lets exactly one win, and
// the other is told the name is taken.
func TestUniqueRace(t *testing.T) {
	_, s, cred, ctx := setup(t)
	names := []string{"Alice", "alice", "ALICE", "aLiCe"}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { _, errs[i] = s.Create(ctx, cred, scim.Person{UserName: name}) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		var se *scim.Error
		switch {
		case err == nil:
			won++
		case errors.As(err, &se) && se.Type == "uniqueness" && errors.Is(err, mayfly.ErrConflict):
		default:
			t.Errorf("create %s: %v; want success or a uniqueness conflict", names[i], err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates won; want exactly one", won)
	}
}

// TestRenameTaken: renaming a person to a name another has in other case
// is refused, as the store's index would have it.
func TestRenameTaken(t *testing.T) {
	_, s, cred, ctx := setup(t)
	if _, err := s.Create(ctx, cred, scim.Person{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	carol, err := s.Create(ctx, cred, scim.Person{UserName: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	in := scim.Of(carol)
	in.UserName = "BOB"
	var se *scim.Error
	if err := s.Apply(ctx, cred, carol, in); !errors.As(err, &se) || se.Type != "uniqueness" {
		t.Errorf("rename to BOB: %v; want a uniqueness refusal", err)
	}
}

// TestReactivation: a person records who suspended them; an identity
// provider may end only a suspension it made.
func TestReactivation(t *testing.T) {
	env, s, cred, ctx := setup(t)
	yes, no := true, false
	p, err := s.Create(ctx, cred, scim.Person{UserName: "dana"})
	if err != nil {
		t.Fatal(err)
	}
	in := scim.Of(p)
	in.Active = &no
	if err := s.Apply(ctx, cred, p, in); err != nil {
		t.Fatal(err)
	}
	if p, err = s.Person(ctx, p.ID); err != nil || p.Status != mayfly.Suspended || p.SuspendedBy != cred.ID {
		t.Fatalf("after deactivation: %+v, %v; want suspended by %s", p, err, cred.ID)
	}
	in.Active = &yes
	if err := s.Apply(ctx, cred, p, in); err != nil {
		t.Fatalf("reactivating a person SCIM suspended: %v", err)
	}

	// An administrator suspends: SCIM cannot end it.
	if _, err := env.App.Identity.SetStatus(env.Admin(), p.ID, mayfly.Suspended, "investigation"); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Person(ctx, p.ID)
	var se *scim.Error
	if err := s.Apply(ctx, cred, p, in); !errors.As(err, &se) || se.Type != "mutability" || !strings.Contains(err.Error(), "administrator") {
		t.Errorf("reactivating a person an administrator suspended: %v; want a mutability refusal", err)
	}
	if p, _ = s.Person(ctx, p.ID); p.Status != mayfly.Suspended {
		t.Errorf("status %s; want still suspended", p.Status)
	}
}

// TestCreatedInactive: a person provisioned inactive is created suspended,
// by the identity provider, in the one step that creates them, so it may
// activate them later.
func TestCreatedInactive(t *testing.T) {
	env, s, cred, ctx := setup(t)
	no, yes := false, true
	p, err := s.Create(ctx, cred, scim.Person{UserName: "erin", Active: &no})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != mayfly.Suspended || p.SuspendedBy != cred.ID {
		t.Errorf("created: %s, suspended by %q; want suspended by %s", p.Status, p.SuspendedBy, cred.ID)
	}
	recs, err := env.App.Store().AuditEntries(ctx, mayfly.AuditFilter{Principal: p.ID})
	if err != nil || len(recs) != 2 || recs[0].Entry.Action != mayfly.ActionPrincipalCreated || recs[1].Entry.Action != mayfly.ActionPrincipalSuspended {
		t.Errorf("entries: %v, %v; want created, then suspended", recs, err)
	}
	in := scim.Of(p)
	in.Active = &yes
	if err := s.Apply(ctx, cred, p, in); err != nil {
		t.Errorf("activating a person provisioned inactive: %v", err)
	}
}
