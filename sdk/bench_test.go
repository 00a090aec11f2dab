package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk"
)

// BenchmarkVerifyCached is a token seen before: a map lookup, then the
// checks that always run (freshness, exp, nbf, key, revocations).
func BenchmarkVerifyCached(b *testing.B) {
	e := newEnv(b, func(c *sdk.Config) { c.Logger = nil })
	e.ready()
	raw := e.iss.Token(nil)
	ctx := context.Background()
	if _, err := e.v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	e := newEnv(b, func(c *sdk.Config) { c.Logger = nil })
	e.ready()
	raw := e.iss.Token(nil)
	ctx := context.Background()
	if _, err := e.v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.v.Verify(ctx, raw); err != nil {
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
			e := newEnv(b, func(c *sdk.Config) { c.Logger, c.CacheSize = nil, -1 })
			e.ready()
			if alg != "ES256" {
				e.iss.RotateKey(alg)
				e.advance(10 * time.Second)
			}
			raw := e.iss.Token(nil)
			ctx := context.Background()
			if _, err := e.v.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.v.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
