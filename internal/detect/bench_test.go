package detect_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/identity"
)

// benchTx is a transaction that nothing is written through: benign
// traffic raises nothing, so Detect's own cost is what is measured.
type benchTx struct{}

func (benchTx) Audit(mayfly.AuditEntry) (uint64, error) { return 0, mayfly.ErrNoAudit }
func (benchTx) AfterCommit(fn func())                   { fn() }
func (benchTx) Backend() mayfly.BackendTx               { return nil }

// BenchmarkDetect runs every rule, at its defaults but a minute's learning
// for bulk-read (so that its limits hold for most of the run), over benign reports of
// 10 record IDs each: 100 tokens of 100 clients of 100 people, 20
// services, 1,000 source addresses, each client reading among 5,000 of
// 1,000,000 customers; 1,000 reports per call as the ingest hands them
// over, a thousand a second of report time.
func BenchmarkDetect(b *testing.B) {
	env := apptest.New(b)
	r := newRaiser()
	e, err := detect.New(detect.Config{BulkLearning: time.Minute}, detect.Deps{Raiser: r, Tokens: env.App.Store(), Identity: env.App.Identity,
		Keys: env.App.Keys, Revoker: env.App.Revoker, Clock: env.Clock})
	if err != nil {
		b.Fatal(err)
	}
	var reports []mayfly.LedgerReport
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		c, _ := env.NewClient(identity.ClientSpec{Name: fmt.Sprintf("svc-%d", i), Owner: env.Human(fmt.Sprintf("owner-%d", i))})
		tok := env.Issue(c)
		recs, err := env.App.Store().Issuances(context.Background(), mayfly.IssuanceFilter{JTI: tok.JTI})
		if err != nil || len(recs) != 1 {
			b.Fatal(err)
		}
		rec := recs[0]
		for j := range 10 {
			ids := make([]uint64, 10)
			reports = append(reports, mayfly.LedgerReport{Service: fmt.Sprintf("service-%d", (i+j)%20),
				SourceIP: netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j)}), Method: "GET", Route: "/customers/{id}",
				Records: map[string][]uint64{"customer": ids}, JTI: rec.JTI, KID: rec.KID, ClientID: rec.ClientID, Subject: rec.ClientID,
				IssuedAt: rec.IssuedAt, Expires: rec.ExpiresAt, Digest: rec.Digest})
		}
	}
	ctx := context.Background()
	start := env.Clock.Now()
	const batch = 1000
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		// A thousand reports a second: windows slide as they would.
		at := start.Add(time.Duration(n) * time.Millisecond)
		for i := range reports {
			reports[i].Time = at
			ids := reports[i].Records["customer"]
			for k := range ids {
				ids[k] = uint64(i/10)*10000 + rng.Uint64N(5000)
			}
		}
		if err := e.Detect(ctx, benchTx{}, reports[:min(batch, b.N-n)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if len(r.signals) > 0 {
		b.Fatalf("benign traffic fired %+v", r.signals[0])
	}
}
