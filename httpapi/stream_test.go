package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

type sse struct {
	id, event, data string
}

// subscribe opens the revocation stream and returns its events as they come.
func subscribe(t *testing.T, env *servertest.Env, user, pass, lastID string) <-chan sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", env.URL+api.StreamPath, nil)
	req.SetBasicAuth(user, pass)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sse, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var e sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.event != "" {
					out <- e
				}
				e = sse{}
			case strings.HasPrefix(line, "id: "):
				e.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				e.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

func next(t *testing.T, ch <-chan sse, event string) sse {
	t.Helper()
	for deadline := time.After(10 * time.Second); ; {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %s", event)
			}
			if e.event == event {
				return e
			}
			if e.event != "heartbeat" {
				t.Fatalf("got event %s %s; want %s", e.event, e.data, event)
			}
		case <-deadline:
			t.Fatalf("no %s event", event)
		}
	}
}

// TestRevocationStream: a subscriber gets what is revoked already, then
// "ready", then each revocation as it happens; one that resumes from an id
// gets only what came after it.
func TestRevocationStream(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner})
	gone, _ := env.NewClient(api.ClientRequest{Owner: owner})
	if _, err := env.Admin.RevokeClient(ctx, gone.ID, "before subscribing"); err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, env, c.ID, secret, "")
	var first api.RevocationEvent
	e := next(t, ch, "revocation")
	if err := json.Unmarshal([]byte(e.data), &first); err != nil || first.Kind != mayfly.RevokeClient || first.Subject != gone.ID || e.id == "" {
		t.Fatalf("first event %+v (%v); want the client revoked before subscribing", e, err)
	}
	if strings.Contains(e.data, "before subscribing") {
		t.Errorf("the stream carries the revocation's reason: %s", e.data)
	}
	next(t, ch, "ready")
	tok := env.IssueToken(c.ID, secret, nil)
	jti := jtiOf(t, tok)
	if _, err := env.Admin.RevokeToken(ctx, jti, "live"); err != nil {
		t.Fatal(err)
	}
	var live api.RevocationEvent
	e = next(t, ch, "revocation")
	if err := json.Unmarshal([]byte(e.data), &live); err != nil || live.Kind != mayfly.RevokeToken || live.Subject != jti || live.Seq <= first.Seq || live.Until.IsZero() {
		t.Fatalf("live event %+v (%v); want the token's revocation, later in sequence, with its expiry", e, err)
	}
	// Resuming after the first event skips it.
	resumed := subscribe(t, env, c.ID, secret, e.id)
	if r := next(t, resumed, "ready"); !strings.Contains(r.data, e.id) {
		t.Errorf("resumed at the newest id: ready %s; want seq %s", r.data, e.id)
	}
	again := subscribe(t, env, c.ID, secret, "0")
	if got := next(t, again, "revocation"); got.id != fmt.Sprint(first.Seq) {
		t.Errorf("resumed from 0: first id %s; want %d", got.id, first.Seq)
	}
}

// TestRevocationStreamRefuses: no credential, a wrong secret, a SCIM
// credential and a bad resume point are refused before any event.
func TestRevocationStreamRefuses(t *testing.T) {
	env := servertest.New(t)
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner})
	scim, err := env.Admin.CreateCredential(context.Background(), api.CredentialRequest{Name: "idp", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		set    func(*http.Request)
		status int
	}{
		{"no credential", func(r *http.Request) {}, 401},
		{"wrong secret", func(r *http.Request) { r.SetBasicAuth(c.ID, secret+"x") }, 401},
		{"a SCIM credential", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+scim.Token) }, 401},
		{"a bad resume point", func(r *http.Request) { r.SetBasicAuth(c.ID, secret); r.Header.Set("Last-Event-ID", "-3") }, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", env.URL+api.StreamPath, nil)
			tt.set(req)
			r := env.Do(req)
			if r.Status != tt.status {
				t.Errorf("got %d %s; want %d", r.Status, r.Body, tt.status)
			}
		})
	}
}

// TestRevocationStreamEndsWhenCredentialRevoked: a verifier whose client is
// revoked after it subscribed loses its stream at the next heartbeat.
func TestRevocationStreamEndsWhenCredentialRevoked(t *testing.T) {
	env := servertest.New(t, func(c *serverConfig) { c.StreamHeartbeat = 20 * time.Millisecond })
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner})
	ch := subscribe(t, env, c.ID, secret, "")
	next(t, ch, "ready")
	if _, err := env.Admin.RevokeClient(context.Background(), c.ID, "the verifier's own client"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.After(10 * time.Second); ; {
		select {
		case _, ok := <-ch:
			if !ok {
				return // the stream ended
			}
		case <-deadline:
			t.Fatal("the stream of a revoked client is still open")
		}
	}
}
