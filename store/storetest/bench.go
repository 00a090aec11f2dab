package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// BenchRecordIssuances measures RecordIssuances of batch records at a
// time, each batch in a transaction of its own, on s, a new and empty
// store: the benchmark both backends run, so that their figures compare.
func BenchRecordIssuances(b *testing.B, s TokenStore, batch int) {
	ctx := context.Background()
	now := time.Now()
	err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
		return errors.Join(
			s.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}),
			s.SaveKeys(tx, []*mayfly.Key{{KID: "k", Ring: "r", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: now, ActivateAt: now, DeactivateAt: now, RetireAt: now}}),
			s.CreatePrincipal(tx, &mayfly.Principal{ID: "p", Name: "p", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: now}),
			s.CreateClient(tx, &mayfly.Client{ID: "c", Name: "c", OwnerID: "p", Ring: "r", CreatedAt: now}))
	})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]mayfly.Issuance, batch)
	record := func(tx mayfly.Tx) error { return s.RecordIssuances(tx, recs) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			recs[j] = mayfly.Issuance{JTI: fmt.Sprintf("jti-%d-%d", i, j), KID: "k", ClientID: "c", PrincipalID: "p",
				SourceIP: "127.0.0.1", UserAgent: "bench", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
		}
		if err := mayfly.Transact(ctx, s, record); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
