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
// introspection does: signature, claims and every revocation check. "seen"
// introspects one token again and again, as a resource server does for
// each request a token comes with; "new" a different token each time,
// each seen once, so that the signature is checked every time.
func BenchmarkIntrospect(b *testing.B) {
	for _, alg := range []mayfly.Alg{mayfly.ES256, mayfly.EdDSA, mayfly.RS256} {
		for _, fresh := range []bool{false, true} {
			name := string(alg) + "/seen"
			if fresh {
				name = string(alg) + "/new"
			}
			b.Run(name, func(b *testing.B) {
				env, c := benchClient(b, alg)
				ctx := context.Background()
				toks := []string{env.Issue(c).AccessToken}
				if fresh {
					for range 2000 {
						toks = append(toks, env.Issue(c).AccessToken)
					}
				}
				svc := env.App.Token
				b.ResetTimer()
				i := 0
				for b.Loop() {
					if svc.Introspect(ctx, toks[i%len(toks)]) == nil {
						b.Fatal("inactive")
					}
					i++
					if fresh && i%len(toks) == 0 {
						b.StopTimer() // a token seen once is remembered: forget them all
						env.App.Token.ForgetVerified()
						b.StartTimer()
					}
				}
			})
		}
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
