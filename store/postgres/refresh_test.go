package postgres_test

// The refresh store on PostgreSQL, with transactions interleaved by hand
// rather than through the audit log (whose append lock serializes the
// write transactions that go through it; PruneRefresh does not).

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

var rt0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func rvHash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func rvFamily(t *testing.T, s *postgres.Store, id string, expires time.Time) *mayfly.RefreshToken {
	t.Helper()
	f := &mayfly.RefreshFamily{ID: id, ClientID: "cli", Subject: "customer:1", CreatedAt: rt0, LastUsed: rt0,
		IdleExpiresAt: rt0.Add(time.Hour), ExpiresAt: expires, Current: 1}
	tok := &mayfly.RefreshToken{Hash: rvHash(id + "/1"), FamilyID: id, Generation: 1, IssuedAt: rt0, Source: "192.0.2.1"}
	if err := mayfly.Transact(t.Context(), s, func(tx mayfly.Tx) error {
		return s.CreateRefreshFamilies(tx, []*mayfly.RefreshFamily{f}, []*mayfly.RefreshToken{tok})
	}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func rvRotation(f string, from int64, at time.Time) *mayfly.RefreshRotation {
	return &mayfly.RefreshRotation{FamilyID: f, From: from, Used: true, IdleExpiresAt: at.Add(time.Hour),
		Next: &mayfly.RefreshToken{Hash: rvHash(f + "/next"), FamilyID: f, Generation: from + 1, IssuedAt: at, Source: "198.51.100.7"}}
}

// hold runs fn in a transaction, and commits it once release is closed.
func hold(t *testing.T, s *postgres.Store, fn func(tx mayfly.Tx) error) (held chan error, release chan struct{}, done chan error) {
	held, release, done = make(chan error, 1), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- mayfly.Transact(t.Context(), s, func(tx mayfly.Tx) error {
			err := fn(tx)
			held <- err
			<-release
			return err
		})
	}()
	return held, release, done
}

// waits reports whether nothing came on ch, of capacity 1, for a while;
// what came is left on it.
func waits(ch chan error) bool {
	select {
	case err := <-ch:
		ch <- err
		return false
	case <-time.After(300 * time.Millisecond):
		return true
	}
}

// A family pruned while a rotation of it is in progress goes with every
// token, the rotation's too: the prune deletes the family first, which
// waits for the rotation, and its tokens after, in a statement that sees
// what the rotation committed. (SQLite has one writer.)
func TestPruneDuringRotation(t *testing.T) {
	a := open(t, pgtest.DSN(t))
	rvFamily(t, a, "fam-old", rt0.Add(time.Hour))
	r := rvRotation("fam-old", 1, rt0.Add(time.Minute))
	held, release, done := hold(t, a, func(tx mayfly.Tx) error { return a.RotateRefresh(tx, []*mayfly.RefreshRotation{r}) })
	if err := <-held; err != nil || !r.Rotated {
		t.Fatalf("rotation: %v, rotated %v", err, r.Rotated)
	}
	pruned := make(chan error, 1)
	go func() { _, err := a.PruneRefresh(t.Context(), rt0.Add(2*time.Hour)); pruned <- err }()
	if !waits(pruned) {
		t.Log("the prune did not wait for the rotation") // the order is then the test's, not the race's
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-pruned; err != nil {
		t.Fatal(err)
	}
	if _, err := a.RefreshFamily(t.Context(), "fam-old"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("family after prune: %v", err)
	}
	if toks, err := a.RefreshTokens(t.Context(), "fam-old"); err != nil || len(toks) != 0 {
		t.Errorf("tokens of a pruned family: %d left (%v); want none", len(toks), err)
	}
}

// A rotation that reaches a family while a revocation of it is in
// progress waits for the revocation (FOR SHARE) and then does not rotate
// it; read without the lock, it would see the family not yet revoked and
// rotate it.
func TestRotationDuringRevocation(t *testing.T) {
	a := open(t, pgtest.DSN(t))
	rvFamily(t, a, "fam-1", rt0.Add(24*time.Hour))
	held, release, done := hold(t, a, func(tx mayfly.Tx) error {
		revoked, err := a.RevokeRefreshFamily(tx, "fam-1", rt0.Add(time.Minute), "refresh token reused")
		if err == nil && !revoked {
			err = errors.New("not revoked")
		}
		return err
	})
	if err := <-held; err != nil {
		t.Fatalf("revocation: %v", err)
	}
	r := rvRotation("fam-1", 1, rt0.Add(time.Minute))
	rotated := make(chan error, 1)
	go func() {
		rotated <- mayfly.Transact(t.Context(), a, func(tx mayfly.Tx) error { return a.RotateRefresh(tx, []*mayfly.RefreshRotation{r}) })
	}()
	if !waits(rotated) {
		t.Log("the rotation did not wait for the revocation")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-rotated; err != nil {
		t.Fatal(err)
	}
	if r.Rotated {
		t.Error("a family revoked while its rotation waited was rotated")
	}
	if toks, err := a.RefreshTokens(t.Context(), "fam-1"); err != nil || len(toks) != 1 {
		t.Errorf("tokens of the revoked family: %d (%v), want its first alone", len(toks), err)
	}
}
