package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Revocations runs the suite of mayfly.RevocationStore.
func Revocations(t *testing.T, open func(t *testing.T) RevocationStore) {
	t.Helper()
	run(t, open, []test[RevocationStore]{
		{"Seq", testRevocationSeq},
		{"AfterAndNow", testRevocationsAfterAndNow},
		{"Prune", testRevocationsPrune},
		{"Batch", testRevokeBatch},
		{"Cause", testRevocationCause},
	})
}

// revokeAll revokes rs in a transaction of its own.
func revokeAll(t *testing.T, s RevocationStore, rs ...*mayfly.Revocation) error {
	return commit(t, s, func(tx mayfly.Tx) error { return s.Revoke(tx, rs...) })
}

func revoke(t *testing.T, s RevocationStore, r *mayfly.Revocation) *mayfly.Revocation {
	t.Helper()
	if err := revokeAll(t, s, r); err != nil {
		t.Fatalf("Revoke(%s %s): %v", r.Kind, r.Subject, err)
	}
	return r
}

func revocations(t *testing.T, s mayfly.RevocationStore, after int64, now time.Time) []*mayfly.Revocation {
	t.Helper()
	got, err := s.Revocations(t.Context(), after, now)
	if err != nil {
		t.Fatalf("Revocations(%d, %s): %v", after, fmtTime(now), err)
	}
	return got
}

// fiveRevocations revokes a token, the world's first client, key and
// service principal, and a second token, in that order.
func fiveRevocations(t *testing.T, s RevocationStore) []*mayfly.Revocation {
	t.Helper()
	w := newWorld()
	return []*mayfly.Revocation{
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-1", Until: t0.Add(time.Minute), At: t0.Add(fine), Reason: "leaked in a log"}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0.Add(time.Second + fine).In(zone), Reason: "decommissioned"}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0.Add(2*time.Second + fine)}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokePrincipal, Subject: w.svc.ID, At: t0.Add(3 * time.Second), Reason: "offboarded"}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-2", Until: t0.Add(10 * time.Minute), At: t0.Add(4 * time.Second), Reason: "stolen"}),
	}
}

func testRevocationSeq(t *testing.T, s RevocationStore) {
	if got := revocations(t, s, 0, t0); len(got) != 0 {
		t.Errorf("Revocations on an empty store: got %d, want 0", len(got))
	}
	revs := fiveRevocations(t, s)
	if revs[0].Seq <= 0 {
		t.Errorf("first Seq: got %d, want > 0", revs[0].Seq)
	}
	for i := 1; i < len(revs); i++ {
		if revs[i].Seq <= revs[i-1].Seq {
			t.Errorf("Seq of revocation %d: got %d, want > %d (revocation %d)", i, revs[i].Seq, revs[i-1].Seq, i-1)
		}
	}
	diffList(t, "Revocations(0, t0)", revocations(t, s, 0, t0), revs, diffRevocation)
}

func testRevocationsAfterAndNow(t *testing.T, s RevocationStore) {
	revs := fiveRevocations(t, s)
	tok1, cli, key, prn, tok2 := revs[0], revs[1], revs[2], revs[3], revs[4]
	tests := []struct {
		name  string
		after int64
		now   time.Time
		want  []*mayfly.Revocation
	}{
		{"all", 0, t0, revs},
		{"after the client's", cli.Seq, t0, []*mayfly.Revocation{key, prn, tok2}},
		{"after the last", tok2.Seq, t0, nil},
		{"after a later seq", tok2.Seq + 1000, t0, nil},
		{"just before the first token expires", 0, tok1.Until.Add(-time.Microsecond), revs},
		{"as the first token expires", 0, tok1.Until, []*mayfly.Revocation{cli, key, prn, tok2}},
		{"as the second token expires", 0, tok2.Until, []*mayfly.Revocation{cli, key, prn}},
		{"much later", 0, t0.Add(24 * 365 * time.Hour), []*mayfly.Revocation{cli, key, prn}},
		{"after and now together", key.Seq, tok2.Until, []*mayfly.Revocation{prn}},
		{"now in another zone", 0, tok1.Until.In(zone), []*mayfly.Revocation{cli, key, prn, tok2}},
	}
	for _, tt := range tests {
		got := revocations(t, s, tt.after, tt.now)
		diffList(t, fmt.Sprintf("%s: Revocations(%d, %s)", tt.name, tt.after, fmtTime(tt.now)), got, tt.want, diffRevocation)
	}
}

func testRevocationsPrune(t *testing.T, s RevocationStore) {
	ctx := t.Context()
	revs := fiveRevocations(t, s)
	_, cli, key, prn, tok2 := revs[0], revs[1], revs[2], revs[3], revs[4]

	// Pruning before anything expired removes nothing.
	must(t, "PruneRevocations(t0)", s.PruneRevocations(ctx, t0))
	diffList(t, "Revocations after PruneRevocations(t0)", revocations(t, s, 0, t0), revs, diffRevocation)

	// The first token expired: its revocation is gone even to a reader whose
	// clock says it still matters.
	must(t, "PruneRevocations(t0+5m)", s.PruneRevocations(ctx, t0.Add(5*time.Minute)))
	diffList(t, "Revocations(0, t0) after PruneRevocations(t0+5m)", revocations(t, s, 0, t0), []*mayfly.Revocation{cli, key, prn, tok2}, diffRevocation)

	// Long after: only revocations without an end remain.
	must(t, "PruneRevocations(t0+10y)", s.PruneRevocations(ctx, t0.Add(10*365*24*time.Hour)))
	diffList(t, "Revocations(0, t0) after PruneRevocations(t0+10y)", revocations(t, s, 0, t0), []*mayfly.Revocation{cli, key, prn}, diffRevocation)

	// The newest revocation was pruned; its sequence number is not reused,
	// or a reader that has seen it would miss the next one.
	next := revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-3", Until: t0.Add(time.Hour), At: t0.Add(5 * time.Second)})
	if next.Seq <= tok2.Seq {
		t.Errorf("Seq after pruning the newest revocation: got %d, want > %d", next.Seq, tok2.Seq)
	}
	diffList(t, fmt.Sprintf("Revocations(%d, t0)", tok2.Seq), revocations(t, s, tok2.Seq, t0), []*mayfly.Revocation{next}, diffRevocation)
}

func testRevokeBatch(t *testing.T, s RevocationStore) {
	w := newWorld() // names only: revocations reference nothing
	rs := []*mayfly.Revocation{
		{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0},
		{Kind: mayfly.RevokeNotBefore, Subject: w.alice.ID, At: t0.Add(fine)},
		{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0},
	}
	must(t, "Revoke (batch)", revokeAll(t, s, rs...))
	for i, r := range rs {
		if r.Seq <= 0 || (i > 0 && r.Seq <= rs[i-1].Seq) {
			t.Fatalf("batch seqs %d, %d, %d; want increasing from 1", rs[0].Seq, rs[1].Seq, rs[2].Seq)
		}
	}
	if got := revocations(t, s, 0, t0); len(got) != 3 {
		t.Errorf("%d revocations after a batch of 3", len(got))
	}
	must(t, "Revoke (empty batch)", revokeAll(t, s))
	if got := revocations(t, s, 0, t0); len(got) != 3 {
		t.Errorf("%d revocations after an empty batch; want the 3 there were", len(got))
	}
}

func testRevocationCause(t *testing.T, s RevocationStore) {
	w := newWorld() // names only: revocations reference nothing
	rs := []*mayfly.Revocation{
		{Kind: mayfly.RevokePrincipal, Subject: w.svc.ID, At: t0, Reason: "suspended by HR", Cause: mayfly.CauseSuspended},
		{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0.Add(fine), Cause: mayfly.CauseOffboarded},
		{Kind: mayfly.RevokeNotBefore, Subject: w.cB.ID, At: t0.Add(time.Second), Cause: mayfly.CauseSecretRotated},
		{Kind: mayfly.RevokeToken, Subject: "jti-1", Until: t0.Add(time.Hour), At: t0.Add(time.Second), Reason: "direct"},
	}
	must(t, "Revoke", revokeAll(t, s, rs...))
	one := revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0.Add(2 * time.Second), Cause: mayfly.CauseOffboarded})
	diffList(t, "Revocations", revocations(t, s, 0, t0), append(rs, one), diffRevocation)
}
