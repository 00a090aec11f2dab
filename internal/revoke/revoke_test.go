package revoke_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/revoke"
)

// revoke1 makes one revocation in a transaction of its own.
func revoke1(t *testing.T, st mayfly.TxStore, s *revoke.Service, kind mayfly.RevocationKind, subject string, until time.Time) *mayfly.Revocation {
	t.Helper()
	r := &mayfly.Revocation{Kind: kind, Subject: subject, Until: until, Reason: "test"}
	if err := mayfly.Transact(context.Background(), st, func(tx mayfly.Tx) error { return s.Revoke(tx, r) }); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRevokedAcrossRestartAndPrune: a revocation holds after a restart, and
// a token's revocation is forgotten only MaxTokenTTL after the token expired,
// so a clock stepped back by less than that cannot revive the token.
func TestRevokedAcrossRestartAndPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := apptest.OpenStore(t, dir)
	clock := apptest.NewClock(apptest.Epoch)
	s, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	exp := clock.Now().Add(5 * time.Minute)
	revoke1(t, st, s, mayfly.RevokeToken, "jti-1", exp)

	st.Close()
	st = apptest.OpenStore(t, dir)
	s, err = revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Revoked(mayfly.RevokeToken, "jti-1") {
		t.Fatal("revocation lost across a restart")
	}

	clock.Advance(5*time.Minute + mayfly.MaxTokenTTL - time.Second) // expired, within the margin
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Revoked(mayfly.RevokeToken, "jti-1") {
		t.Errorf("revocation forgotten within MaxTokenTTL of the token's expiry")
	}
	if revs, _ := st.Revocations(ctx, 0, apptest.Epoch); len(revs) != 1 {
		t.Errorf("store: %d revocations, want the one still within the margin", len(revs))
	}
	clock.Advance(2 * time.Second)
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Revoked(mayfly.RevokeToken, "jti-1") {
		t.Errorf("revocation kept past its margin")
	}
	if revs, _ := st.Revocations(ctx, 0, apptest.Epoch); len(revs) != 0 {
		t.Errorf("store: %d revocations after pruning, want 0", len(revs))
	}
}

// TestRefreshAfterLocalRevoke: two services on one store stand for two
// replicas. One revokes, then the other revokes something else before it
// has heard of the first; its next Refresh must still pick the first up,
// although its number is lower than the one the second made locally.
func TestRefreshAfterLocalRevoke(t *testing.T) {
	ctx := context.Background()
	st := apptest.OpenStore(t, t.TempDir())
	clock := apptest.NewClock(apptest.Epoch)
	a, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	b, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	revoke1(t, st, b, mayfly.RevokeClient, "cli-by-b", time.Time{})
	revoke1(t, st, a, mayfly.RevokeClient, "cli-by-a", time.Time{})
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"cli-by-a", "cli-by-b"} {
		if !a.Revoked(mayfly.RevokeClient, subj) {
			t.Errorf("%s: not revoked after Refresh; a local revocation must not make Refresh skip an earlier one", subj)
		}
	}
}

// TestSince: subscribers read revocations in sequence order from where they
// stand, and are woken when there are more.
func TestSince(t *testing.T) {
	ctx := context.Background()
	st := apptest.OpenStore(t, t.TempDir())
	clock := apptest.NewClock(apptest.Epoch)
	s, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	first := revoke1(t, st, s, mayfly.RevokeClient, "cli-1", time.Time{})
	revs, wake := s.Since(0)
	if len(revs) != 1 || revs[0].Seq != first.Seq || s.Seq() != first.Seq {
		t.Fatalf("Since(0) = %v, Seq %d; want the one revocation", revs, s.Seq())
	}
	select {
	case <-wake:
		t.Fatal("woken with nothing new")
	default:
	}
	second := revoke1(t, st, s, mayfly.RevokeToken, "jti-1", clock.Now().Add(time.Minute))
	select {
	case <-wake:
	default:
		t.Fatal("a new revocation did not wake the subscriber")
	}
	if revs, _ := s.Since(first.Seq); len(revs) != 1 || revs[0].Seq != second.Seq {
		t.Errorf("Since(%d) = %v; want only the second", first.Seq, revs)
	}
	// Once the token has expired (and the margin passed), it leaves the feed.
	clock.Advance(time.Minute + mayfly.MaxTokenTTL + time.Second)
	if err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if revs, _ := s.Since(0); len(revs) != 1 || revs[0].Seq != first.Seq {
		t.Errorf("after pruning: %v; want only the client revocation", revs)
	}
}

// TestRevokeRolledBack: a revocation whose transaction does not commit
// takes no effect, in memory or in the store.
func TestRevokeRolledBack(t *testing.T) {
	ctx := context.Background()
	st := apptest.OpenStore(t, t.TempDir())
	s, err := revoke.New(ctx, st, apptest.NewClock(apptest.Epoch))
	if err != nil {
		t.Fatal(err)
	}
	failed := errors.New("the change it belonged to failed")
	err = mayfly.Transact(ctx, st, func(tx mayfly.Tx) error {
		if err := s.Revoke(tx, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: "cli-1"}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Transact: %v; want the change's error", err)
	}
	if s.Revoked(mayfly.RevokeClient, "cli-1") {
		t.Error("revoked in memory although its transaction rolled back")
	}
	if revs, err := st.Revocations(ctx, 0, apptest.Epoch); err != nil || len(revs) != 0 {
		t.Errorf("store: %v, %v; want no revocation", revs, err)
	}
}

// staleReads is a store whose reads of revocations stop at upTo, as a
// read that began before later ones committed would.
type staleReads struct {
	mayfly.RevocationStore
	upTo int64
}

func (s *staleReads) Revocations(ctx context.Context, after int64, now time.Time) ([]*mayfly.Revocation, error) {
	revs, err := s.RevocationStore.Revocations(ctx, after, now)
	if s.upTo > 0 {
		revs = slices.DeleteFunc(revs, func(r *mayfly.Revocation) bool { return r.Seq > s.upTo })
	}
	return revs, err
}

// TestHoldFollowsNewest: a hold is the newest suspend or resume of its
// subject, whatever order a process hears of them in. Replica b suspends
// again what a has just lifted, before it heard of the lift; the read that
// brings it the lift, begun before b's suspension committed, must not
// lift b's newer hold, not even for a moment.
func TestHoldFollowsNewest(t *testing.T) {
	ctx := context.Background()
	st := apptest.OpenStore(t, t.TempDir())
	clock := apptest.NewClock(apptest.Epoch)
	a, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	stale := &staleReads{RevocationStore: st}
	b, err := revoke.New(ctx, stale, clock)
	if err != nil {
		t.Fatal(err)
	}
	revoke1(t, st, a, mayfly.RevokeSuspend, "cli_x", time.Time{})
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	resume := revoke1(t, st, a, mayfly.RevokeResume, "cli_x", time.Time{})
	if a.Suspended("cli_x") || !b.Suspended("cli_x") {
		t.Fatal("a resumed, b has not heard: want a lifted and b held")
	}
	stale.upTo = resume.Seq
	revoke1(t, st, b, mayfly.RevokeSuspend, "cli_x", time.Time{})
	if b.Seq() != resume.Seq {
		t.Fatalf("b read up to %d; the test needs it to have read the resume, %d, after applying its suspension", b.Seq(), resume.Seq)
	}
	if !b.Suspended("cli_x") {
		t.Errorf("b: an older resume, heard of after b's own newer suspension, lifted it")
	}
	stale.upTo = 0
	for _, s := range []*revoke.Service{a, b} {
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	restarted, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*revoke.Service{"a": a, "b": b, "a restart": restarted} {
		if !s.Suspended("cli_x") {
			t.Errorf("%s: not suspended after the newest suspension", name)
		}
		if got := s.NotBefore("cli_x"); !got.Equal(resume.At) {
			t.Errorf("%s: not-before mark %v; want the resume's time %v", name, got, resume.At)
		}
	}
}

// TestSubjectMark: a subject's mark covers it alone; a namespace's covers
// every sub "NS:..." and no other; the later mark wins whatever the order
// they were made in; and marks hold after a restart.
func TestSubjectMark(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := apptest.OpenStore(t, dir)
	clock := apptest.NewClock(apptest.Epoch)
	s, err := revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	t0 := apptest.Epoch
	mark := func(kind mayfly.RevocationKind, subject string, at time.Time) {
		t.Helper()
		r := &mayfly.Revocation{Kind: kind, Subject: subject, At: at, Reason: "test"}
		if err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error { return s.Revoke(tx, r) }); err != nil {
			t.Fatal(err)
		}
	}
	mark(mayfly.RevokeSubject, "customer:1", t0.Add(time.Minute))
	mark(mayfly.RevokeNamespace, "customer", t0.Add(2*time.Minute))
	mark(mayfly.RevokeNamespace, "customer", t0.Add(time.Second)) // earlier: no effect
	mark(mayfly.RevokeSubject, "partner:7", t0.Add(3*time.Minute))
	// A principal's not-before mark is not a subject's, even under its name.
	mark(mayfly.RevokeNotBefore, "staff:9", t0.Add(4*time.Minute))

	check := func(s *revoke.Service) {
		t.Helper()
		for _, tc := range []struct {
			sub  string
			want time.Time
		}{
			{"customer:1", t0.Add(2 * time.Minute)}, // the namespace's, later than its own
			{"customer:2", t0.Add(2 * time.Minute)},
			{"partner:7", t0.Add(3 * time.Minute)},
			{"partner:8", time.Time{}},
			{"customer", time.Time{}},    // no colon: a namespace's name is no subject of it
			{"customers:1", time.Time{}}, // another namespace
			{"staff:9", time.Time{}},     // a principal's mark
			{"mfc_client", time.Time{}},  // a service token's sub
			{"", time.Time{}},
		} {
			if got := s.SubjectMark(tc.sub); !got.Equal(tc.want) {
				t.Errorf("SubjectMark(%q) = %v, want %v", tc.sub, got, tc.want)
			}
		}
	}
	check(s)
	if got := s.NotBefore("customer:1"); !got.IsZero() {
		t.Errorf("NotBefore(customer:1) = %v: a subject's mark leaked into principal and client marks", got)
	}

	st.Close()
	st = apptest.OpenStore(t, dir)
	s, err = revoke.New(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	check(s)
	if err := s.Prune(ctx); err != nil { // marks never expire
		t.Fatal(err)
	}
	check(s)
}
