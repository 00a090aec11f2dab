package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// patience bounds waits for a change to reach another replica, so that a
// broken feed fails the test instead of hanging it. Nothing asserts speed.
const patience = 15 * time.Second

// issuer is the one issuer URL that replicas behind a load balancer share.
const issuer = "https://mayfly.test"

type replica struct {
	name  string
	cmd   *exec.Cmd
	url   string
	admin *client.Client
}

// startReplicas starts n "mayfly serve" processes on one PostgreSQL store
// and one root key, the first alone (it creates the root key and the
// bootstrap admin credential), the rest together.
func startReplicas(t *testing.T, dsn string, n int) []*replica {
	t.Helper()
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	rootKey := filepath.Join(dirs[0], "root.key")
	args := func(i int) string {
		return fmt.Sprintf("--data %s --store %s --root-key-file %s --issuer %s", dirs[i], dsn, rootKey, issuer)
	}
	out := make([]*replica, n)
	start := func(i int) {
		cmd, base, err := serveProcess(t, args(i))
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
			return
		}
		out[i] = &replica{name: fmt.Sprintf("replica %d", i), cmd: cmd, url: base}
	}
	start(0)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() { start(i) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	tok := adminToken(t, dirs[0])
	for i, r := range out {
		r.admin = client.New(r.url, tok)
		if i > 0 {
			if _, err := os.Stat(filepath.Join(dirs[i], "admin.token")); err == nil {
				t.Errorf("%s made a second bootstrap admin credential", r.name)
			}
		}
	}
	return out
}

func token(t *testing.T, base, id, secret string) string {
	t.Helper()
	tok, status := tryToken(base, id, secret)
	if status != 200 {
		t.Fatalf("token from %s: status %d", base, status)
	}
	return tok
}

func tryToken(base, id, secret string) (string, int) {
	req, _ := http.NewRequest("POST", base+api.TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	var body api.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", resp.StatusCode
	}
	return body.AccessToken, resp.StatusCode
}

func active(t *testing.T, base, tok, id, secret string) bool {
	t.Helper()
	req, _ := http.NewRequest("POST", base+api.IntrospectPath, strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("introspect at %s: %v", base, err)
	}
	defer resp.Body.Close()
	var body struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Active == nil {
		t.Fatalf("introspect at %s: status %d, %v", base, resp.StatusCode, err)
	}
	return *body.Active
}

// eventually polls cond until it holds, failing after patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, patience)
		}
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := decodeSegment(strings.Split(tok, ".")[0])
	var h struct {
		KID string `json:"kid"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.KID
}

// TestReplicas runs three "mayfly serve" processes on one PostgreSQL and
// checks that they act as one service: what one issues the others accept,
// what one revokes the others reject, rotation happens once, one replica's
// death loses nothing acknowledged, and the audit log stays one tree.
func TestReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	rs := startReplicas(t, dsn, 3)
	ctx := context.Background()
	a, b, c := rs[0], rs[1], rs[2]

	p, err := b.admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "alice", Kind: mayfly.Human})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.admin.CreateClient(ctx, api.ClientRequest{Name: "orders", Owner: p.ID})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("IssueHereIntrospectThere", func(t *testing.T) {
		tok := token(t, a.url, cl.ID, cl.Secret)
		for _, r := range rs {
			if !active(t, r.url, tok, cl.ID, cl.Secret) {
				t.Errorf("a token issued by %s is inactive at %s", a.name, r.name)
			}
		}
	})

	t.Run("RevokeTokenHereRejectedThere", func(t *testing.T) {
		tok := token(t, a.url, cl.ID, cl.Secret)
		if _, err := b.admin.RevokeToken(ctx, jtiFromToken(t, tok), "replica test"); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			eventually(t, "token revoked at "+b.name+" rejected at "+r.name, func() bool { return !active(t, r.url, tok, cl.ID, cl.Secret) })
		}
	})

	t.Run("RevokeKeyHereStopsSigningThere", func(t *testing.T) {
		old := token(t, a.url, cl.ID, cl.Secret)
		kid := kidOf(t, old)
		if _, err := c.admin.RevokeKey(ctx, kid, "replica test"); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			eventually(t, "key revoked at "+c.name+" rejected at "+r.name, func() bool { return !active(t, r.url, old, cl.ID, cl.Secret) })
			if got := kidOf(t, token(t, r.url, cl.ID, cl.Secret)); got == kid {
				t.Errorf("%s signs with key %s after %s revoked it and its tokens are rejected", r.name, kid, c.name)
			}
			var jwks struct{ Keys []struct{ KID string } }
			getJSON(t, r.url+api.JWKSPath, &jwks)
			for _, k := range jwks.Keys {
				if k.KID == kid {
					t.Errorf("%s still publishes revoked key %s", r.name, kid)
				}
			}
		}
	})

	t.Run("SuspendAndOffboardHereEffectiveThere", func(t *testing.T) {
		for _, leave := range []string{"suspend", "offboard"} {
			p, err := a.admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "leaver-" + leave, Kind: mayfly.Human})
			if err != nil {
				t.Fatal(err)
			}
			lc, err := a.admin.CreateClient(ctx, api.ClientRequest{Name: "leaver", Owner: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			tok := token(t, a.url, lc.ID, lc.Secret)
			for _, r := range rs {
				token(t, r.url, lc.ID, lc.Secret) // every replica has the client cached
			}
			if leave == "suspend" {
				_, err = b.admin.Suspend(ctx, p.ID, "replica test")
			} else {
				_, err = b.admin.Offboard(ctx, p.ID, api.OffboardRequest{Reason: "replica test"})
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				eventually(t, leave+" at "+b.name+": token rejected at "+r.name, func() bool { return !active(t, r.url, tok, cl.ID, cl.Secret) })
				eventually(t, leave+" at "+b.name+": no new token at "+r.name, func() bool {
					_, status := tryToken(r.url, lc.ID, lc.Secret)
					return status == 401
				})
			}
		}
	})

	t.Run("ConcurrentRotation", func(t *testing.T) {
		if _, err := a.admin.CreateRing(ctx, api.RingRequest{Name: "race", Lifetime: "1h"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		rotated := 0
		for _, r := range rs {
			for range 3 {
				wg.Go(func() {
					if _, err := r.admin.Rotate(ctx, "race"); err == nil {
						mu.Lock()
						rotated++
						mu.Unlock()
					} else if mayfly.ErrorCode(err) != mayfly.Conflict {
						t.Errorf("rotate at %s: %v", r.name, err)
					}
				})
			}
		}
		wg.Wait()
		// Replica a hears of the others' rotations through the store's feed.
		var keys []api.KeyView
		eventually(t, a.name+" sees every rotation", func() bool {
			if keys, err = a.admin.Keys(ctx, "race"); err != nil {
				t.Fatal(err)
			}
			return len(keys) >= 2+rotated
		})
		// A ring starts with an active and a next key; each rotation that
		// succeeded made exactly one new next key.
		if len(keys) != 2+rotated {
			t.Errorf("%d keys after %d successful rotations; want %d", len(keys), rotated, 2+rotated)
		}
		states := map[mayfly.KeyState]int{}
		for _, k := range keys {
			states[k.State]++
		}
		if states[mayfly.KeyActive] != 1 || states[mayfly.KeyNext] != 1 {
			t.Errorf("ring states after concurrent rotations: %v; want one active and one next key", states)
		}
		entries, err := a.admin.AuditSearch(ctx, mayfly.AuditFilter{Action: "ring.rotated", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Entry.Ring == "race" {
				n++
			}
		}
		if n != rotated {
			t.Errorf("%d ring.rotated audit entries for %d rotations", n, rotated)
		}
		// Every replica comes to publish the same keys.
		var want []string
		for _, k := range keys {
			if k.State != mayfly.KeyRetired && k.State != mayfly.KeyRevoked {
				want = append(want, k.KID)
			}
		}
		for _, r := range rs {
			eventually(t, r.name+" publishes the ring's keys", func() bool {
				var jwks struct{ Keys []struct{ KID string } }
				getJSON(t, r.url+api.JWKSPath, &jwks)
				have := map[string]bool{}
				for _, k := range jwks.Keys {
					have[k.KID] = true
				}
				for _, kid := range want {
					if !have[kid] {
						return false
					}
				}
				return true
			})
		}
	})

	t.Run("KillOneUnderLoad", func(t *testing.T) {
		killReplicaUnderLoad(t, rs, cl)
	})

	t.Run("AuditOneTree", func(t *testing.T) {
		for _, r := range rs[:2] {
			rep, err := r.admin.AuditVerify(ctx)
			if err != nil || !rep.OK {
				t.Errorf("audit verify at %s: %+v %v", r.name, rep, err)
			}
		}
		items, err := a.admin.AuditSearch(ctx, mayfly.AuditFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if i > 0 && it.Entry.Time.Before(items[i-1].Entry.Time) {
				t.Errorf("entry %d is older than entry %d: times must not decrease along the log", it.Entry.Index, items[i-1].Entry.Index)
				break
			}
		}
		// A proof for the newest entry, from the replica that did not append it last.
		last := items[len(items)-1].Entry.Index
		if _, err := b.admin.AuditProof(ctx, last); err != nil {
			t.Errorf("inclusion proof of entry %d at %s: %v", last, b.name, err)
		}
	})
}

// killReplicaUnderLoad sends token requests to every replica, kills the last
// one with SIGKILL midway, and checks that the others keep serving and that
// every token any replica handed out has its issuance record.
func killReplicaUnderLoad(t *testing.T, rs []*replica, cl *api.CreatedClient) {
	victim := rs[len(rs)-1]
	var mu sync.Mutex
	var received []string
	afterKill := map[string]int{}
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 12 {
		r := rs[w%len(rs)]
		wg.Go(func() {
			for n := 0; n < 400; n++ {
				tok, status := tryToken(r.url, cl.ID, cl.Secret)
				if status != 200 {
					if r == victim {
						return // the killed replica
					}
					t.Errorf("%s: status %d", r.name, status)
					return
				}
				mu.Lock()
				received = append(received, jtiFromToken(t, tok))
				select {
				case <-killed:
					afterKill[r.name]++
				default:
				}
				total := len(received)
				mu.Unlock()
				if total == 600 {
					once.Do(func() {
						victim.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		})
	}
	wg.Wait()
	victim.cmd.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the load ended before the kill: the test proves nothing")
	}
	for _, r := range rs[:len(rs)-1] {
		if afterKill[r.name] == 0 {
			t.Errorf("%s issued no token after %s was killed", r.name, victim.name)
		}
	}
	recs, err := rs[0].admin.Tokens(context.Background(), mayfly.IssuanceFilter{ClientID: cl.ID, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range recs {
		have[r.JTI] = true
	}
	missing := 0
	for _, jti := range received {
		if !have[jti] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d handed-out tokens have no issuance record", missing, len(received))
	}
	t.Logf("%d tokens received, %d after the kill (%v)", len(received), sum(afterKill), afterKill)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// TestReplicaWrongRootKey: a replica started with another root key than the
// store's refuses to start, and says why.
func TestReplicaWrongRootKey(t *testing.T) {
	dsn := pgtest.DSN(t)
	startReplicas(t, dsn, 1)
	dir := t.TempDir()
	_, _, err := serveProcess(t, fmt.Sprintf("--data %s --store %s --issuer %s", dir, dsn, issuer))
	if err == nil || !strings.Contains(err.Error(), "root key") {
		t.Fatalf("replica with its own root key: %v; want a refusal naming the root key", err)
	}
}
