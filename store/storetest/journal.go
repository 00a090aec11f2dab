package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// LedgerJournal runs the suite of the ledger journal's methods of
// mayfly.LedgerStore.
func LedgerJournal(t *testing.T, open func(t *testing.T) LedgerStore) {
	t.Helper()
	run(t, open, []test[LedgerStore]{
		{"RoundTrip", testJournalRoundTrip},
		{"Claim", testJournalClaim},
		{"RolledBack", testJournalRolledBack},
		{"Invalid", testJournalInvalid},
	})
}

// LedgerJournalShared runs the journal's checks that need two handles on
// one database (see LedgerShared).
func LedgerJournalShared(t *testing.T, open func(t *testing.T) (LedgerStore, LedgerStore)) {
	t.Helper()
	t.Run("ConcurrentClaims", func(t *testing.T) {
		a, b := open(t)
		testJournalConcurrentClaims(t, a, b)
	})
}

func journalBatch(i int) *mayfly.LedgerBatch {
	return &mayfly.LedgerBatch{Received: t0.Add(time.Duration(i) * time.Second), Service: "orders", Body: fmt.Appendf(nil, `[{"n":%d}]`, i)}
}

func appendBatches(t *testing.T, s LedgerStore, n int) []*mayfly.LedgerBatch {
	t.Helper()
	bs := make([]*mayfly.LedgerBatch, n)
	for i := range bs {
		bs[i] = journalBatch(i)
	}
	must(t, "AppendLedgerBatches", commit(t, s, func(tx mayfly.Tx) error { return s.AppendLedgerBatches(tx, bs) }))
	return bs
}

func journalIDs(t *testing.T, s LedgerStore) []int64 {
	t.Helper()
	all, err := s.LedgerJournal(t.Context(), 0, 1000)
	must(t, "LedgerJournal", err)
	var ids []int64
	for _, b := range all {
		ids = append(ids, b.ID)
	}
	return ids
}

func testJournalRoundTrip(t *testing.T, s LedgerStore) {
	bs := appendBatches(t, s, 3)
	for i := 1; i < len(bs); i++ {
		if bs[i].ID <= bs[i-1].ID {
			t.Fatalf("IDs %d then %d: want increasing", bs[i-1].ID, bs[i].ID)
		}
	}
	got, err := s.LedgerJournal(t.Context(), 0, 10)
	must(t, "LedgerJournal", err)
	if len(got) != 3 {
		t.Fatalf("LedgerJournal: got %d batches, want 3", len(got))
	}
	for i, g := range got {
		w := bs[i]
		if g.ID != w.ID || !g.Received.Equal(w.Received) || g.Service != w.Service || string(g.Body) != string(w.Body) || g.Seen {
			t.Errorf("batch %d: got %+v, want %+v", i, g, w)
		}
	}
	if page, _ := s.LedgerJournal(t.Context(), bs[0].ID, 1); len(page) != 1 || page[0].ID != bs[1].ID {
		t.Errorf("LedgerJournal after the first, limit 1: got %v, want batch %d", page, bs[1].ID)
	}
	if n, err := s.LedgerJournalDepth(t.Context()); err != nil || n != 3 {
		t.Errorf("LedgerJournalDepth: got %d, %v, want 3", n, err)
	}
	must(t, "MarkLedgerBatchesSeen", commit(t, s, func(tx mayfly.Tx) error { return s.MarkLedgerBatchesSeen(tx, []int64{bs[1].ID}) }))
	got, _ = s.LedgerJournal(t.Context(), 0, 10)
	if got[0].Seen || !got[1].Seen || got[2].Seen {
		t.Errorf("after marking the second seen: seen %v %v %v, want false true false", got[0].Seen, got[1].Seen, got[2].Seen)
	}
	must(t, "DeleteLedgerBatches", commit(t, s, func(tx mayfly.Tx) error { return s.DeleteLedgerBatches(tx, []int64{bs[0].ID, bs[2].ID}) }))
	if ids := journalIDs(t, s); !slices.Equal(ids, []int64{bs[1].ID}) {
		t.Errorf("after deleting the first and last: got %v, want [%d]", ids, bs[1].ID)
	}
	// An ID is never reused, even once the highest is deleted.
	must(t, "DeleteLedgerBatches", commit(t, s, func(tx mayfly.Tx) error { return s.DeleteLedgerBatches(tx, []int64{bs[1].ID}) }))
	next := appendBatches(t, s, 1)
	if next[0].ID <= bs[2].ID {
		t.Errorf("a batch appended after the journal emptied has ID %d, want above %d", next[0].ID, bs[2].ID)
	}
}

func testJournalClaim(t *testing.T, s LedgerStore) {
	bs := appendBatches(t, s, 4)
	ids := []int64{bs[3].ID, bs[0].ID, bs[1].ID, bs[2].ID, bs[3].ID + 1000}
	must(t, "MarkLedgerBatchesSeen", commit(t, s, func(tx mayfly.Tx) error { return s.MarkLedgerBatchesSeen(tx, []int64{bs[1].ID}) }))
	must(t, "DeleteLedgerBatches", commit(t, s, func(tx mayfly.Tx) error { return s.DeleteLedgerBatches(tx, []int64{bs[2].ID}) }))
	var unseen, all []int64
	must(t, "ClaimLedgerBatches", commit(t, s, func(tx mayfly.Tx) (err error) {
		if unseen, err = s.ClaimLedgerBatches(tx, ids, true); err != nil {
			return err
		}
		all, err = s.ClaimLedgerBatches(tx, ids, false)
		return err
	}))
	if want := []int64{bs[0].ID, bs[3].ID}; !slices.Equal(unseen, want) {
		t.Errorf("claiming the unseen: got %v, want %v (a seen, a deleted and a missing one passed over)", unseen, want)
	}
	if want := []int64{bs[0].ID, bs[1].ID, bs[3].ID}; !slices.Equal(all, want) {
		t.Errorf("claiming any: got %v, want %v", all, want)
	}
	// Many IDs, beyond one statement's share.
	many := appendBatches(t, s, 1200)
	var mids []int64
	for _, b := range many {
		mids = append(mids, b.ID)
	}
	must(t, "ClaimLedgerBatches", commit(t, s, func(tx mayfly.Tx) (err error) {
		got, err := s.ClaimLedgerBatches(tx, mids, true)
		if len(got) != len(mids) {
			t.Errorf("claiming %d: got %d", len(mids), len(got))
		}
		if err == nil {
			err = s.DeleteLedgerBatches(tx, got)
		}
		return err
	}))
	if n, _ := s.LedgerJournalDepth(t.Context()); n != 3 {
		t.Errorf("after deleting the 1,200: depth %d, want 3", n)
	}
}

func testJournalRolledBack(t *testing.T, s LedgerStore) {
	bs := appendBatches(t, s, 2)
	ids := []int64{bs[0].ID, bs[1].ID}
	errUndo := errors.New("undo")
	err := commit(t, s, func(tx mayfly.Tx) error {
		must(t, "MarkLedgerBatchesSeen", s.MarkLedgerBatchesSeen(tx, ids))
		must(t, "DeleteLedgerBatches", s.DeleteLedgerBatches(tx, ids[:1]))
		return errUndo
	})
	if !errors.Is(err, errUndo) {
		t.Fatalf("a transaction that failed: got %v, want its error", err)
	}
	got, _ := s.LedgerJournal(t.Context(), 0, 10)
	if len(got) != 2 || got[0].Seen || got[1].Seen {
		t.Errorf("after a rolled-back mark and delete: got %d batches (%v), want both, unseen", len(got), got)
	}
	_ = commit(t, s, func(tx mayfly.Tx) error {
		must(t, "AppendLedgerBatches", s.AppendLedgerBatches(tx, []*mayfly.LedgerBatch{journalBatch(9)}))
		return errUndo
	})
	if n, _ := s.LedgerJournalDepth(t.Context()); n != 2 {
		t.Errorf("after a rolled-back append: depth %d, want 2", n)
	}
}

func testJournalInvalid(t *testing.T, s LedgerStore) {
	for _, b := range []*mayfly.LedgerBatch{
		{Received: t0, Body: []byte("x")},
		{Received: t0, Service: "orders"},
		{Service: "orders", Body: []byte("x")},
	} {
		err := commit(t, s, func(tx mayfly.Tx) error { return s.AppendLedgerBatches(tx, []*mayfly.LedgerBatch{b}) })
		if mayfly.ErrorCode(err) != mayfly.Invalid {
			t.Errorf("AppendLedgerBatches(%+v): got %v, want Invalid", b, err)
		}
	}
}

// testJournalConcurrentClaims claims one set of batches from many
// transactions on two handles at once: each batch is claimed, and
// deleted, by exactly one.
func testJournalConcurrentClaims(t *testing.T, a, b LedgerStore) {
	bs := appendBatches(t, a, 200)
	ids := make([]int64, len(bs))
	for i, bt := range bs {
		ids[i] = bt.ID
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := []LedgerStore{a, b}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var got []int64
				err := mayfly.Transact(t.Context(), s, func(tx mayfly.Tx) (err error) {
					if got, err = s.ClaimLedgerBatches(tx, ids[:min(len(ids), 20+w*10)], false); err != nil || len(got) == 0 {
						return err
					}
					return s.DeleteLedgerBatches(tx, got)
				})
				if err != nil {
					t.Errorf("claim and delete: %v", err)
					return
				}
				if len(got) == 0 {
					if n, _ := s.LedgerJournalDepth(t.Context()); n == 0 {
						return
					}
					// What is left lies beyond this worker's share.
					got = nil
					err := mayfly.Transact(t.Context(), s, func(tx mayfly.Tx) (err error) {
						if got, err = s.ClaimLedgerBatches(tx, ids, false); err != nil || len(got) == 0 {
							return err
						}
						return s.DeleteLedgerBatches(tx, got)
					})
					if err != nil {
						t.Errorf("claim and delete: %v", err)
						return
					}
				}
				mu.Lock()
				for _, id := range got {
					claimed[id]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if claimed[id] != 1 {
			t.Errorf("batch %d claimed %d times, want once", id, claimed[id])
		}
	}
}
