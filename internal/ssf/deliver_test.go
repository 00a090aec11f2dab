package ssf_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/ssf"
)

// TestPushFailuresLogged: a push that fails says why in the log, at warn
// level: the receiver's status and the start of its answer, or the error
// on the way to it; which attempt it was; and when the next comes. No
// line holds the receiver's credential, even one the receiver echoes.
func TestPushFailuresLogged(t *testing.T) {
	const credential = "s3cr3t-receiver-token"
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		// An answer on several lines, quoting the credential, far longer
		// than a log line should be.
		fmt.Fprintf(w, "upstream\r\nfailure for %s;\t%s", r.Header.Get("Authorization"), strings.Repeat("x", 8<<10))
	}))
	defer failing.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/events?token=q-secret-123"
	ln.Close() // nothing listens there now

	env := apptest.New(t, func(c *app.Config) { c.SSFAllowHTTP = true })
	ctx := env.Admin()
	admin := ssf.Caller{Admin: true, Actor: "test"}
	up, err := env.App.SSF.Create(ctx, admin, ssf.Spec{Method: mayfly.DeliveryPush, EndpointURL: failing.URL + "/events", AuthorizationHeader: "Bearer " + credential})
	if err != nil {
		t.Fatal(err)
	}
	down, err := env.App.SSF.Create(ctx, admin, ssf.Spec{Method: mayfly.DeliveryPush, EndpointURL: closed})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("alice")})
	if _, err := env.App.Identity.RevokeClient(ctx, c.ID, "compromised"); err != nil {
		t.Fatal(err)
	}

	// line returns the log's line about the given attempt on stream.
	line := func(stream string, attempt int) string {
		t.Helper()
		for _, l := range strings.Split(env.Log.String(), "\n") {
			if strings.Contains(l, "stream="+stream+" ") && strings.Contains(l, fmt.Sprintf(" attempt=%d ", attempt)) {
				return l
			}
		}
		t.Fatalf("no line about attempt %d on stream %s in\n%s", attempt, stream, env.Log.String())
		return ""
	}
	retryAt := func(d time.Duration) string { return "retry_at=" + env.Clock.Now().Add(d).UTC().Format(time.RFC3339) }

	// The first attempt, then the first retry, due a second later, which
	// waits twice as long for the next.
	for i, wait := range []time.Duration{time.Second, 2 * time.Second} {
		attempt := i + 1
		if attempt == 2 {
			env.Clock.Advance(time.Second)
		}
		if err := env.App.SSF.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			stream string
			want   []string
		}{
			{up.ID, []string{`status=500`, `body="upstream failure for [redacted]; xxxxxxxx`, `…"`}},
			{down.ID, []string{`err="dial tcp ` + strings.TrimPrefix(strings.TrimSuffix(closed, "/events?token=q-secret-123"), "http://") + `: connect: connection refused"`}},
		} {
			l := line(tt.stream, attempt)
			want := append([]string{`level=WARN `, `msg="pushing a SET failed; will retry"`, `host=127.0.0.1 `, fmt.Sprintf("retry_in=%s ", wait), retryAt(wait)}, tt.want...)
			for _, w := range want {
				if !strings.Contains(l, w) {
					t.Errorf("attempt %d: the line lacks %s:\n%s", attempt, w, l)
				}
			}
			if len(l) > 800 {
				t.Errorf("attempt %d: a line of %d bytes; the receiver's answer is not bounded:\n%s", attempt, len(l), l)
			}
		}
	}
	for _, secret := range []string{credential, "q-secret-123"} {
		if strings.Contains(env.Log.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, env.Log.String())
		}
	}
}
