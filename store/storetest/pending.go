package storetest

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Pending runs the suite of mayfly.PendingStore.
func Pending(t *testing.T, open func(t *testing.T) PendingStore) {
	t.Helper()
	run(t, open, []test[PendingStore]{
		{"RoundTrip", testPendingRoundTrip},
		{"Filter", testPendingFilter},
		{"Update", testPendingUpdate},
	})
}

// fullPending has every field set, times off the microsecond and out of UTC.
func fullPending(id string, at time.Time) *mayfly.PendingAction {
	return &mayfly.PendingAction{
		ID: id, Kind: mayfly.PendingOffboard, Subject: "prn-alice",
		Params:      map[string]string{"reason": "left, \"quoted\"\n", "transfer_to": "Zoë"},
		Why:         "alice holds root-key custody",
		RequestedBy: "adm-scim", Requester: "prn-hr", RequestedAt: at.Add(fine).In(zone),
		Status: mayfly.Approved, DecidedBy: "adm-ops", Decider: "prn-ops", DecidedAt: at.Add(time.Minute + fine),
		Reason: "confirmed with HR", DoneAt: at.Add(time.Minute + 2*fine), Result: "offboarded",
		Material: []byte{0, 1, 2, 0xff},
	}
}

func diffPending(got, want *mayfly.PendingAction) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("Kind", got.Kind, want.Kind)
	d.eq("Subject", got.Subject, want.Subject)
	if !maps.Equal(got.Params, want.Params) {
		d.add("Params", got.Params, want.Params)
	}
	d.eq("Why", got.Why, want.Why)
	d.eq("RequestedBy", got.RequestedBy, want.RequestedBy)
	d.eq("Requester", got.Requester, want.Requester)
	d.time("RequestedAt", got.RequestedAt, want.RequestedAt)
	d.eq("Status", got.Status, want.Status)
	d.eq("DecidedBy", got.DecidedBy, want.DecidedBy)
	d.eq("Decider", got.Decider, want.Decider)
	d.time("DecidedAt", got.DecidedAt, want.DecidedAt)
	d.eq("Reason", got.Reason, want.Reason)
	d.time("DoneAt", got.DoneAt, want.DoneAt)
	d.eq("Result", got.Result, want.Result)
	d.bytes("Material", got.Material, want.Material)
	if got.Version != want.Version {
		d.add("Version", got.Version, want.Version)
	}
	return d
}

func mustPending(t *testing.T, s mayfly.PendingStore, id string) *mayfly.PendingAction {
	t.Helper()
	p, err := s.PendingAction(t.Context(), id)
	if err != nil {
		t.Fatalf("PendingAction(%q): %v", id, err)
	}
	return p
}

func testPendingRoundTrip(t *testing.T, s PendingStore) {
	if _, err := s.PendingAction(t.Context(), "pa-missing"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("missing action: got %v, want ErrNotFound", err)
	}
	full := fullPending("pa-1", t0)
	must(t, "CreatePending", do(t, s, s.CreatePending, full))
	if full.Version != 1 {
		t.Errorf("CreatePending set Version %d, want 1", full.Version)
	}
	diffPending(mustPending(t, s, "pa-1"), full).report(t, "PendingAction after CreatePending")
	// A bare one: no params, nothing decided; the zero times stay zero.
	bare := &mayfly.PendingAction{ID: "pa-2", Kind: mayfly.PendingSuspend, Subject: "prn-bob", Why: "w",
		RequestedBy: "adm-scim", RequestedAt: t0, Status: mayfly.Pending}
	must(t, "CreatePending (bare)", do(t, s, s.CreatePending, bare))
	diffPending(mustPending(t, s, "pa-2"), bare).report(t, "PendingAction after CreatePending (bare)")
	wantErr(t, "CreatePending with a taken ID", do(t, s, s.CreatePending, fullPending("pa-1", t0)), mayfly.ErrConflict)
}

func testPendingFilter(t *testing.T, s PendingStore) {
	// Made out of time order: the list is oldest first.
	acts := []*mayfly.PendingAction{
		{ID: "pa-c", Kind: mayfly.PendingSuspend, Subject: "prn-a", RequestedAt: t0.Add(2 * time.Second), Status: mayfly.Pending},
		{ID: "pa-a", Kind: mayfly.PendingOffboard, Subject: "prn-a", RequestedAt: t0, Status: mayfly.Rejected},
		{ID: "pa-b", Kind: mayfly.PendingSuspend, Subject: "prn-b", RequestedAt: t0.Add(time.Second), Status: mayfly.Pending},
	}
	for _, a := range acts {
		must(t, "CreatePending "+a.ID, do(t, s, s.CreatePending, a))
	}
	for _, c := range []struct {
		f    mayfly.PendingFilter
		want []string
	}{
		{mayfly.PendingFilter{}, []string{"pa-a", "pa-b", "pa-c"}},
		{mayfly.PendingFilter{Status: mayfly.Pending}, []string{"pa-b", "pa-c"}},
		{mayfly.PendingFilter{Subject: "prn-a"}, []string{"pa-a", "pa-c"}},
		{mayfly.PendingFilter{Kind: mayfly.PendingSuspend, Subject: "prn-a"}, []string{"pa-c"}},
		{mayfly.PendingFilter{Status: mayfly.Approved}, nil},
	} {
		got, err := s.PendingActions(t.Context(), c.f)
		if err != nil {
			t.Fatalf("PendingActions(%+v): %v", c.f, err)
		}
		var ids []string
		for _, p := range got {
			ids = append(ids, p.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("PendingActions(%+v): got %q, want %q", c.f, ids, c.want)
		}
	}
}

func testPendingUpdate(t *testing.T, s PendingStore) {
	p := &mayfly.PendingAction{ID: "pa-1", Kind: mayfly.PendingSuspend, Subject: "prn-a", Params: map[string]string{"reason": "r"},
		Why: "w", RequestedBy: "adm-scim", Requester: "prn-hr", RequestedAt: t0, Status: mayfly.Pending}
	must(t, "CreatePending", do(t, s, s.CreatePending, p))
	stale := *p
	next := *p
	next.Status, next.DecidedBy, next.Decider, next.DecidedAt, next.Reason = mayfly.Approved, "adm-ops", "prn-ops", t0.Add(time.Minute+fine), "ok"
	next.Params = map[string]string{"reason": "r", "mode": "suspend"}
	must(t, "UpdatePending", do(t, s, s.UpdatePending, &next))
	if next.Version != 2 {
		t.Errorf("UpdatePending set Version %d, want 2", next.Version)
	}
	diffPending(mustPending(t, s, "pa-1"), &next).report(t, "PendingAction after UpdatePending")
	stale.Status = mayfly.Rejected
	wantErr(t, "UpdatePending from a stale copy", do(t, s, s.UpdatePending, &stale), mayfly.ErrConflict)
	// What the request was is never changed.
	moved := next
	moved.Kind, moved.Subject, moved.RequestedBy, moved.Requester, moved.RequestedAt = mayfly.PendingOffboard, "prn-z", "adm-x", "prn-x", t0.Add(time.Hour)
	moved.Material = []byte("other")
	moved.DoneAt, moved.Result = t0.Add(2*time.Minute), "done"
	must(t, "UpdatePending (request fields)", do(t, s, s.UpdatePending, &moved))
	want := next
	want.DoneAt, want.Result, want.Version = moved.DoneAt, moved.Result, moved.Version
	diffPending(mustPending(t, s, "pa-1"), &want).report(t, "PendingAction after an update that changed its request")
	wantErr(t, "UpdatePending of a missing action", do(t, s, s.UpdatePending, &mayfly.PendingAction{ID: "pa-missing", Version: 1}), mayfly.ErrNotFound)
}
