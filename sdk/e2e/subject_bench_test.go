package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// BenchmarkNamespaceRevoke measures "log everyone out": each op is one
// `subject revoke --namespace customer --before now` through the admin API,
// with MAYFLY_BENCH_ISSUED (default 10,000,000) live customer tokens'
// issuance records in the store, and MAYFLY_BENCH_VERIFIERS (default 1,000)
// SDK verifiers on the revocation stream, each holding a customer token it
// has accepted. It reports the time to the call's acknowledgement and, from
// then, until each verifier has applied the mark, then checks that every
// verifier rejects its token. Timings are printed, never asserted. The
// setup is long, so one run makes MAYFLY_BENCH_REVOCATIONS (default 20)
// revocations, and -benchtime 1x keeps the testing package from running
// it twice.
//
//	go test ./sdk/e2e -run '^$' -bench NamespaceRevoke -benchtime 1x -timeout 1h
func BenchmarkNamespaceRevoke(b *testing.B) {
	issued, n := envInt(b, "MAYFLY_BENCH_ISSUED", 10_000_000), envInt(b, "MAYFLY_BENCH_VERIFIERS", 1000)
	rounds := max(envInt(b, "MAYFLY_BENCH_REVOCATIONS", 20), 1)
	env := servertest.New(b)
	ctx := context.Background()
	login, _ := env.NewClient(api.ClientRequest{Name: "login", Owner: env.Human("lena"), Exchange: []string{"customer"}, Audiences: []string{audience},
		JWKS: json.RawMessage(tokentest.LoginJWKS), TokenEndpointAuthMethod: "client_secret_basic"})
	orders, ordersSecret := env.NewClient(api.ClientRequest{Name: "orders", Owner: env.Human("olga"), Audiences: []string{audience}})

	// The records of the live tokens, as the token endpoint leaves them.
	start := time.Now()
	kid := env.Server.Keys.Keys("default")[0].KID
	st := env.Server.Store()
	now := env.Clock.Now()
	const batch = 50_000
	for done := 0; done < issued; {
		recs := make([]mayfly.Issuance, min(batch, issued-done))
		for i := range recs {
			jti, err := mayfly.NewJTI(now.Add(-time.Duration(issued-done-i)*time.Microsecond), rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = mayfly.Issuance{JTI: jti, KID: kid, ClientID: login.ID, PrincipalID: login.OwnerID,
				Subject: "customer:" + strconv.Itoa(done+i), Actor: login.ID, SourceIP: "10.0.0.1",
				IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
		}
		if err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error { return st.RecordIssuances(tx, recs) }); err != nil {
			b.Fatal(err)
		}
		done += len(recs)
	}
	b.Logf("%d issuance records of live customer tokens loaded in %s", issued, time.Since(start).Round(time.Millisecond))

	// The verifiers, each its own stream connection.
	vs := make([]*sdk.Verifier, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range vs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := sdk.New(ctx, sdk.Config{Issuer: env.URL, Audience: audience, ClientID: orders.ID, ClientSecret: ordersSecret, Clock: env.Clock.Now})
			if err != nil {
				b.Error(err)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := v.WaitReady(wctx); err != nil {
				b.Error(err)
			}
			vs[i] = v
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	defer func() {
		for _, v := range vs {
			v.Close()
		}
	}()

	var acks, lat, slowest []time.Duration
	toks := make([]string, n)
	b.ResetTimer()
	for op := range rounds {
		b.StopTimer()
		for i := range toks {
			toks[i] = customerToken(b, env, login, fmt.Sprintf("customer:%d", (op*n+i)%max(issued, 1)))
			if _, err := vs[i].Verify(ctx, toks[i]); err != nil {
				b.Fatalf("verifier %d refuses a live customer token: %v", i, err)
			}
		}
		env.Clock.Advance(time.Millisecond) // every token held was issued before the mark
		b.StartTimer()
		t0 := time.Now()
		rev, err := env.Admin.RevokeNamespace(ctx, api.NamespaceRevokeRequest{Namespace: "customer", Reason: "benchmark"})
		if err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		acks = append(acks, acked.Sub(t0))
		got := make([]time.Duration, n)
		for i, v := range vs {
			wg.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				got[i] = -1
				if v.WaitSeq(wctx, rev.Seq) == nil {
					got[i] = time.Since(acked)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		for i, d := range got {
			if d < 0 {
				b.Fatalf("verifier %d did not hear of revocation %d within 10 s", i, rev.Seq)
			}
			if _, err := vs[i].Verify(ctx, toks[i]); err == nil {
				b.Fatalf("verifier %d accepts a customer token issued before the mark", i)
			}
		}
		lat = append(lat, got...)
		slowest = append(slowest, slices.Max(got))
		b.StartTimer()
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(acks, .5), "ack-p50-ms")
	b.ReportMetric(pct(acks, 1), "ack-max-ms")
	b.ReportMetric(pct(lat, .5), "reject-p50-ms")
	b.ReportMetric(pct(lat, .99), "reject-p99-ms")
	b.ReportMetric(pct(lat, 1), "reject-max-ms")
	b.ReportMetric(pct(slowest, .99), "slowest-verifier-p99-ms")
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q is not a count", name, v)
	}
	return n
}
