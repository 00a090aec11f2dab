package token_test

import (
	"context"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/token"
)

// BenchmarkIssue measures minting a token in process, issuance record
// durable, per signing algorithm: the token endpoint's work without HTTP.
func BenchmarkIssue(b *testing.B) {
	for _, alg := range []mayfly.Alg{mayfly.ES256, mayfly.EdDSA, mayfly.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			env, c := benchClient(b, alg)
			ctx := context.Background()
			svc := env.App.Token
			cl, err := svc.Admit(ctx, c)
			if err != nil {
				b.Fatal(err)
			}
			// Many requests in flight, as on a busy token endpoint: they share
			// issuance-record writes.
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Issue(ctx, cl, token.Request{SourceIP: "127.0.0.1"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkIntrospect measures verifying a token completely, as
// introspection does: signature, claims and every revocation check.
func BenchmarkIntrospect(b *testing.B) {
	for _, alg := range []mayfly.Alg{mayfly.ES256, mayfly.EdDSA, mayfly.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			env, c := benchClient(b, alg)
			ctx := context.Background()
			tok := env.Issue(c).AccessToken
			svc := env.App.Token
			b.ResetTimer()
			for b.Loop() {
				if svc.Introspect(ctx, tok) == nil {
					b.Fatal("inactive")
				}
			}
		})
	}
}

// benchClient starts Mayfly with a ring of alg and a client signed by it.
func benchClient(b *testing.B, alg mayfly.Alg) (*apptest.Env, *mayfly.Client) {
	env := apptest.New(b)
	if _, err := env.App.Keys.CreateRing(context.Background(), "bench", alg, 0, nil); err != nil {
		b.Fatal(err)
	}
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("bench"), Ring: "bench"})
	return env, c
}
