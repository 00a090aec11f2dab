package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// alertStream reads GET /v1/alerts/stream as an administrator: each event's
// alert, on a channel.
func alertStream(t *testing.T, env *servertest.Env) <-chan mayfly.Alert {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", env.URL+api.AlertStreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+env.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		t.Fatalf("alert stream: %s", res.Status)
	}
	out := make(chan mayfly.Alert, 100)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var a mayfly.Alert
				if json.Unmarshal([]byte(data), &a) == nil {
					out <- a
				}
			}
		}
	}()
	return out
}

// service is a service in front of Mayfly: the SDK's middleware with a
// reporter, as its own client, and a handler that reads customers.
type service struct {
	URL string
	v   *sdk.Verifier
	rep *sdk.Reporter
}

func newService(t *testing.T, env *servertest.Env) *service {
	t.Helper()
	ctx := context.Background()
	svc, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders-svc", Kind: mayfly.Service, Owner: env.Human("alice")})
	if err != nil {
		t.Fatal(err)
	}
	c, secret := env.NewClient(api.ClientRequest{Name: "orders", Owner: svc.ID, Audiences: []string{audience}})
	v := newVerifier(t, env, sdk.Config{ClientID: c.ID, ClientSecret: secret})
	rep, err := sdk.NewReporter(v, sdk.ReporterConfig{Service: "orders-svc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close(context.Background()) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /customers", func(w http.ResponseWriter, r *http.Request) {
		sdk.Read(r.Context(), "customer", 17, 42, 1<<40)
		w.Write([]byte("ok"))
	})
	hs := httptest.NewServer(sdk.NewMiddleware(v).WithReporter(rep).Handler(mux))
	t.Cleanup(hs.Close)
	return &service{URL: hs.URL, v: v, rep: rep}
}

// get calls the service with tok and returns the status.
func (s *service) get(t *testing.T, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/customers", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// forgedAlert waits for the forged-token alert on kid. Meanwhile the test
// clock moves with real time, so that the issuance grace, by which a
// token without a record is looked for again, passes as it would. The
// bound keeps a broken pipeline from hanging the test; it is no timing
// assertion.
func forgedAlert(t *testing.T, env *servertest.Env, alerts <-chan mayfly.Alert, kid string) mayfly.Alert {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case a := <-alerts:
			if a.Rule == mayfly.RuleForgedToken && a.Subject == "kid:"+kid {
				return a
			}
		case <-tick.C:
			env.Clock.Advance(50 * time.Millisecond)
		case <-deadline:
			t.Fatalf("no forged-token alert for %s on the stream after 30 s", kid)
		}
	}
}

// keyState is kid's state as the admin API tells it.
func keyState(t *testing.T, env *servertest.Env, kid string) mayfly.KeyState {
	t.Helper()
	ks, err := env.Admin.Keys(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.KID == kid {
			return k.State
		}
	}
	t.Fatalf("no key %s", kid)
	return ""
}

// TestForgedTokenReported: a token forged with a stolen key is accepted by
// a service that still trusts the key; the service's report raises
// forged-token on the alert stream. With containment on, the key is revoked
// and the service, following the revocation stream, refuses every token the
// key signed, genuine ones issued before too; without it, the key stays.
func TestForgedTokenReported(t *testing.T) {
	for _, contain := range []bool{false, true} {
		name := "alert-only"
		if contain {
			name = "contain"
		}
		t.Run(name, func(t *testing.T) {
			env := servertest.New(t, func(c *server.Config) {
				if contain {
					if err := c.Detect.Contain.Set("forged-token=revoke-key"); err != nil {
						t.Fatal(err)
					}
				}
			})
			ctx := context.Background()
			svc := newService(t, env)
			alerts := alertStream(t, env)
			bob := env.Human("bob")
			caller, callerSecret := env.NewClient(api.ClientRequest{Name: "billing", Owner: bob, Audiences: []string{audience}})
			genuine := env.IssueToken(caller.ID, callerSecret, nil)
			if got := svc.get(t, genuine); got != http.StatusOK {
				t.Fatalf("a genuine token: %d; want 200", got)
			}
			stolen := env.Steal("default")
			if cl, err := svc.v.Verify(ctx, genuine); err != nil || cl.KeyID != stolen.KID {
				t.Fatalf("the genuine token: %v, signed by %v; want it signed by the stolen key %s", err, cl, stolen.KID)
			}

			forged := stolen.Forge(caller.ID, bob, audience)
			start := time.Now()
			if got := svc.get(t, forged); got != http.StatusOK {
				t.Fatalf("a forged token, the key still trusted: %d; want 200", got)
			}
			a := forgedAlert(t, env, alerts, stolen.KID)
			t.Logf("forged-token on the alert stream %s after the request", time.Since(start).Round(time.Millisecond))
			if a.State != mayfly.AlertOpen || len(a.Evidence) == 0 || a.Evidence[0].Service != "orders-svc" || a.Evidence[0].ClientID != caller.ID {
				t.Errorf("the alert: %+v; want it open, with the service's report as evidence", a)
			}

			if !contain {
				if got := svc.get(t, genuine); got != http.StatusOK {
					t.Errorf("alert only: a genuine token after the alert: %d; want 200", got)
				}
				if got := keyState(t, env, stolen.KID); got != mayfly.KeyActive {
					t.Errorf("alert only: the key is %s; want it active", got)
				}
				// The reporter's last sends go to this server, not after it
				// is gone.
				if err := svc.rep.Close(ctx); err != nil {
					t.Fatal(err)
				}
				// Containment would have begun as the alert committed, and
				// a stop waits for containment under way.
				env = env.Restart()
				if got := keyState(t, env, stolen.KID); got != mayfly.KeyActive {
					t.Errorf("alert only, once the server stopped: the key is %s; want it active", got)
				}
				return
			}
			for deadline := time.Now().Add(30 * time.Second); keyState(t, env, stolen.KID) != mayfly.KeyRevoked; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("containment: the key %s is not revoked after 30 s", stolen.KID)
				}
			}
			// The service follows the revocation stream: within a
			// generous bound, the next request with any token the key
			// signed is refused.
			for deadline := time.Now().Add(30 * time.Second); svc.get(t, genuine) != http.StatusUnauthorized; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("containment: the service still accepts a genuine token of the revoked key after 30 s")
				}
			}
			if got := svc.get(t, forged); got != http.StatusUnauthorized {
				t.Errorf("containment: the forged token: %d; want 401", got)
			}
			if got := svc.get(t, stolen.Forge(caller.ID, bob, audience)); got != http.StatusUnauthorized {
				t.Errorf("containment: a token forged after it: %d; want 401", got)
			}
		})
	}
}
