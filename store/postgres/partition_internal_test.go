package postgres

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// testUpdater runs each update in a transaction of its own, keeping what
// it records.
type testUpdater struct {
	s       *Store
	entries []mayfly.AuditEntry
}

type testTx struct {
	b       mayfly.BackendTx
	entries []mayfly.AuditEntry
}

func (t *testTx) Audit(e mayfly.AuditEntry) (uint64, error) {
	t.entries = append(t.entries, e)
	return 0, nil
}
func (t *testTx) AfterCommit(func())        {}
func (t *testTx) Backend() mayfly.BackendTx { return t.b }

func (u *testUpdater) Update(ctx context.Context, fn func(mayfly.Tx) error) error {
	b, err := u.s.Begin(ctx)
	if err != nil {
		return err
	}
	tx := &testTx{b: b}
	if err := fn(tx); err != nil {
		b.Rollback()
		return err
	}
	if err := b.Commit(); err != nil {
		return err
	}
	u.entries = append(u.entries, tx.entries...)
	return nil
}

// TestIssuanceDays: records of a day without a partition wait in the
// default partition, move into their day's when it is made, and the day is
// then dropped whole, its table gone.
func TestIssuanceDays(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func(table string) int {
		t.Helper()
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		return n
	}
	at := time.Date(2030, 7, 8, 9, 10, 11, 0, time.UTC)
	now := at
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
		if err := s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn", Name: "prn", Kind: mayfly.Service, Status: mayfly.Active, CreatedAt: now}); err != nil {
			return err
		}
		if err := s.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}); err != nil {
			return err
		}
		if err := s.SaveKeys(tx, []*mayfly.Key{{KID: "k", Ring: "r", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: now, ActivateAt: now, DeactivateAt: now, RetireAt: now}}); err != nil {
			return err
		}
		if err := s.CreateClient(tx, &mayfly.Client{ID: "c", Name: "c", OwnerID: "prn", Ring: "r", TokenTTL: time.Minute, CreatedAt: now}); err != nil {
			return err
		}
		var recs []mayfly.Issuance
		for i := range 3 {
			jti, err := mayfly.NewJTI(at.Add(time.Duration(i)*time.Second), rand.Reader)
			if err != nil {
				return err
			}
			recs = append(recs, mayfly.Issuance{JTI: jti, KID: "k", ClientID: "c", PrincipalID: "prn", IssuedAt: at.Add(time.Duration(i) * time.Second), ExpiresAt: at.Add(time.Hour)})
		}
		return s.RecordIssuances(tx, recs)
	}))
	if n := count("issuances_default"); n != 3 {
		t.Fatalf("the default partition holds %d records of a day without a partition, want 3", n)
	}
	up := &testUpdater{s: s}
	record := func(tx mayfly.Tx, p mayfly.IssuancesPruned) error {
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionIssuancesPruned, Details: p.Details()})
		return err
	}
	day := at.Truncate(24 * time.Hour)
	// Making room for the day moves its records out of the default.
	p, err := s.PruneIssuances(ctx, up, mayfly.IssuancePrune{Before: time.Unix(0, 0), Now: day, Batch: 10, Record: record})
	if err != nil || p != (mayfly.IssuancesPruned{}) {
		t.Fatalf("PruneIssuances before 1970: %+v, %v; want nothing", p, err)
	}
	if d, n := count("issuances_default"), count("issuances_20300708"); d != 0 || n != 3 {
		t.Fatalf("after making the day's partition: %d records in the default, %d in the day's; want 0 and 3", d, n)
	}
	for {
		p, err = s.PruneIssuances(ctx, up, mayfly.IssuancePrune{Before: day.Add(24 * time.Hour), Now: day, Batch: 1, Record: record})
		if err != nil {
			t.Fatal(err)
		}
		if p.Day.Equal(day) || p == (mayfly.IssuancesPruned{}) {
			break
		}
	}
	if !p.Day.Equal(day) || p.Count != 3 {
		t.Fatalf("pruning the day: %+v, want the day %v dropped whole with its 3 records", p, day)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('issuances_20300708') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("the day's table after it was dropped: exists %v, %v", exists, err)
	}
	last := up.entries[len(up.entries)-1]
	if last.Details["day"] != "2030-07-08" || last.Details["count"] != "3" || last.Details["sha256"] != p.SHA256 {
		t.Errorf("the drop's entry: %v", last.Details)
	}
}
