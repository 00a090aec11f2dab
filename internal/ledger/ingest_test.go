package ledger_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
)

// TestIngestTwoProcesses runs two ingests on one store, as two replicas
// would: one accepts batches, the other recovers them from the journal
// while the first still holds them in memory. Whichever merges a batch,
// the ledger counts it once.
func TestIngestTwoProcesses(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	newIngest := func() *ledger.Ingest {
		in, err := ledger.NewIngest(ledger.IngestConfig{Store: st, Window: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	a := newIngest()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const batches = 40
	t0 := time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)
	for i := range batches {
		rep := mayfly.LedgerReport{Time: t0, Service: "orders", SourceIP: netip.MustParseAddr("10.0.0.1"), JTI: "jti-shared",
			Records: map[string][]uint64{"customer": {uint64(i)}}}
		if _, err := a.Accept(ctx, "orders", []mayfly.LedgerReport{rep}); err != nil {
			t.Fatal(err)
		}
		if i == batches/2 {
			b := newIngest()
			if err := b.Start(ctx); err != nil { // recovers what a holds
				t.Fatal(err)
			}
			defer b.Close()
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := st.LedgerJournalDepth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches still in the journal after 20 s", n)
		}
	}
	a.Close()
	bs, err := st.LedgerBuckets(ctx, mayfly.LedgerFilter{JTI: "jti-shared"})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Requests != batches {
		t.Fatalf("buckets: got %d, requests %v, want one of %d requests", len(bs), fmt.Sprint(requests(bs)), batches)
	}
}

func requests(bs []mayfly.LedgerBucket) []int64 {
	var out []int64
	for _, b := range bs {
		out = append(out, b.Requests)
	}
	return out
}
