package sdk_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/dpop"
)

// benchVerifier returns a verifier, with a cache of cacheSize tokens (see
// Config.CacheSize), and a token signed by a key of alg that it has
// verified once.
func benchVerifier(b *testing.B, alg string, cacheSize int) (*sdk.Verifier, string) {
	e := newEnv(b, func(c *sdk.Config) { c.Logger, c.CacheSize = nil, cacheSize })
	e.ready()
	if alg != "ES256" {
		e.iss.RotateKey(alg)
		e.advance(10 * time.Second)
	}
	raw := e.iss.Token(nil)
	if _, err := e.v.Verify(context.Background(), raw); err != nil {
		b.Fatal(err)
	}
	return e.v, raw
}

// BenchmarkVerifyCached is a token seen before: a map lookup, then the
// checks that always run (freshness, exp, nbf, key, revocations).
func BenchmarkVerifyCached(b *testing.B) {
	v, raw := benchVerifier(b, "ES256", 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	v, raw := benchVerifier(b, "ES256", 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyFirst is a token not seen before: with the cache off, every
// call parses, verifies the signature and checks every claim.
func BenchmarkVerifyFirst(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			v, raw := benchVerifier(b, alg, -1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReport is a request through the middleware whose handler reads
// 100 records: without a Reporter ("off"), with one ("on"), and with one
// whose flusher is held ("held"): its first post waits until the benchmark
// ends, so that the request's own path is measured alone, without the
// flusher's encoding and sending on the other core (its buffers grown
// first, as steady traffic leaves them). The difference between
// "held" and "off" is what reporting adds to a request; "on" also pays
// for the flusher's share of the CPU. "dropped/op" shows that no report
// was dropped, which would be cheaper than keeping it: run "held" with a
// fixed -benchtime (200000x), as its buffer holds every report.
func BenchmarkReport(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		for _, mode := range []string{"off", "held", "on"} {
			name := mode
			if parallel {
				name += "-parallel"
			}
			b.Run(name, func(b *testing.B) { benchReport(b, mode, parallel) })
		}
	}
}

func benchReport(b *testing.B, mode string, parallel bool) {
	v, raw := benchVerifier(b, "ES256", 0)
	var dropped atomic.Int64
	var held atomic.Bool
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/ledger/heartbeat" {
			var hb struct {
				Dropped int64 `json:"dropped"`
			}
			json.NewDecoder(r.Body).Decode(&hb)
			dropped.Add(hb.Dropped)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		for held.Load() {
			time.Sleep(time.Millisecond)
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"accepted": 1}`)
	}))
	defer sink.Close()
	m := sdk.NewMiddleware(v)
	var rep *sdk.Reporter
	if mode != "off" {
		var err error
		rep, err = sdk.NewReporter(v, sdk.ReporterConfig{Service: "orders", URL: sink.URL, MaxReports: 1 << 21, MaxRecords: 1 << 26})
		if err != nil {
			b.Fatal(err)
		}
		m = m.WithReporter(rep)
	}
	ids := make([]uint64, 100)
	for i := range ids {
		ids[i] = 1<<40 + uint64(i)*977
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdk.Read(r.Context(), "customer", ids...)
	}))
	r := httptest.NewRequest("GET", "/customers/1", nil)
	r.RemoteAddr = "192.0.2.7:4711"
	r.Header.Set("Authorization", "Bearer "+raw)
	if mode == "held" {
		// Grow both of the reporter's buffers to b.N reports first, as
		// steady traffic would, then hold the flusher at its next post.
		w := discardWriter{h: http.Header{}}
		for range 2 {
			held.Store(true)
			for range b.N {
				h.ServeHTTP(w, r)
			}
			held.Store(false)
			if err := rep.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		held.Store(true)
		b.ResetTimer()
	}
	b.ReportAllocs()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			w := discardWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, r)
			}
		})
	} else {
		// Not b.Loop: the warm-up above needs b.N before the loop.
		w := discardWriter{h: http.Header{}}
		for range b.N {
			h.ServeHTTP(w, r)
		}
	}
	b.StopTimer()
	held.Store(false)
	if rep != nil {
		if err := rep.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(dropped.Load())/float64(b.N), "dropped/op")
	}
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}

// BenchmarkMiddlewareDPoP is the middleware's Check of a request with a
// token seen before: a bearer token ("bearer"), and a DPoP-bound one with
// a fresh proof ("dpop"), whose check (a P-256 signature, the replay
// memory, the URL) is what binding adds. The proofs are signed before the
// timer starts, as clients sign them.
func BenchmarkMiddlewareDPoP(b *testing.B) {
	for _, mode := range []string{"bearer", "dpop"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, func(c *sdk.Config) { c.Logger = nil })
			e.ready()
			k := tokentest.NewDPoPKey(b)
			raw, scheme := e.iss.Token(nil), "Bearer "
			if mode == "dpop" {
				raw, scheme = e.iss.Token(map[string]any{"cnf": map[string]any{"jkt": k.JKT()}}), "DPoP "
			}
			m, err := sdk.NewMiddleware(e.v).WithDPoP(dpopBase, dpop.New(dpop.Config{Clock: e.clock.Now, ReplayCacheSize: b.N + 1}))
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				r := httptest.NewRequest("GET", "/orders/7", nil)
				r.Header.Set("Authorization", scheme+raw)
				if mode == "dpop" {
					r.Header.Set("DPoP", k.Proof(b, tokentest.ProofClaims{Method: "GET", URL: dpopBase + "/orders/7", IssuedAt: e.clock.Now(), AccessToken: raw}))
				}
				reqs[i] = r
			}
			if _, err := e.v.Verify(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, r := range reqs {
				if _, err := m.Check(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
