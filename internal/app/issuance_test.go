package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// TestIssuanceRetentionTooShort: a retention the ledger's roll-ups could
// outlive is refused at start, naming the floor.
func TestIssuanceRetentionTooShort(t *testing.T) {
	cfg := apptest.Config(t, t.TempDir(), apptest.NewClock(apptest.Epoch), &apptest.LogBuffer{})
	cfg.IssuanceRetention = 6 * 24 * time.Hour
	a, err := app.New(context.Background(), cfg)
	if err == nil {
		a.Close()
		t.Fatal("app.New with a 6-day issuance retention: no error")
	}
	if !errors.Is(err, mayfly.ErrInvalid) {
		t.Errorf("app.New with a 6-day issuance retention: %v, want an invalid-input error", err)
	}
}

// TestIssuanceRetention: the background schedule deletes the issuance
// records of whole days past retention, records each deletion in the audit
// log with the digest of what it deleted, and keeps the rest, still found
// by jti.
func TestIssuanceRetention(t *testing.T) {
	ctx := context.Background()
	keep := 10 * 24 * time.Hour
	e := apptest.New(t, func(c *app.Config) { c.IssuanceRetention = keep })
	c, _ := e.NewClient(identity.ClientSpec{Owner: e.Human("alice")})
	old := e.Issue(c)
	e.Clock.Advance(24 * time.Hour)
	kept := e.Issue(c)
	st := e.App.Store()
	pruned := func() []mayfly.AuditEntry {
		t.Helper()
		recs, err := st.AuditEntries(ctx, mayfly.AuditFilter{Action: mayfly.ActionIssuancesPruned})
		if err != nil {
			t.Fatal(err)
		}
		var out []mayfly.AuditEntry
		for _, r := range recs {
			if r.Entry.Details["count"] != "0" { // a store may drop empty days
				out = append(out, r.Entry)
			}
		}
		return out
	}
	// The first token's day ends within the retention: nothing goes.
	e.Clock.Advance(keep - 24*time.Hour)
	if err := e.App.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pruned(); len(got) != 0 {
		t.Fatalf("pruned within retention: %v", got)
	}
	// Its day has now ended more than the retention ago.
	e.Clock.Advance(24 * time.Hour)
	if err := e.App.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Issuances(ctx, mayfly.IssuanceFilter{JTI: old.JTI})
	if err != nil || len(recs) != 0 {
		t.Errorf("the old token's record after retention: %v, %v; want none", recs, err)
	}
	recs, err = st.Issuances(ctx, mayfly.IssuanceFilter{JTI: kept.JTI})
	if err != nil || len(recs) != 1 {
		t.Fatalf("the newer token's record: %v, %v; want it", recs, err)
	}
	got := pruned()
	if len(got) != 1 {
		t.Fatalf("pruned entries: %v, want one", got)
	}
	// The digest an archive of the day is checked against: the token's
	// digest as every service computes it.
	dg, err := canon.Digest(old.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(old.JTI + " " + dg + "\n"))
	d := got[0].Details
	want := map[string]string{"count": "1", "first_jti": old.JTI, "last_jti": old.JTI, "sha256": hex.EncodeToString(sum[:])}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("the deletion's entry: %s = %q, want %q (entry %v)", k, d[k], v, d)
		}
	}
	if n, _ := strconv.Atoi(d["count"]); n != 1 || got[0].Actor != "mayfly" {
		t.Errorf("the deletion's entry: %+v", got[0])
	}
}
