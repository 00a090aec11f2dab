package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/cli"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary stand in for the mayfly binary, so a test
// can run the server as a separate process, signal it and kill it, and so
// the transcripts in testdata/script can run the mayfly command.
func TestMain(m *testing.M) {
	if args := os.Getenv("MAYFLY_TEST_MAIN"); args != "" {
		os.Exit(cli.Main(strings.Fields(args)))
	}
	// Under the race detector a process sleeps a second as it exits
	// (GORACE atexit_sleep_ms), for goroutines still running to report:
	// the hundreds of short commands the tests run would sleep minutes.
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=10"))
	}
	testscript.Main(m, map[string]func(){"mayfly": mayflyMain})
}

// TestCrashLosesNoIssuedToken kills the server with SIGKILL while clients
// are getting tokens, then checks that every token a client received has its
// issuance record: a token is handed out only after its record is durable.
func TestCrashLosesNoIssuedToken(t *testing.T) {
	dir := t.TempDir()
	cmd, base, admin := startProcess(t, dir)
	ctx := context.Background()
	p, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "alice", Kind: mayfly.Human})
	if err != nil {
		t.Fatal(err)
	}
	c, err := admin.CreateClient(ctx, api.ClientRequest{Name: "load", Owner: p.ID})
	if err != nil {
		t.Fatal(err)
	}

	// Eight clients take tokens until the server dies; the server is killed
	// once 500 tokens have been received.
	var mu sync.Mutex
	var received []string
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for range 8 {
		wg.Go(func() {
			for {
				req, _ := http.NewRequest("POST", base+api.TokenPath, strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(c.ID, c.Secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				var body api.TokenResponse
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					continue
				}
				mu.Lock()
				received = append(received, jtiFromToken(t, body.AccessToken))
				n := len(received)
				mu.Unlock()
				if n >= 500 {
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

	st := openStore(t, dir)
	recs, err := st.Issuances(ctx, mayfly.IssuanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range recs {
		have[r.JTI] = true
	}
	for _, jti := range received {
		if !have[jti] {
			t.Errorf("token %s was handed out but has no issuance record after the crash", jti)
		}
	}
	t.Logf("%d tokens received before the kill, %d records after restart", len(received), len(recs))
	st.Close()
	env := servertest.Start(t, dir, servertest.NewClock(time.Now()))
	if rep, err := env.Server.Audit.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("audit log after the crash: %+v %v", rep, err)
	}
}

func jtiFromToken(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Errorf("malformed token %q", tok)
		return ""
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	b, err := decodeSegment(parts[1])
	if err != nil || json.Unmarshal(b, &claims) != nil {
		t.Errorf("token payload: %v", err)
	}
	return claims.JTI
}

// startProcess runs "mayfly serve" as a child process on dir and returns it
// with its URL and an admin API client. With MAYFLY_TEST_STORE=postgres its
// store is a fresh PostgreSQL schema.
func startProcess(t *testing.T, dir string) (*exec.Cmd, string, *client.Client) {
	t.Helper()
	args := "--data " + dir
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		args += " --store " + storeURL(t, dir)
	}
	cmd, base, err := serveProcess(t, args)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, base, client.New(base, adminToken(t, dir))
}

// storeURL is the store of the server on dir: a fresh PostgreSQL schema,
// remembered in dir, or the SQLite file in dir.
func storeURL(t *testing.T, dir string) string {
	file := filepath.Join(dir, "test-store.url")
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	if os.Getenv("MAYFLY_TEST_STORE") != "postgres" {
		return filepath.Join(dir, "mayfly.db")
	}
	dsn := pgtest.DSN(t)
	if err := os.WriteFile(file, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// openStore opens the store of the server that ran on dir.
func openStore(t *testing.T, dir string) mayfly.Store {
	t.Helper()
	st, _, err := server.OpenStore(context.Background(), storeURL(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func adminToken(t *testing.T, dir string) string {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(tok))
}

// serveProcess runs "mayfly serve --addr 127.0.0.1:0 --log-level warn ARGS"
// as a child process, killed when the test ends, and returns its URL once
// it serves. If it exits first, the error holds what it printed.
func serveProcess(t *testing.T, args string) (*exec.Cmd, string, error) {
	t.Helper()
	cmd, stderr := spawn(t, "serve --addr 127.0.0.1:0 --log-level warn "+args)
	var out []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "mayfly: serving at "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, u, nil
		}
		out = append(out, sc.Text())
	}
	return nil, "", fmt.Errorf("server did not start: %s", strings.Join(out, "\n"))
}

// TestCrashLosesNoRevocation kills the server while revocations are being
// acknowledged; after a restart every acknowledged revocation holds.
func TestCrashLosesNoRevocation(t *testing.T) {
	dir := t.TempDir()
	cmd, _, admin := startProcess(t, dir)
	ctx := context.Background()
	p, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "alice", Kind: mayfly.Human})
	if err != nil {
		t.Fatal(err)
	}
	var clients []string
	for range 40 {
		c, err := admin.CreateClient(ctx, api.ClientRequest{Name: "c", Owner: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c.ID)
	}
	// Four workers revoke clients; the server is killed once ten
	// revocations were acknowledged, with others in flight.
	var mu sync.Mutex
	var acked []string
	var once sync.Once
	next := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for id := range next {
				if _, err := admin.RevokeClient(ctx, id, "crash test"); err != nil {
					continue
				}
				mu.Lock()
				acked = append(acked, id)
				n := len(acked)
				mu.Unlock()
				if n == 10 {
					once.Do(func() { cmd.Process.Signal(syscall.SIGKILL) })
				}
			}
		})
	}
	for _, id := range clients {
		next <- id
	}
	close(next)
	wg.Wait()
	cmd.Wait()
	st := openStore(t, dir)
	revs, err := st.Revocations(ctx, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[string]bool{}
	for _, r := range revs {
		revoked[r.Subject] = r.Kind == mayfly.RevokeClient
	}
	for _, id := range acked {
		if !revoked[id] {
			t.Errorf("revocation of %s was acknowledged but is gone after the crash", id)
		}
		if c, err := st.Client(ctx, id); err != nil || c.RevokedAt.IsZero() {
			t.Errorf("client %s: acknowledged revocation not marked on the client (%v)", id, err)
		}
	}
	if len(acked) == 0 {
		t.Fatalf("no revocation was acknowledged before the kill: the test proves nothing")
	}
	st.Close()
	// The audit log verifies, and holds every acknowledged revocation.
	env := servertest.Start(t, dir, servertest.NewClock(time.Now()))
	rep, err := env.Server.Audit.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("audit log after the crash: %+v %v", rep, err)
	}
	items, err := env.Admin.AuditSearch(ctx, mayfly.AuditFilter{Action: "client.revoked", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, it := range items {
		audited[it.Entry.Client] = true
	}
	for _, id := range acked {
		if !audited[id] {
			t.Errorf("revocation of %s was acknowledged but is not in the audit log", id)
		}
	}
	t.Logf("%d of %d revocations acknowledged before the kill", len(acked), len(clients))
}

// TestCrashDuringOffboarding kills the server with SIGKILL while it
// offboards a person who owns many clients, at a different moment each
// round, restarts it, and checks that the offboarding finishes, once, with
// nothing left working: whichever step the crash interrupted.
func TestCrashDuringOffboarding(t *testing.T) {
	for round, delay := range []time.Duration{5 * time.Millisecond, 30 * time.Millisecond, 80 * time.Millisecond} {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			dir := t.TempDir()
			cmd, _, admin := startProcess(t, dir)
			ctx := context.Background()
			p, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "dev", Kind: mayfly.Human})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admin.GrantCustody(ctx, api.CustodyRequest{Principal: p.ID, Ring: "default", Kind: mayfly.CustodyAdmin, Reason: "crash test"}); err != nil {
				t.Fatal(err)
			}
			var clients []string
			for range 300 {
				c, err := admin.CreateClient(ctx, api.ClientRequest{Name: "c", Owner: p.ID})
				if err != nil {
					t.Fatal(err)
				}
				clients = append(clients, c.ID)
			}
			keys, err := admin.Keys(ctx, "default")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := admin.Offboard(ctx, p.ID, api.OffboardRequest{Reason: "crash test"})
				done <- err
			}()
			time.Sleep(delay) // where in the run the kill lands varies by round
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			acked := <-done == nil

			_, _, admin = startProcess(t, dir)
			runs, err := admin.Offboardings(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("killed after %s: acknowledged %v, runs after restart %d", delay, acked, len(runs))
			if len(runs) == 0 {
				if acked {
					t.Fatal("an acknowledged offboarding left no run")
				}
				// Killed before the run was saved: the operator runs it again.
				if _, err := admin.Offboard(ctx, p.ID, api.OffboardRequest{Reason: "crash test"}); err != nil {
					t.Fatal(err)
				}
				runs, _ = admin.Offboardings(ctx, p.ID)
			}
			if len(runs) != 1 || !runs[0].Finished() || len(runs[0].Done) != 5 {
				t.Fatalf("runs after restart: %+v; want exactly one, finished", runs)
			}
			all, err := admin.Clients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			revoked := 0
			for _, c := range all {
				if c.OwnerID == p.ID && c.Revoked() {
					revoked++
				}
			}
			if revoked != len(clients) {
				t.Errorf("%d of %d clients revoked", revoked, len(clients))
			}
			now, err := admin.Keys(ctx, "default")
			if err != nil {
				t.Fatal(err)
			}
			for _, old := range keys {
				for _, k := range now {
					if k.KID == old.KID && k.State != mayfly.KeyRevoked && k.State != mayfly.KeyRetired {
						t.Errorf("key %s, published while dev had custody, is %s after the offboarding", k.KID, k.State)
					}
				}
			}
			if rep, err := admin.AuditVerify(ctx); err != nil || !rep.OK {
				t.Errorf("audit log: %+v %v", rep, err)
			}
		})
	}
}

// TestCrashKeepsChangesWithEntries kills the server with SIGKILL at a
// random moment under mixed load (tokens, new clients and people,
// revocations, secret rotations, suspensions and offboardings), round
// after round on the same data, and checks after every kill that every
// change the store holds has its audit entry and that no entry is there
// twice; after every restart, that the log verifies. A change and its
// entry commit together, so no moment of the kill can part them.
func TestCrashKeepsChangesWithEntries(t *testing.T) {
	seed := time.Now().UnixNano()
	rnd := mrand.New(mrand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	ctx := context.Background()
	for round := range 4 {
		cmd, base, admin := startProcess(t, dir)
		if rep, err := admin.AuditVerify(ctx); err != nil || !rep.OK {
			t.Fatalf("round %d: audit log after the restart: %+v %v", round, rep, err)
		}
		killAt := int64(20 + rnd.IntN(150))
		// Should the load stall short of killAt, the kill comes anyway.
		stall := time.AfterFunc(time.Minute, func() { cmd.Process.Signal(syscall.SIGKILL) })
		acked := mixedLoad(t, admin, base, round, func(n int64) {
			if n == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		})
		stall.Stop()
		cmd.Wait()
		t.Logf("round %d: killed after %d acknowledged changes", round, acked)
		st := openStore(t, dir)
		problems, err := apptest.AuditCoverage(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("round %d: %s", round, p)
		}
		st.Close()
	}
}

// mixedLoad runs workers that change everything a person can change through
// the admin API until the server stops answering; kill is told the count
// of acknowledged changes after each one. It returns that count.
func mixedLoad(t *testing.T, admin *client.Client, base string, round int, kill func(int64)) int64 {
	ctx := context.Background()
	var acked atomic.Int64
	ack := func() { kill(acked.Add(1)) }
	owner, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: fmt.Sprintf("owner-%d", round), Kind: mayfly.Human})
	if err != nil {
		t.Fatal(err)
	}
	tokenClient, err := admin.CreateClient(ctx, api.ClientRequest{Name: "load", Owner: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	alive := func(err error) bool { return mayfly.ErrorCode(err) != mayfly.Unavailable }
	// Tokens, whose issuance batches carry a digest entry.
	for range 2 {
		wg.Go(func() {
			form := url.Values{"grant_type": {"client_credentials"}}.Encode()
			for {
				req, _ := http.NewRequest("POST", base+api.TokenPath, strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(tokenClient.ID, tokenClient.Secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
			}
		})
	}
	// Clients made, rotated and revoked.
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := admin.CreateClient(ctx, api.ClientRequest{Name: "c", Owner: owner.ID})
			if !alive(err) {
				return
			}
			if err != nil {
				continue
			}
			ack()
			if _, err := admin.RotateSecret(ctx, c.ID, "crash test"); !alive(err) {
				return
			} else if err == nil {
				ack()
			}
			if i%2 == 0 {
				if _, err := admin.RevokeClient(ctx, c.ID, "crash test"); !alive(err) {
					return
				} else if err == nil {
					ack()
				}
			}
		}
	})
	// People suspended and reactivated, custody granted.
	wg.Go(func() {
		for i := 0; ; i++ {
			p, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: fmt.Sprintf("p-%d-%d", round, i), Kind: mayfly.Human})
			if !alive(err) {
				return
			}
			if err != nil {
				continue
			}
			ack()
			if _, err := admin.GrantCustody(ctx, api.CustodyRequest{Principal: p.ID, Ring: "default", Kind: mayfly.CustodyGranted, Reason: "crash test"}); !alive(err) {
				return
			}
			// A service and its client, which the suspension holds too; an
			// admin credential, which needs a second person, made unapproved.
			svc, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: fmt.Sprintf("s-%d-%d", round, i), Kind: mayfly.Service, Owner: p.ID})
			if !alive(err) {
				return
			}
			if err == nil {
				if _, err := admin.CreateClient(ctx, api.ClientRequest{Name: "svc", Owner: svc.ID}); !alive(err) {
					return
				}
			}
			if _, err := admin.CreateCredential(ctx, api.CredentialRequest{Name: "c", Owner: p.ID}); !alive(err) {
				return
			} else if err == nil {
				ack()
			}
			if _, err := admin.Suspend(ctx, p.ID, "crash test"); !alive(err) {
				return
			} else if err == nil {
				ack()
			}
			if _, err := admin.Reactivate(ctx, p.ID, "crash test"); !alive(err) {
				return
			}
		}
	})
	// People who own clients and a ring's custody, offboarded.
	wg.Go(func() {
		for i := 0; ; i++ {
			p, err := admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: fmt.Sprintf("leaver-%d-%d", round, i), Kind: mayfly.Human})
			if !alive(err) {
				return
			}
			if err != nil {
				continue
			}
			for range 20 {
				if _, err := admin.CreateClient(ctx, api.ClientRequest{Name: "owned", Owner: p.ID}); !alive(err) {
					return
				}
			}
			if _, err := admin.GrantCustody(ctx, api.CustodyRequest{Principal: p.ID, Ring: "default", Kind: mayfly.CustodyAdmin, Reason: "crash test"}); !alive(err) {
				return
			}
			if _, err := admin.Offboard(ctx, p.ID, api.OffboardRequest{Reason: "crash test"}); !alive(err) {
				return
			} else if err == nil {
				ack()
			}
		}
	})
	wg.Wait()
	return acked.Load()
}
