package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk"
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
