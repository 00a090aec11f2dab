package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/refresh"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestCrashDuringRefresh kills the server with SIGKILL while clients
// rotate refresh tokens, then restarts it and checks that no refresh
// token is both retired and unanswered without its family surviving:
// every client whose request got no answer retries once with the same
// token, within the grace window, and succeeds, and no family is revoked.
func TestCrashDuringRefresh(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	// Families begun as a token exchange begins them, by a server on dir.
	const families = 32
	env := servertest.Start(t, dir, servertest.NewClock(time.Now()))
	c, secret := env.NewClient(api.ClientRequest{Name: "app", Owner: env.Human("alice"), Refresh: true})
	held := make([]string, families) // each family's token its client holds
	sids := make([]string, families)
	for i := range held {
		f, tok, err := env.Server.App.Refresh.Begin(ctx, c, "customer:"+string(rune('a'+i%26))+string(rune('0'+i/26)), "", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		held[i], sids[i] = tok, f.ID
	}
	env.Stop()

	cmd, base, _ := startProcess(t, dir)
	var answered atomic.Int64
	var once sync.Once
	unanswered := make([]bool, families) // the last request of the family got no answer
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; ; i = (i + 8) % families { // families w, w+8, ...: one worker each
				tok, status, err := refreshOnce(base, c.ID, secret, held[i])
				if err != nil {
					unanswered[i] = true
					return // the server is gone
				}
				if status != http.StatusOK {
					t.Errorf("family %s: refresh refused before the kill: %d", sids[i], status)
					return
				}
				held[i] = tok
				if answered.Add(1) >= 300 {
					once.Do(func() { cmd.Process.Signal(syscall.SIGKILL) })
				}
			}
		})
	}
	wg.Wait()
	cmd.Wait()
	killed := time.Now()
	lost := 0
	for _, u := range unanswered {
		if u {
			lost++
		}
	}
	t.Logf("%d refreshes answered before the kill; %d requests unanswered", answered.Load(), lost)

	st := openStore(t, dir)
	apptest.CheckAuditCoverage(t, st)
	retired := 0 // rotated, but the answer never came: only the grace retry saves these
	for i, tok := range held {
		fam, gen, err := refresh.Parse(tok)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if rt, _, err := st.RefreshToken(ctx, fam, gen, refresh.Hash(tok)); err == nil && rt.Retired() && unanswered[i] {
			retired++
		}
	}
	t.Logf("%d of the unanswered tokens were retired by the crash", retired)
	st.Close()
	// Restarted two seconds after the kill: a retry comes within the
	// grace window, and after refresh.RetryGap.
	env = servertest.Start(t, dir, servertest.NewClock(killed.Add(2*time.Second)))
	for i, tok := range held {
		next, status, err := refreshOnce(env.URL, c.ID, secret, tok)
		if err != nil || status != http.StatusOK {
			t.Errorf("family %s (unanswered %v): the retry after the crash: status %d, %v", sids[i], unanswered[i], status, err)
			continue
		}
		if _, status, _ := refreshOnce(env.URL, c.ID, secret, next); status != http.StatusOK {
			t.Errorf("family %s: the refresh after the retry: status %d", sids[i], status)
		}
		fam, err := env.Server.App.Store().RefreshFamily(ctx, sids[i])
		if err != nil || fam.Revoked() {
			t.Errorf("family %s after the crash: %+v, %v; want it alive", sids[i], fam, err)
		}
	}
	if rep, err := env.Server.Audit.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("audit log after the crash: %+v %v", rep, err)
	}
}

// refreshOnce presents a refresh token and returns the next one; err is
// set when no answer came.
func refreshOnce(base, id, secret, rt string) (string, int, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	req, _ := http.NewRequest("POST", base+api.TokenPath, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var body api.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", 0, err
	}
	return body.RefreshToken, resp.StatusCode, nil
}
