package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// BenchmarkAdminReads times the admin API's reads on a store of 3,000
// people, 3,000 clients and 20,000 issued tokens, to tell the requests
// whose cost grows with the store (which run under the bound on expensive
// requests) from those that stay small. Compare with a token request,
// timed last.
func BenchmarkAdminReads(b *testing.B) {
	env := servertest.New(b)
	owner := env.Human("alice")
	var ids, secrets []string
	for i := range 3000 {
		env.Human(fmt.Sprint("person", i))
		c, s := env.NewClient(api.ClientRequest{Name: fmt.Sprint("c", i), Owner: owner})
		ids, secrets = append(ids, c.ID), append(secrets, s)
	}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < 20000; i += 32 {
				if r := tokenFor(env, ids[i%len(ids)], secrets[i%len(ids)]); r.Status != 200 {
					b.Errorf("token: %d %s", r.Status, r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, ep := range []struct{ method, path string }{
		{"GET", "/v1/audit/export"}, {"POST", "/v1/audit/verify"}, {"GET", "/v1/audit?limit=10000"},
		{"GET", "/v1/tokens?limit=10000"}, {"GET", "/v1/clients"}, {"GET", "/v1/principals"}, {"GET", "/v1/doctor"},
		{"GET", "/v1/principals/alice"}, {"GET", "/v1/keys"}, {"GET", "/v1/credentials"}, {"GET", "/v1/audit/proof/100"},
	} {
		b.Run(ep.method+" "+ep.path, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(ep.method, env.URL+ep.path, nil)
				req.Header.Set("Authorization", "Bearer "+env.Token)
				if r := env.Do(req); r.Status != 200 {
					b.Fatalf("%d %s", r.Status, r.Body)
				}
			}
		})
	}
	b.Run("POST "+api.TokenPath, func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if r := tokenFor(env, ids[i%len(ids)], secrets[i%len(ids)]); r.Status != 200 {
				b.Fatalf("%d %s", r.Status, r.Body)
			}
		}
	})
}
