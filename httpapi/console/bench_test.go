package console_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// BenchmarkConsolePages times each page's server-side render over HTTP on
// loopback, with a store of MAYFLY_BENCH_PRINCIPALS people (default 1,000)
// owning MAYFLY_BENCH_CLIENTS clients (default 10,000), made through the
// services as the API makes them, each change an audit entry, and the
// audit log padded to MAYFLY_BENCH_AUDIT entries (default none) with
// entries appended 10,000 to a transaction.
func BenchmarkConsolePages(b *testing.B) {
	people, clients := envInt("MAYFLY_BENCH_PRINCIPALS", 1000), envInt("MAYFLY_BENCH_CLIENTS", 10000)
	e := servertest.New(b, servertest.NoLockout)
	ctx := b.Context()
	ids := make([]string, people)
	for i := range ids {
		p, err := e.Server.Identity.CreatePrincipal(ctx, fmt.Sprintf("person-%05d", i), mayfly.Human, "")
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = p.ID
	}
	for i := range clients {
		if _, _, err := e.Server.Identity.CreateClient(ctx, identity.ClientSpec{Name: fmt.Sprintf("client-%06d", i), Owner: ids[i%people]}); err != nil {
			b.Fatal(err)
		}
	}
	if want := uint64(envInt("MAYFLY_BENCH_AUDIT", 0)); want > e.Server.Audit.Size() {
		for left := want - e.Server.Audit.Size(); left > 0; {
			n := min(left, 10000)
			err := e.Server.Audit.Update(ctx, func(tx mayfly.Tx) error {
				for i := range n {
					if _, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionAdminLogin, Actor: "mayfly",
						Details: map[string]string{"name": "bench", "source_ip": fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			left -= n
		}
	}
	b.Logf("%d principals, %d clients, %d audit entries", people, clients, e.Server.Audit.Size())
	jarUser := newBenchUser(b, e)
	for _, pg := range []struct{ name, path string }{{"overview", "/"}, {"ring", "/rings/default"}, {"people", "/people"},
		{"people-search", "/people?q=person-00042"}, {"person", "/people/" + ids[42]}, {"offboard-preview", "/people/" + ids[42] + "/offboard"},
		{"tokens", "/tokens"}, {"audit", "/audit"}, {"audit-filtered", "/audit?action=client.created"}, {"alerts", "/alerts"}} {
		p := pg.path
		b.Run(pg.name, func(b *testing.B) {
			for b.Loop() {
				res, err := jarUser.Get(e.URL + "/console" + p)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", p, res.StatusCode)
				}
			}
		})
	}
}

func newBenchUser(b *testing.B, e *servertest.Env) *http.Client {
	jarUser := newUserClient()
	res, err := jarUser.PostForm(e.URL+"/console/login", map[string][]string{"token": {e.Token}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v %v", err, res)
	}
	res.Body.Close()
	return jarUser
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
