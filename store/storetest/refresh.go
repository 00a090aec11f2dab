package storetest

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// RefreshStore is mayfly.RefreshStore with transactions.
type RefreshStore interface {
	mayfly.RefreshStore
	mayfly.TxStore
}

// Refresh runs the suite of mayfly.RefreshStore.
func Refresh(t *testing.T, open func(t *testing.T) RefreshStore) {
	t.Helper()
	run(t, open, []test[RefreshStore]{
		{"RoundTrip", testRefreshRoundTrip},
		{"Rotate", testRefreshRotate},
		{"RotateOnceEach", testRefreshRotateOnce},
		{"RotateRaces", testRefreshRotateRaces},
		{"Revoke", testRefreshRevoke},
		{"Prune", testRefreshPrune},
	})
}

func refreshHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newFamily returns a family with every field set, and its first token.
func newFamily(id string, at time.Time) (*mayfly.RefreshFamily, *mayfly.RefreshToken) {
	f := &mayfly.RefreshFamily{ID: id, ClientID: "cli-app", Subject: "customer:48213377", JKT: "jkt-" + id,
		CreatedAt: at.Add(fine).In(zone), LastUsed: at.Add(fine), IdleExpiresAt: at.Add(14 * 24 * time.Hour),
		ExpiresAt: at.Add(90 * 24 * time.Hour), Current: 1}
	return f, &mayfly.RefreshToken{Hash: refreshHash(id + "/1"), FamilyID: id, Generation: 1, IssuedAt: at.Add(fine), Source: "192.0.2.1"}
}

// lookup finds tok in s by its family, generation and hash.
func lookup(t *testing.T, s RefreshStore, tok *mayfly.RefreshToken) (*mayfly.RefreshToken, *mayfly.RefreshFamily, error) {
	return s.RefreshToken(t.Context(), tok.FamilyID, tok.Generation, tok.Hash)
}

func createFamily(t *testing.T, s RefreshStore, f *mayfly.RefreshFamily, tok *mayfly.RefreshToken) {
	t.Helper()
	must(t, "CreateRefreshFamilies", commit(t, s, func(tx mayfly.Tx) error {
		return s.CreateRefreshFamilies(tx, []*mayfly.RefreshFamily{f}, []*mayfly.RefreshToken{tok})
	}))
}

func diffFamily(got, want *mayfly.RefreshFamily) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("ClientID", got.ClientID, want.ClientID)
	d.eq("Subject", got.Subject, want.Subject)
	d.eq("JKT", got.JKT, want.JKT)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("LastUsed", got.LastUsed, want.LastUsed)
	d.time("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if got.Current != want.Current {
		d.add("Current", got.Current, want.Current)
	}
	d.time("RevokedAt", got.RevokedAt, want.RevokedAt)
	d.eq("Reason", got.Reason, want.Reason)
	return d
}

func diffRefresh(got, want *mayfly.RefreshToken) diff {
	var d diff
	d.bytes("Hash", got.Hash, want.Hash)
	d.eq("FamilyID", got.FamilyID, want.FamilyID)
	if got.Generation != want.Generation {
		d.add("Generation", got.Generation, want.Generation)
	}
	d.time("IssuedAt", got.IssuedAt, want.IssuedAt)
	d.eq("Source", got.Source, want.Source)
	d.time("UsedAt", got.UsedAt, want.UsedAt)
	d.eq("UsedFrom", got.UsedFrom, want.UsedFrom)
	d.time("RetiredAt", got.RetiredAt, want.RetiredAt)
	return d
}

func testRefreshRoundTrip(t *testing.T, s RefreshStore) {
	f, tok := newFamily("fam-1", t0)
	createFamily(t, s, f, tok)
	gotTok, gotFam, err := lookup(t, s, tok)
	must(t, "RefreshToken", err)
	diffRefresh(gotTok, tok).report(t, "token")
	diffFamily(gotFam, f).report(t, "token's family")
	got, err := s.RefreshFamily(t.Context(), f.ID)
	must(t, "RefreshFamily", err)
	diffFamily(got, f).report(t, "family")

	// A token names its family and generation; only its hash proves it.
	for _, c := range []struct {
		what string
		fam  string
		gen  int64
		hash []byte
	}{
		{"another hash", f.ID, 1, refreshHash("no such token")},
		{"another generation", f.ID, 2, tok.Hash},
		{"another family", "fam-none", 1, tok.Hash},
	} {
		_, _, err = s.RefreshToken(t.Context(), c.fam, c.gen, c.hash)
		wantErr(t, "RefreshToken of "+c.what, err, mayfly.ErrNotFound)
	}
	_, err = s.RefreshFamily(t.Context(), "fam-none")
	wantErr(t, "RefreshFamily of an unknown id", err, mayfly.ErrNotFound)
	again, againTok := newFamily(f.ID, t0.Add(time.Hour))
	againTok.Hash = refreshHash("again")
	f2, tok2 := newFamily("fam-2", t0)
	err = commit(t, s, func(tx mayfly.Tx) error {
		return s.CreateRefreshFamilies(tx, []*mayfly.RefreshFamily{f2, again}, []*mayfly.RefreshToken{tok2, againTok})
	})
	wantErr(t, "a family whose ID another has", err, mayfly.ErrConflict)
	if _, err := s.RefreshFamily(t.Context(), "fam-2"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("the family of a refused create: got error %v, want not found", err)
	}
	if got, _, err := lookup(t, s, tok); err != nil {
		t.Errorf("the first token after a refused create: %v", err)
	} else {
		diffRefresh(got, tok).report(t, "the first token after a refused create")
	}
}

// rotation of f from generation from, at at, from 198.51.100.7.
func rotation(f string, from int64, used bool, at time.Time) *mayfly.RefreshRotation {
	return &mayfly.RefreshRotation{FamilyID: f, From: from, Used: used, IdleExpiresAt: at.Add(time.Hour),
		Next: &mayfly.RefreshToken{Hash: refreshHash(f + "/" + string(rune('0'+from+1))), FamilyID: f, Generation: from + 1, IssuedAt: at, Source: "198.51.100.7"}}
}

func rotate(t *testing.T, s RefreshStore, rs ...*mayfly.RefreshRotation) {
	t.Helper()
	must(t, "RotateRefresh", commit(t, s, func(tx mayfly.Tx) error { return s.RotateRefresh(tx, rs) }))
}

func testRefreshRotate(t *testing.T, s RefreshStore) {
	f, tok := newFamily("fam-1", t0)
	createFamily(t, s, f, tok)
	at := t0.Add(time.Minute + fine)
	r := rotation("fam-1", 1, true, at)
	rotate(t, s, r)
	if !r.Rotated {
		t.Fatal("rotation from the current generation: not rotated")
	}
	got, err := s.RefreshFamily(t.Context(), "fam-1")
	must(t, "RefreshFamily", err)
	want := *f
	want.Current, want.LastUsed, want.IdleExpiresAt = 2, at, at.Add(time.Hour)
	diffFamily(got, &want).report(t, "family after a rotation")
	toks, err := s.RefreshTokens(t.Context(), "fam-1")
	must(t, "RefreshTokens", err)
	if len(toks) != 2 {
		t.Fatalf("RefreshTokens: got %d tokens, want 2", len(toks))
	}
	old := *tok
	old.UsedAt, old.UsedFrom, old.RetiredAt = at, "198.51.100.7", at
	diffRefresh(toks[0], &old).report(t, "retired token")
	diffRefresh(toks[1], r.Next).report(t, "successor")

	// From a stale generation: nothing is written.
	stale := rotation("fam-1", 1, true, at.Add(time.Minute))
	stale.Next.Hash = refreshHash("stale")
	rotate(t, s, stale)
	if stale.Rotated {
		t.Error("rotation from a generation the family has left: rotated")
	}
	if _, _, err := lookup(t, s, stale.Next); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("successor of a refused rotation: got error %v, want not found", err)
	}
	// Replacing the unused successor: retired, without being used.
	r3 := rotation("fam-1", 2, false, at.Add(2*time.Minute))
	rotate(t, s, r3)
	toks, err = s.RefreshTokens(t.Context(), "fam-1")
	must(t, "RefreshTokens", err)
	if !r3.Rotated || len(toks) != 3 || !toks[1].UsedAt.IsZero() || !sameTime(toks[1].RetiredAt, r3.Next.IssuedAt) || toks[2].Retired() {
		t.Errorf("replacing an unused successor: rotated %v, tokens %+v", r3.Rotated, toks)
	}
}

// Two rotations of one family from one generation in one call: the
// first wins; from several generations, the one from the current.
func testRefreshRotateOnce(t *testing.T, s RefreshStore) {
	f, tok := newFamily("fam-1", t0)
	createFamily(t, s, f, tok)
	g, gtok := newFamily("fam-2", t0)
	createFamily(t, s, g, gtok)
	a, b, c := rotation("fam-1", 1, true, t0.Add(time.Second)), rotation("fam-1", 1, true, t0.Add(time.Second)), rotation("fam-2", 1, true, t0.Add(time.Second))
	b.Next.Hash = refreshHash("second")
	rotate(t, s, a, b, c)
	if !a.Rotated || b.Rotated || !c.Rotated {
		t.Errorf("rotated: first %v, second of the same family %v, another family %v; want true, false, true", a.Rotated, b.Rotated, c.Rotated)
	}
	if got, _ := s.RefreshFamily(t.Context(), "fam-1"); got == nil || got.Current != 2 {
		t.Errorf("family after two rotations from one generation: %+v, want Current 2", got)
	}
	// Rotations of one family from different generations in one call:
	// the one from where the family is wins, whichever comes first, and
	// the other writes nothing.
	stale, fresh, ahead := rotation("fam-1", 1, true, t0.Add(2*time.Second)), rotation("fam-1", 2, true, t0.Add(2*time.Second)), rotation("fam-1", 3, true, t0.Add(2*time.Second))
	stale.Next.Hash, ahead.Next.Hash = refreshHash("stale"), refreshHash("ahead")
	rotate(t, s, stale, fresh, ahead)
	if stale.Rotated || !fresh.Rotated || ahead.Rotated {
		t.Errorf("rotated: stale %v, fresh %v, ahead %v; want false, true, false", stale.Rotated, fresh.Rotated, ahead.Rotated)
	}
	for _, r := range []*mayfly.RefreshRotation{stale, ahead} {
		if _, _, err := lookup(t, s, r.Next); !errors.Is(err, mayfly.ErrNotFound) {
			t.Errorf("successor of a rotation that lost: got error %v, want not found", err)
		}
	}
	if got, _ := s.RefreshFamily(t.Context(), "fam-1"); got == nil || got.Current != 3 {
		t.Errorf("family after rotations from three generations: %+v, want Current 3", got)
	}
}

// Transactions rotating one family from one generation at once: exactly
// one wins.
func testRefreshRotateRaces(t *testing.T, s RefreshStore) {
	f, tok := newFamily("fam-1", t0)
	createFamily(t, s, f, tok)
	const n = 8
	rs := make([]*mayfly.RefreshRotation, n)
	var wg sync.WaitGroup
	for i := range rs {
		rs[i] = rotation("fam-1", 1, true, t0.Add(time.Second))
		rs[i].Next.Hash = refreshHash("racer " + string(rune('a'+i)))
		wg.Go(func() {
			if err := commit(t, s, func(tx mayfly.Tx) error { return s.RotateRefresh(tx, rs[i:i+1]) }); err != nil {
				t.Errorf("RotateRefresh: %v", err)
			}
		})
	}
	wg.Wait()
	won := 0
	for _, r := range rs {
		if r.Rotated {
			won++
		}
	}
	toks, err := s.RefreshTokens(t.Context(), "fam-1")
	must(t, "RefreshTokens", err)
	if won != 1 || len(toks) != 2 {
		t.Errorf("%d racing rotations: %d won, %d tokens stored; want 1 and 2", n, won, len(toks))
	}
}

func testRefreshRevoke(t *testing.T, s RefreshStore) {
	f, tok := newFamily("fam-1", t0)
	createFamily(t, s, f, tok)
	at := t0.Add(time.Hour + fine)
	var first, second bool
	must(t, "RevokeRefreshFamily", commit(t, s, func(tx mayfly.Tx) (err error) {
		first, err = s.RevokeRefreshFamily(tx, "fam-1", at, "reused")
		return err
	}))
	must(t, "RevokeRefreshFamily again", commit(t, s, func(tx mayfly.Tx) (err error) {
		second, err = s.RevokeRefreshFamily(tx, "fam-1", at.Add(time.Hour), "again")
		return err
	}))
	got, err := s.RefreshFamily(t.Context(), "fam-1")
	must(t, "RefreshFamily", err)
	if !first || second || !sameTime(got.RevokedAt, at) || got.Reason != "reused" {
		t.Errorf("revoked twice: reported %v then %v, family revoked at %v for %q; want true, false, %v, \"reused\"",
			first, second, fmtTime(got.RevokedAt), got.Reason, fmtTime(at))
	}
	r := rotation("fam-1", 1, true, at)
	rotate(t, s, r)
	if r.Rotated {
		t.Error("rotation of a revoked family: rotated")
	}
}

func testRefreshPrune(t *testing.T, s RefreshStore) {
	old, oldTok := newFamily("fam-old", t0)
	old.ExpiresAt = t0.Add(time.Hour)
	createFamily(t, s, old, oldTok)
	live, liveTok := newFamily("fam-live", t0)
	createFamily(t, s, live, liveTok)
	n, err := s.PruneRefresh(t.Context(), t0.Add(2*time.Hour))
	must(t, "PruneRefresh", err)
	if n != 1 {
		t.Errorf("PruneRefresh: got %d, want 1", n)
	}
	if _, _, err := lookup(t, s, oldTok); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("token of a pruned family: got error %v, want not found", err)
	}
	if toks, err := s.RefreshTokens(t.Context(), old.ID); err != nil || len(toks) != 0 {
		t.Errorf("tokens of a pruned family: %d left (%v), want none", len(toks), err)
	}
	if _, _, err := lookup(t, s, liveTok); err != nil {
		t.Errorf("token of a live family: %v", err)
	}
}

// RefreshBeforeMigration is a family and its two tokens, the first
// retired, as a test writes them into a store before migration 18 keyed
// refresh tokens by family and generation.
func RefreshBeforeMigration() (*mayfly.RefreshFamily, []*mayfly.RefreshToken) {
	f, first := newFamily("rf_migrated", t0)
	f.Current, f.LastUsed = 2, t0.Add(time.Minute)
	first.UsedAt, first.UsedFrom, first.RetiredAt = t0.Add(time.Minute), "198.51.100.7", t0.Add(time.Minute)
	second := &mayfly.RefreshToken{Hash: refreshHash(f.ID + "/2"), FamilyID: f.ID, Generation: 2, IssuedAt: t0.Add(time.Minute), Source: "198.51.100.7"}
	return f, []*mayfly.RefreshToken{first, second}
}

// RefreshMigrated checks that RefreshBeforeMigration's rows read back as
// they were written, each found by its family, generation and hash, and
// that the family rotates on.
func RefreshMigrated(t *testing.T, s RefreshStore) {
	t.Helper()
	f, want := RefreshBeforeMigration()
	got, err := s.RefreshTokens(t.Context(), f.ID)
	must(t, "RefreshTokens", err)
	if len(got) != len(want) {
		t.Fatalf("RefreshTokens after the migration: %d tokens, want %d", len(got), len(want))
	}
	for i, w := range want {
		diffRefresh(got[i], w).report(t, "token after the migration")
		tok, fam, err := lookup(t, s, w)
		must(t, "RefreshToken", err)
		diffRefresh(tok, w).report(t, "token found after the migration")
		diffFamily(fam, f).report(t, "family found after the migration")
	}
	r := rotation(f.ID, 2, true, t0.Add(time.Hour))
	rotate(t, s, r)
	if !r.Rotated {
		t.Error("a migrated family did not rotate")
	}
}
