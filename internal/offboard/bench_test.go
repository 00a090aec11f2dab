package offboard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/offboard"
)

// BenchmarkOffboard: a person who owns 1,000 clients, was shown 100 other
// secrets, and had custody of three rings; each op offboards one such
// person end to end (every step durable, every action audited).
func BenchmarkOffboard(b *testing.B) {
	const owned, shown, rings = 1000, 100, 3
	env := apptest.New(b)
	ctx := context.Background()
	srv := env.App
	for r := range rings {
		if _, err := srv.Keys.CreateRing(ctx, fmt.Sprintf("ring-%d", r), mayfly.ES256, 24*time.Hour, nil); err != nil {
			b.Fatal(err)
		}
	}
	other, err := srv.Identity.CreatePrincipal(ctx, "other", mayfly.Human, "")
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		p, err := srv.Identity.CreatePrincipal(ctx, fmt.Sprintf("leaver-%d", i), mayfly.Human, "")
		if err != nil {
			b.Fatal(err)
		}
		cred, _, err := srv.Identity.NewCredential(ctx, identity.CredentialSpec{Name: "laptop", Owner: p.ID})
		if err != nil {
			b.Fatal(err)
		}
		as := identity.WithCaller(ctx, cred)
		for range owned {
			if _, _, err := srv.Identity.CreateClient(ctx, identity.ClientSpec{Name: "c", Owner: p.ID}); err != nil {
				b.Fatal(err)
			}
		}
		for range shown {
			if _, _, err := srv.Identity.CreateClient(as, identity.ClientSpec{Name: "seen", Owner: other.ID}); err != nil {
				b.Fatal(err)
			}
		}
		for r := range rings {
			if _, err := srv.Identity.GrantCustody(ctx, p.ID, mayfly.AssetRing, fmt.Sprintf("ring-%d", r), mayfly.CustodyAdmin, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		env.Clock.Advance(time.Second)
		b.StartTimer()
		start := time.Now()
		o, err := srv.Offboard.Offboard(ctx, p.ID, offboard.Options{Reason: "bench"})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(o.Actions); n < owned+shown+rings {
			b.Fatalf("%d actions; want at least %d", n, owned+shown+rings)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/offboarding")
}
