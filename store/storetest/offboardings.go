package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Offboardings runs the suite of mayfly.OffboardingStore.
func Offboardings(t *testing.T, open func(t *testing.T) OffboardingStore) {
	t.Helper()
	run(t, open, []test[OffboardingStore]{
		{"SaveAndList", testOffboardings},
	})
}

func diffOffboarding(got, want *mayfly.Offboarding) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("PrincipalID", got.PrincipalID, want.PrincipalID)
	d.eq("Reason", got.Reason, want.Reason)
	d.eq("TransferTo", got.TransferTo, want.TransferTo)
	d.eq("Actor", got.Actor, want.Actor)
	d.time("StartedAt", got.StartedAt, want.StartedAt)
	d.time("FinishedAt", got.FinishedAt, want.FinishedAt)
	d.strings("Done", got.Done, want.Done)
	if len(got.Actions) != len(want.Actions) {
		d.add("Actions", fmt.Sprintf("%d actions", len(got.Actions)), fmt.Sprintf("%d actions", len(want.Actions)))
		return d
	}
	for i, g := range got.Actions {
		w, f := want.Actions[i], fmt.Sprintf("Actions[%d].", i)
		d.eq(f+"Step", g.Step, w.Step)
		d.eq(f+"Action", g.Action, w.Action)
		d.eq(f+"Subject", g.Subject, w.Subject)
		d.eq(f+"Detail", g.Detail, w.Detail)
		d.time(f+"At", g.At, w.At)
		if g.Audit != w.Audit {
			d.add(f+"Audit", g.Audit, w.Audit)
		}
	}
	return d
}

func offboardings(t *testing.T, s mayfly.OffboardingStore, principalID string, unfinished bool) []*mayfly.Offboarding {
	t.Helper()
	got, err := s.Offboardings(t.Context(), principalID, unfinished)
	if err != nil {
		t.Fatalf("Offboardings(%q, %v): %v", principalID, unfinished, err)
	}
	return got
}

func testOffboardings(t *testing.T, s OffboardingStore) {
	if got := offboardings(t, s, "", false); len(got) != 0 {
		t.Errorf("Offboardings on an empty store: got %d runs, want 0", len(got))
	}
	// Runs name principals, which need not exist here.
	w := newWorld()
	bob := &mayfly.Principal{ID: "prn-bob", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	carol := &mayfly.Principal{ID: "prn-carol", Name: "carol", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}

	// Runs are started in time order. The first is saved as it starts,
	// with nothing done.
	o1 := &mayfly.Offboarding{ID: "off-1", PrincipalID: w.alice.ID, Reason: "left the company", TransferTo: bob.ID,
		Actor: "adm-1", StartedAt: t0.Add(fine).In(zone)}
	must(t, "SaveOffboarding", do(t, s, s.SaveOffboarding, o1))
	diffList(t, "Offboardings after the first save", offboardings(t, s, "", false), []*mayfly.Offboarding{o1}, diffOffboarding)

	o2 := &mayfly.Offboarding{ID: "off-2", PrincipalID: carol.ID, Actor: "adm-2",
		StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(2*time.Hour + fine),
		Done: []string{"suspend", "revoke"},
		Actions: []mayfly.OffboardAction{
			{Step: "suspend", Action: mayfly.ActionPrincipalSuspended, Subject: carol.ID, At: t0.Add(time.Hour + time.Second), Audit: 3},
			{Step: "revoke", Action: mayfly.ActionClientRevoked, Subject: "cli-x", Detail: "and its tokens", At: t0.Add(time.Hour + 2*time.Second + fine), Audit: 4},
		}}
	must(t, "SaveOffboarding", do(t, s, s.SaveOffboarding, o2))

	// The first run saved again after two steps replaces what was saved.
	o1b := *o1
	o1b.Done = []string{"suspend", "revoke_clients"}
	o1b.Actions = []mayfly.OffboardAction{
		{Step: "suspend", Action: mayfly.ActionPrincipalSuspended, Subject: w.alice.ID, At: t0.Add(time.Second + fine).In(zone), Audit: 7},
		{Step: "revoke_clients", Action: mayfly.ActionClientRevoked, Subject: w.cB.ID, Detail: "secret and tokens, \"quoted\"\n", At: t0.Add(2*time.Second + fine), Audit: 1<<63 + 5},
		{Step: "revoke_clients", Action: mayfly.ActionClientTransferred, Subject: w.cA.ID, At: t0.Add(3 * time.Second)},
	}
	must(t, "SaveOffboarding replacing a run", do(t, s, s.SaveOffboarding, &o1b))

	o3 := &mayfly.Offboarding{ID: "off-3", PrincipalID: w.alice.ID, Reason: "again", Actor: "adm-1",
		StartedAt: t0.Add(3 * time.Hour), Done: []string{}, Actions: []mayfly.OffboardAction{}}
	must(t, "SaveOffboarding", do(t, s, s.SaveOffboarding, o3))

	tests := []struct {
		principal  string
		unfinished bool
		want       []*mayfly.Offboarding
	}{
		{"", false, []*mayfly.Offboarding{&o1b, o2, o3}},
		{w.alice.ID, false, []*mayfly.Offboarding{&o1b, o3}},
		{carol.ID, false, []*mayfly.Offboarding{o2}},
		{"", true, []*mayfly.Offboarding{&o1b, o3}},
		{w.alice.ID, true, []*mayfly.Offboarding{&o1b, o3}},
		{carol.ID, true, nil},
		{bob.ID, false, nil},
		{"prn-nobody", false, nil},
	}
	for _, tt := range tests {
		diffList(t, fmt.Sprintf("Offboardings(%q, %v)", tt.principal, tt.unfinished), offboardings(t, s, tt.principal, tt.unfinished), tt.want, diffOffboarding)
	}

	// Finishing the first run takes it off the unfinished list, and it
	// keeps its place among all runs.
	o1c := o1b
	o1c.Done = append(o1c.Done, "report")
	o1c.FinishedAt = t0.Add(4*time.Hour + fine).In(zone)
	must(t, "SaveOffboarding finishing a run", do(t, s, s.SaveOffboarding, &o1c))
	diffList(t, `Offboardings("", true) after finishing off-1`, offboardings(t, s, "", true), []*mayfly.Offboarding{o3}, diffOffboarding)
	diffList(t, `Offboardings("", false) after finishing off-1`, offboardings(t, s, "", false), []*mayfly.Offboarding{&o1c, o2, o3}, diffOffboarding)
}
