package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/store/sqlite"
	"github.com/mayflyhq/mayfly/store/storetest"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mayfly.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLedgerNewRefuses(t *testing.T) {
	st := openStore(t)
	tests := []struct {
		name string
		cfg  ledger.Config
	}{
		{"no roll-after", ledger.Config{Widths: []time.Duration{time.Minute, time.Hour}}},
		{"not a multiple", ledger.Config{Widths: []time.Duration{time.Minute, 90 * time.Second}, RollAfter: []time.Duration{time.Hour}}},
		{"narrowing", ledger.Config{Widths: []time.Duration{time.Hour, time.Minute}, RollAfter: []time.Duration{time.Hour}}},
		{"fraction of a second", ledger.Config{Widths: []time.Duration{time.Millisecond}}},
		{"too wide", ledger.Config{Widths: []time.Duration{2 * mayfly.LedgerMaxWidth}}},
		{"negative roll-after", ledger.Config{Widths: []time.Duration{time.Minute, time.Hour}, RollAfter: []time.Duration{-time.Hour}}},
		{"negative retention", ledger.Config{Retention: -time.Hour}},
		{"by credential from no width", ledger.Config{ByCredential: 2 * time.Hour}},
		{"by credential from the narrowest", ledger.Config{ByCredential: time.Minute}},
	}
	for _, tt := range tests {
		tt.cfg.Store = st
		if _, err := ledger.New(tt.cfg); !errors.Is(err, mayfly.ErrInvalid) {
			t.Errorf("%s: New: got %v, want an Invalid error", tt.name, err)
		}
	}
	if _, err := ledger.New(ledger.Config{Store: st}); err != nil {
		t.Errorf("New with the defaults: %v", err)
	}
}

func TestLedgerCutoff(t *testing.T) {
	s, err := ledger.New(ledger.Config{Store: openStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 5, 6, 7, 8, 9, 10, time.UTC)
	if got, want := s.Cutoff(0, now), time.Date(2031, 5, 6, 5, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("minutes roll at %v, want %v: 2 hours ago, down to the hour", got, want)
	}
	if got, want := s.Cutoff(1, now), time.Date(2031, 5, 4, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("hours roll at %v, want %v: 2 days ago, down to the day", got, want)
	}
	if got, want := s.PruneBefore(now), now.Add(-400*24*time.Hour); !got.Equal(want) {
		t.Errorf("prune before %v, want %v", got, want)
	}
}

// seed merges a minute bucket for each of the given minutes since start,
// each reading the record numbered by its minute and one above 2^32.
func seed(t *testing.T, st *sqlite.Store, start time.Time, minutes int) {
	t.Helper()
	var deltas []mayfly.LedgerBucket
	for m := range minutes {
		b, _ := roaring64.BitmapOf(uint64(m), 1<<40+uint64(m)).ToPortableBytes()
		deltas = append(deltas, mayfly.LedgerBucket{
			Start: start.Add(time.Duration(m) * time.Minute), Width: time.Minute, Namespace: "customer",
			Token: mayfly.LedgerToken{JTI: "jti-1", Digest: "dg-jti-1"}, Records: b, Requests: 1,
		})
	}
	err := mayfly.Transact(t.Context(), st, func(tx mayfly.Tx) error { return st.MergeLedger(tx, deltas) })
	if err != nil {
		t.Fatal(err)
	}
}

// shape returns the number of stored buckets by width, and the records
// and requests they hold in all.
func shape(t *testing.T, st *sqlite.Store) (widths map[time.Duration]int, records uint64, requests int64) {
	t.Helper()
	bs, err := st.LedgerBuckets(t.Context(), mayfly.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	widths = map[time.Duration]int{}
	all := roaring64.New()
	for _, b := range bs {
		widths[b.Width]++
		rb := roaring64.New()
		if err := rb.UnmarshalBinary(b.Records); err != nil {
			t.Fatal(err)
		}
		all.Or(rb)
		requests += b.Requests
	}
	return widths, all.GetCardinality(), requests
}

// TestLedgerMaintain: as the clock moves on, minutes roll into hours and hours
// into days, nothing is lost on the way, and retention deletes it all in
// the end.
func TestLedgerMaintain(t *testing.T) {
	st := openStore(t)
	start := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)
	seed(t, st, start, 3*60) // three hours of minutes
	storetest.IssueTokens(t, st, start, "kid-1", []string{"client-1"}, "jti-1")
	clk := &clock{start.Add(4*time.Hour + 30*time.Minute)}
	s, err := ledger.New(ledger.Config{Store: st, Clock: clk, Batch: 7, Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at     time.Duration // after start
		rolled map[time.Duration]int
		want   map[time.Duration]int // buckets left, by width
	}{
		// Minutes of the first two hours roll: the third hour is under 2
		// hours old.
		{4*time.Hour + 30*time.Minute, map[time.Duration]int{time.Minute: 120}, map[time.Duration]int{time.Minute: 60, time.Hour: 2}},
		// Again at once: nothing to do.
		{4*time.Hour + 30*time.Minute, map[time.Duration]int{}, map[time.Duration]int{time.Minute: 60, time.Hour: 2}},
		// Three days on, all of it is in one day.
		{72 * time.Hour, map[time.Duration]int{time.Minute: 60, time.Hour: 3}, map[time.Duration]int{24 * time.Hour: 1}},
	}
	for i, step := range steps {
		clk.now = start.Add(step.at)
		rep, err := s.Maintain(t.Context())
		if err != nil {
			t.Fatalf("step %d: Maintain: %v", i, err)
		}
		rolled := map[time.Duration]int{}
		for w, n := range rep.Rolled {
			if n != 0 {
				rolled[w] = n
			}
		}
		if fmt.Sprint(rolled) != fmt.Sprint(step.rolled) {
			t.Errorf("step %d: rolled %v, want %v", i, rolled, step.rolled)
		}
		widths, records, requests := shape(t, st)
		if fmt.Sprint(widths) != fmt.Sprint(step.want) || records != 2*180 || requests != 180 {
			t.Errorf("step %d: buckets by width %v, %d records, %d requests; want %v, 360, 180", i, widths, records, requests, step.want)
		}
	}
	// The day is the token's credential's, by default.
	if bs, err := st.LedgerBuckets(t.Context(), mayfly.LedgerFilter{}); err != nil || len(bs) != 1 || !bs[0].Token.IsRollUp() {
		t.Errorf("the day bucket: %+v, %v; want one roll-up bucket", bs, err)
	}
	// Past retention, nothing is left.
	clk.now = start.Add(31 * 24 * time.Hour)
	rep, err := s.Maintain(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if widths, _, _ := shape(t, st); rep.Pruned != 1 || len(widths) != 0 {
		t.Errorf("past retention: pruned %d, left %v; want 1 pruned, none left", rep.Pruned, widths)
	}
}

func TestLedgerMaintainByToken(t *testing.T) {
	st := openStore(t)
	start := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)
	seed(t, st, start, 3*60)
	storetest.IssueTokens(t, st, start, "kid-1", []string{"client-1"}, "jti-1")
	s, err := ledger.New(ledger.Config{Store: st, Clock: &clock{start.Add(72 * time.Hour)}, ByCredential: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	bs, err := st.LedgerBuckets(t.Context(), mayfly.LedgerFilter{})
	if err != nil || len(bs) != 1 || bs[0].Width != 24*time.Hour || bs[0].Token.JTI != "jti-1" {
		t.Errorf("with ByCredential -1, the day bucket: %+v, %v; want jti-1's", bs, err)
	}
}

// cutting is a store that ends a context at its third compaction, as a
// shutdown in the middle of Maintain would.
type cutting struct {
	*sqlite.Store
	calls  int
	cancel func()
}

func (c *cutting) CompactLedger(tx mayfly.Tx, from, to time.Duration, cutoff time.Time, limit int, byCredential bool) (int, error) {
	if c.calls++; c.calls == 3 {
		c.cancel()
	}
	return c.Store.CompactLedger(tx, from, to, cutoff, limit, byCredential)
}

// TestLedgerMaintainCancelled: a Maintain cut short keeps what it committed,
// and the next one finishes the work without counting anything twice.
func TestLedgerMaintainCancelled(t *testing.T) {
	st := openStore(t)
	start := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)
	seed(t, st, start, 60)
	ctx, cancel := context.WithCancel(t.Context())
	cut := &cutting{Store: st, cancel: cancel}
	s, err := ledger.New(ledger.Config{Store: cut, Clock: &clock{start.Add(3 * time.Hour)}, Batch: 5})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Maintain(ctx)
	if err == nil {
		t.Fatalf("Maintain cut short: no error")
	}
	if rep.Rolled[time.Minute] != 10 {
		t.Errorf("Maintain cut short at its third transaction: rolled %v, want the 10 of the two before", rep.Rolled)
	}
	if widths, _, _ := shape(t, st); widths[time.Minute] != 50 {
		t.Errorf("after Maintain was cut short: buckets by width %v, want 50 minutes left", widths)
	}
	if _, err := s.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	widths, records, requests := shape(t, st)
	if fmt.Sprint(widths) != fmt.Sprint(map[time.Duration]int{time.Hour: 1}) || records != 120 || requests != 60 {
		t.Errorf("buckets by width %v, %d records, %d requests; want one hour, 120, 60", widths, records, requests)
	}
}
