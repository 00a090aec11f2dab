package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// TestCrashLosesNoLedgerBatch kills the server with SIGKILL while a
// service posts reports from eight connections, restarts it, and checks
// that every batch it acknowledged is in the ledger, counted once: a
// batch is acknowledged only once its journal entry is durable, and the
// journal is merged after the restart.
func TestCrashLosesNoLedgerBatch(t *testing.T) {
	dir := t.TempDir()
	cmd, base, admin := startProcess(t, dir)
	ctx := context.Background()
	owner, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "alice", Kind: mayfly.Human})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders", Kind: mayfly.Service, Owner: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	c, err := admin.CreateClient(ctx, api.ClientRequest{Name: "orders-reporter", Owner: svc.ID})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acked []string
	post := func(jti string, w, n int) (ok bool, gone bool) {
		var body strings.Builder
		for i := range 10 {
			fmt.Fprintf(&body, `{"time":"%s","service":"orders","source_ip":"10.0.0.%d","records":{"customer":[%d,%d]},"jti":%q}`+"\n",
				time.Now().UTC().Format(time.RFC3339Nano), w, n*10+i, 1<<40+i, jti)
		}
		req, _ := http.NewRequest("POST", base+api.LedgerEventsPath, strings.NewReader(body.String()))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.SetBasicAuth(c.ID, c.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, true
		}
		resp.Body.Close()
		return resp.StatusCode == 200, false
	}
	// A first batch is merged before the load starts, so that the crash
	// comes with merges behind it and, perhaps, one under way.
	if ok, _ := post("crash-first", 9, 0); !ok {
		t.Fatal("the first batch was refused")
	}
	acked = append(acked, "crash-first")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		bs, err := admin.LedgerBuckets(ctx, mayfly.LedgerFilter{JTI: "crash-first"})
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first batch is not in the ledger after 30 s")
		}
	}
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				jti := fmt.Sprintf("crash-%d-%d", w, n)
				ok, gone := post(jti, w, n)
				if gone {
					return // the server is gone
				}
				if !ok {
					continue
				}
				mu.Lock()
				acked = append(acked, jti)
				k := len(acked)
				mu.Unlock()
				if k >= 300 {
					once.Do(func() {
						cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		})
	}
	<-killed
	wg.Wait()
	cmd.Wait()

	_, _, admin = startProcess(t, dir)
	want := map[string]bool{}
	for _, jti := range acked {
		want[jti] = true
	}
	var got map[string]int64
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		bs, err := admin.LedgerBuckets(ctx, mayfly.LedgerFilter{Namespace: "customer", Limit: 100_000})
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]int64{}
		for _, b := range bs {
			got[b.Token.JTI] += b.Requests
		}
		missing := 0
		for jti := range want {
			if got[jti] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for jti := range want {
		if got[jti] != 10 {
			t.Errorf("batch %s was acknowledged before the crash; the ledger counts %d of its 10 requests", jti, got[jti])
		}
	}
	for jti, n := range got {
		if n != 10 {
			t.Errorf("batch %s: %d requests, want 10 (a batch is counted once, or not at all if unacknowledged)", jti, n)
		}
	}
	t.Logf("%d batches acknowledged before the kill, %d in the ledger after restart", len(acked), len(got))
}
