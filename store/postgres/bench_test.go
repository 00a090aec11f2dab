package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

func BenchmarkRecordIssuances(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchRecordIssuances(b, batch)
		})
	}
}

func benchRecordIssuances(b *testing.B, batch int) {
	ctx := context.Background()
	s := open(b, pgtest.DSN(b))
	now := time.Now()
	must(b, s.CreateRing(ctx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}))
	must(b, s.SaveKeys(ctx, []*mayfly.Key{{KID: "k", Ring: "r", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: now, ActivateAt: now, DeactivateAt: now, RetireAt: now}}))
	must(b, s.CreatePrincipal(ctx, &mayfly.Principal{ID: "p", Name: "p", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: now}))
	must(b, s.CreateClient(ctx, &mayfly.Client{ID: "c", Name: "c", OwnerID: "p", Ring: "r", CreatedAt: now}))
	recs := make([]mayfly.Issuance, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			recs[j] = mayfly.Issuance{JTI: fmt.Sprintf("jti-%d-%d", i, j), KID: "k", ClientID: "c", PrincipalID: "p", SourceIP: "127.0.0.1", UserAgent: "bench", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
		}
		must(b, s.RecordIssuances(ctx, recs))
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
