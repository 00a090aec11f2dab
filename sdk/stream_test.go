package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

// Each kind of revocation the stream sends withdraws what it should, and
// nothing else.
func TestRevocations(t *testing.T) {
	ms := time.Millisecond
	jtiAt := func(d time.Duration) string { return sdktest.NewJTI(start.Add(d)) }
	for _, tc := range []struct {
		name    string
		revoke  sdktest.Revocation
		claims  map[string]any // the token's, over the defaults
		revoked bool
	}{
		{"jti", sdktest.Revocation{Kind: sdktest.JTI, Subject: "the-jti"}, map[string]any{"jti": "the-jti"}, true},
		{"another jti", sdktest.Revocation{Kind: sdktest.JTI, Subject: "the-jti"}, map[string]any{"jti": "other-jti"}, false},
		{"jti until past", sdktest.Revocation{Kind: sdktest.JTI, Subject: "the-jti", Until: start.Add(-time.Hour)}, map[string]any{"jti": "the-jti"}, true},
		{"client", sdktest.Revocation{Kind: sdktest.Client, Subject: sdktest.ClientID}, nil, true},
		{"another client", sdktest.Revocation{Kind: sdktest.Client, Subject: "mfc_other"}, nil, false},
		{"client named as a principal", sdktest.Revocation{Kind: sdktest.Person, Subject: sdktest.ClientID}, nil, false},
		{"kid", sdktest.Revocation{Kind: sdktest.Key, Subject: "KID"}, nil, true},
		{"another kid", sdktest.Revocation{Kind: sdktest.Key, Subject: "ES256-other"}, nil, false},
		{"principal", sdktest.Revocation{Kind: sdktest.Person, Subject: sdktest.Principal}, nil, true},
		{"principal, token without one", sdktest.Revocation{Kind: sdktest.Person, Subject: sdktest.Principal}, map[string]any{"principal": nil}, false},
		{"principal named as a client", sdktest.Revocation{Kind: sdktest.Client, Subject: sdktest.Principal}, nil, false},
		{"unknown kind", sdktest.Revocation{Kind: "tenant", Subject: sdktest.ClientID}, nil, false},

		// A suspension holds every token of its subject, however new.
		{"suspend the client", sdktest.Revocation{Kind: sdktest.Suspend, Subject: sdktest.ClientID}, map[string]any{"jti": jtiAt(time.Hour)}, true},
		{"suspend the principal", sdktest.Revocation{Kind: sdktest.Suspend, Subject: sdktest.Principal}, map[string]any{"jti": jtiAt(time.Hour)}, true},
		{"suspend another principal", sdktest.Revocation{Kind: sdktest.Suspend, Subject: "prn_other"}, nil, false},
		{"suspend the principal, token without one", sdktest.Revocation{Kind: sdktest.Suspend, Subject: sdktest.Principal}, map[string]any{"principal": nil}, false},
		{"resume alone is a not-before mark", sdktest.Revocation{Kind: sdktest.Resume, Subject: sdktest.ClientID, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(400 * ms)}, true},
		{"resume alone, issued after", sdktest.Revocation{Kind: sdktest.Resume, Subject: sdktest.ClientID, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(600 * ms)}, false},

		// Not-before marks: the issue time is the jti's millisecond when the
		// jti is a Mayfly jti inside iat's second, else iat.
		{"nbf on the principal, issued before", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(400 * ms)}, true},
		{"nbf on the principal, issued after", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(600 * ms)}, false},
		{"nbf, issued at the mark", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(500 * ms)}, false},
		{"nbf on the client, issued before", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.ClientID, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(400 * ms)}, true},
		{"nbf on another principal", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: "prn_other", At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(400 * ms)}, false},
		{"nbf, jti outside iat's second counts for nothing", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(1200 * ms)}, true},
		{"nbf, jti before iat counts for nothing", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(-500 * ms)},
			map[string]any{"jti": jtiAt(-600 * ms)}, false},
		{"nbf, jti not Mayfly's", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": "x"}, true},
		{"nbf, jti in upper case", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": strings.ToUpper(jtiAt(600 * ms))}, true},
		{"nbf, iat after the mark", sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": "x", "iat": start.Add(time.Second)}, false},

		// Marks on a token's subject, such as a customer's, and on its
		// namespace: the part of sub before its first colon.
		{"sub, issued before", sdktest.Revocation{Kind: sdktest.Subject, Subject: "customer:42", At: start.Add(500 * ms)},
			map[string]any{"sub": "customer:42", "jti": jtiAt(400 * ms)}, true},
		{"sub, issued after", sdktest.Revocation{Kind: sdktest.Subject, Subject: "customer:42", At: start.Add(500 * ms)},
			map[string]any{"sub": "customer:42", "jti": jtiAt(600 * ms)}, false},
		{"sub, another subject", sdktest.Revocation{Kind: sdktest.Subject, Subject: "customer:42", At: start.Add(500 * ms)},
			map[string]any{"sub": "customer:43", "jti": jtiAt(400 * ms)}, false},
		{"sub named as a principal", sdktest.Revocation{Kind: sdktest.Subject, Subject: sdktest.Principal, At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(400 * ms)}, false},
		{"ns, issued before", sdktest.Revocation{Kind: sdktest.Namespace, Subject: "customer", At: start.Add(500 * ms)},
			map[string]any{"sub": "customer:42", "jti": jtiAt(400 * ms)}, true},
		{"ns, issued after", sdktest.Revocation{Kind: sdktest.Namespace, Subject: "customer", At: start.Add(500 * ms)},
			map[string]any{"sub": "customer:42", "jti": jtiAt(600 * ms)}, false},
		{"ns, another namespace", sdktest.Revocation{Kind: sdktest.Namespace, Subject: "customer", At: start.Add(500 * ms)},
			map[string]any{"sub": "customers:42", "jti": jtiAt(400 * ms)}, false},
		{"ns, a service's token", sdktest.Revocation{Kind: sdktest.Namespace, Subject: "customer", At: start.Add(500 * ms)},
			map[string]any{"jti": jtiAt(400 * ms)}, false},
		{"ns, a sub without a colon", sdktest.Revocation{Kind: sdktest.Namespace, Subject: "customer", At: start.Add(500 * ms)},
			map[string]any{"sub": "customer", "jti": jtiAt(400 * ms)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.ready()
			if tc.revoke.Subject == "KID" {
				tc.revoke.Subject = e.iss.KeyID()
			}
			raw := e.iss.Token(tc.claims)
			e.sync(e.iss.Add(tc.revoke))
			_, err := e.verify(raw)
			if tc.revoked {
				wantReason(t, err, sdk.Revoked)
			} else {
				wantReason(t, err, "")
			}
		})
	}
}

// A not-before mark only rises: a later revocation with an earlier mark does
// not let through the tokens an earlier one withdrew.
func TestNotBeforeMarkOnlyRises(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	raw := e.iss.Token(map[string]any{"jti": sdktest.NewJTI(start.Add(400 * time.Millisecond))})
	for _, mark := range []time.Duration{500 * time.Millisecond, 200 * time.Millisecond} {
		e.sync(e.iss.Add(sdktest.Revocation{Kind: sdktest.NotBefore, Subject: sdktest.Principal, At: start.Add(mark)}))
	}
	_, err := e.verify(raw)
	wantReason(t, err, sdk.Revoked)
}

// A resume lifts the newest suspension of its subject, and no token issued
// before it, during the suspension or earlier, comes back.
func TestSuspendThenResume(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	jti := func(d time.Duration) string { return sdktest.NewJTI(start.Add(d)) }
	before := e.iss.Token(map[string]any{"jti": jti(100 * time.Millisecond)})
	e.sync(e.iss.Add(sdktest.Revocation{Kind: sdktest.Suspend, Subject: sdktest.Principal, At: start.Add(200 * time.Millisecond)}))
	during := e.iss.Token(map[string]any{"jti": jti(300 * time.Millisecond)})
	for _, raw := range []string{before, during} {
		_, err := e.verify(raw)
		wantReason(t, err, sdk.Revoked)
	}
	e.sync(e.iss.Add(sdktest.Revocation{Kind: sdktest.Resume, Subject: sdktest.Principal, At: start.Add(400 * time.Millisecond)}))
	for _, raw := range []string{before, during} {
		_, err := e.verify(raw)
		wantReason(t, err, sdk.Revoked)
	}
	_, err := e.verify(e.iss.Token(map[string]any{"jti": jti(500 * time.Millisecond)}))
	wantReason(t, err, "")
	// Suspended again: held again.
	e.sync(e.iss.Add(sdktest.Revocation{Kind: sdktest.Suspend, Subject: sdktest.Principal, At: start.Add(600 * time.Millisecond)}))
	_, err = e.verify(e.iss.Token(map[string]any{"jti": jti(700 * time.Millisecond)}))
	wantReason(t, err, sdk.Revoked)
}

// A revocation is forgotten only MaxLifetime after its until, when no token
// it concerns can still be valid, though the stream prunes as it goes.
func TestRevocationOutlivesUntil(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	raw := e.iss.Token(map[string]any{"jti": "the-jti"})
	// The heartbeat two minutes on prunes (a minute has passed since the
	// last prune), a second short of MaxLifetime after until. The revocation
	// after it is applied once that is done.
	until := start.Add(2*time.Minute - sdk.MaxLifetime + time.Second)
	e.sync(e.iss.Add(sdktest.Revocation{Kind: sdktest.JTI, Subject: "the-jti", Until: until}))
	e.advance(2 * time.Minute)
	e.revoke(sdktest.JTI, "another-jti")
	_, err := e.verify(raw)
	wantReason(t, err, sdk.Revoked)
}

// Revocations made before the verifier connects are replayed, and the feed
// is not current until the replay is done.
func TestReplay(t *testing.T) {
	e := newIssuerEnv(t)
	raw := e.iss.Token(nil)
	other := e.iss.Token(map[string]any{"client_id": "mfc_other"})
	for i := range 100 {
		e.iss.Revoke(sdktest.JTI, fmt.Sprint("jti-", i))
	}
	e.iss.Revoke(sdktest.Client, sdktest.ClientID)
	e.start(nil)
	e.ready()
	if got := e.v.Seq(); got != 101 {
		t.Errorf("got seq %d, want 101", got)
	}
	_, err := e.verify(raw)
	wantReason(t, err, sdk.Revoked)
	_, err = e.verify(other)
	wantReason(t, err, "")
}

// The feed goes stale when the stream is silent for longer than MaxStale,
// by the verifier's clock: every token is refused, cached or not. When the
// stream speaks again, tokens are accepted again.
func TestStaleAndRecovery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cut    func(*sdktest.Issuer)
		resume func(*sdktest.Issuer)
	}{
		{"paused", (*sdktest.Issuer).PauseStream, (*sdktest.Issuer).ResumeStream},
		{"closed", (*sdktest.Issuer).CloseStream, (*sdktest.Issuer).ResumeStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *sdk.Config) { c.MaxStale = 20 * time.Second })
			e.ready()
			cached := e.iss.Token(nil)
			if _, err := e.verify(cached); err != nil {
				t.Fatal(err)
			}
			tc.cut(e.iss)
			e.clock.Advance(20 * time.Second)
			if _, err := e.verify(cached); err != nil {
				t.Fatalf("at MaxStale: %v", err)
			}
			e.clock.Advance(time.Millisecond)
			for _, raw := range []string{cached, e.iss.Token(nil)} {
				_, err := e.verify(raw)
				wantReason(t, err, sdk.Stale)
			}
			if e.v.Ready() {
				t.Errorf("got Ready while stale")
			}
			// A revocation made while the verifier cannot hear it.
			revoked := e.iss.Token(map[string]any{"jti": "revoked-while-away"})
			seq := e.iss.Revoke(sdktest.JTI, "revoked-while-away")

			tc.resume(e.iss)
			e.ready()
			e.sync(seq)
			for _, raw := range []string{cached, e.iss.Token(nil)} {
				if _, err := e.verify(raw); err != nil {
					t.Fatalf("after recovery: %v", err)
				}
			}
			_, err := e.verify(revoked)
			wantReason(t, err, sdk.Revoked)
		})
	}
}

// A verifier that has never caught up refuses everything.
func TestNeverReady(t *testing.T) {
	e := newIssuerEnv(t)
	e.iss.PauseStream()
	e.start(nil)
	_, err := e.verify(e.iss.Token(nil))
	wantReason(t, err, sdk.Stale)
	if e.v.Ready() {
		t.Errorf("got Ready before the stream caught up")
	}
	e.iss.ResumeStream()
	e.ready()
	_, err = e.verify(e.iss.Token(nil))
	wantReason(t, err, "")
}

// Revocations replayed on a connection do not make the feed current; only
// "ready" does.
func TestReplayIsNotCurrent(t *testing.T) {
	e := newIssuerEnv(t)
	release := make(chan struct{})
	u := fakeStream(t, e.iss, func(w http.ResponseWriter, r *http.Request, n int) {
		fmt.Fprint(w, "id: 1\nevent: revocation\ndata: {\"seq\":1,\"kind\":\"jti\",\"subject\":\"x\",\"at\":\"2026-11-24T10:00:00Z\"}\n\n")
		fmt.Fprint(w, "event: heartbeat\ndata: {\"seq\":1,\"time\":\"2026-11-24T10:00:00Z\"}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "event: ready\ndata: {\"seq\":1}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	e.start(issuerAt(u))
	e.sync(1)
	_, err := e.verify(e.iss.Token(map[string]any{"iss": u}))
	wantReason(t, err, sdk.Stale)
	close(release)
	e.ready()
	_, err = e.verify(e.iss.Token(map[string]any{"iss": u}))
	wantReason(t, err, "")
}

// A dropped connection is resumed after the last revocation applied, with
// Last-Event-ID, and nothing revoked meanwhile is missed.
func TestResume(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	e.revoke(sdktest.JTI, "a")
	e.revoke(sdktest.JTI, "b")
	for round := range 3 {
		e.iss.PauseStream()
		e.iss.DropStream()
		seq := e.iss.Revoke(sdktest.JTI, fmt.Sprint("while-away-", round))
		e.iss.ResumeStream()
		e.sync(seq)
	}
	got := e.iss.ResumePoints()
	// The connection after each drop resumes where the verifier was; a
	// reconnection that raced the pause may add a repeat.
	got = slices.Compact(got)
	if want := []int64{0, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("got resume points %v, want %v", got, want)
	}
	for _, jti := range []string{"a", "b", "while-away-0", "while-away-1", "while-away-2"} {
		_, err := e.verify(e.iss.Token(map[string]any{"jti": jti}))
		wantReason(t, err, sdk.Revoked)
	}
}

// fakeStream serves discovery naming itself, the keys of a fake issuer, and
// a revocation stream written by the test.
func fakeStream(t *testing.T, iss *sdktest.Issuer, stream func(w http.ResponseWriter, r *http.Request, n int)) string {
	var self string
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, self, iss.URL+"/oauth2/jwks")
		case "/v1/revocations/stream":
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			stream(w, r, i)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	self = srv.URL
	return self
}

// issuerAt configures a verifier for the issuer at u, a fakeStream.
func issuerAt(u string) func(*sdk.Config) {
	return func(c *sdk.Config) { c.Issuer = u }
}

// A stream that breaks the protocol is dropped and reconnected; the feed is
// current only once a connection has caught up properly.
func TestStreamProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  string
	}{
		{"oversized line", "data: " + strings.Repeat("x", 70<<10) + "\n\n"},
		{"oversized event", strings.Repeat("data: "+strings.Repeat("x", 60<<10)+"\n", 20) + "\n"},
		{"revocation not JSON", "event: revocation\ndata: {\n\n"},
		{"revocation without seq", "event: revocation\ndata: {\"kind\":\"jti\",\"subject\":\"x\"}\n\n"},
		{"revocation without subject", "event: revocation\ndata: {\"seq\":1,\"kind\":\"jti\"}\n\n"},
		{"nbf without at", "event: revocation\ndata: {\"seq\":1,\"kind\":\"nbf\",\"subject\":\"x\"}\n\n"},
		{"ready not JSON", "event: ready\ndata: ready\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIssuerEnv(t)
			good := make(chan struct{})
			u := fakeStream(t, e.iss, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					fmt.Fprint(w, "retry: 1000\n\n"+tc.bad+"event: ready\ndata: {\"seq\":0}\n\n")
					return
				}
				fmt.Fprint(w, "retry: 1000\n\nid: 1\nevent: revocation\ndata: {\"seq\":1,\"kind\":\"client\",\"subject\":\"mfc_sdktest\",\"at\":\"2026-11-24T10:00:00Z\"}\n\nevent: ready\ndata: {\"seq\":1}\n\n")
				w.(http.Flusher).Flush()
				close(good)
				<-r.Context().Done()
			})
			e.start(issuerAt(u))
			<-good
			e.ready()
			_, err := e.verify(e.iss.Token(map[string]any{"iss": u}))
			wantReason(t, err, sdk.Revoked)
		})
	}
}

// The SSE framing Mayfly might use, or a proxy might rewrite it to: CRLF or
// CR line ends, comments, multi-line data, fields the verifier does not
// know.
func TestStreamFraming(t *testing.T) {
	rev := `{"seq":7,"kind":"client","subject":"mfc_sdktest","at":"2026-11-24T10:00:00Z","reason":"offboarded"}`
	for _, tc := range []struct {
		name, body string
	}{
		{"LF", "retry: 1000\n\nid: 7\nevent: revocation\ndata: " + rev + "\n\nevent: ready\ndata: {\"seq\":7}\n\n"},
		{"CRLF", "retry: 1000\r\n\r\nid: 7\r\nevent: revocation\r\ndata: " + rev + "\r\n\r\nevent: ready\r\ndata: {\"seq\":7}\r\n\r\n"},
		{"CR", "retry: 1000\r\rid: 7\revent: revocation\rdata: " + rev + "\r\revent: ready\rdata: {\"seq\":7}\r\r"},
		{"comments and unknown fields", ": hello\n\nid: 7\nfoo: bar\nevent: revocation\n: in between\ndata:" + rev + "\nshard: 3\n\n:ping\n\nevent: ready\ndata: {\"seq\":7}\n\n"},
		{"multi-line data", "id: 7\nevent: revocation\ndata: {\"seq\":7,\ndata: \"kind\":\"client\",\"subject\":\"mfc_sdktest\",\ndata: \"at\":\"2026-11-24T10:00:00Z\"}\n\nevent: ready\ndata: {\"seq\":7}\n\n"},
		{"unknown events", "event: hello\ndata: {}\n\ndata: a message\n\nid: 7\nevent: revocation\ndata: " + rev + "\n\nevent: ready\ndata: {\"seq\":7}\n\n"},
		{"byte order mark", "\xef\xbb\xbfid: 7\nevent: revocation\ndata: " + rev + "\n\nevent: ready\ndata: {\"seq\":7}\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIssuerEnv(t)
			u := fakeStream(t, e.iss, func(w http.ResponseWriter, r *http.Request, n int) {
				fmt.Fprint(w, tc.body)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
			e.start(issuerAt(u))
			e.ready()
			if got := e.v.Seq(); got != 7 {
				t.Errorf("got seq %d, want 7", got)
			}
			_, err := e.verify(e.iss.Token(map[string]any{"iss": u}))
			wantReason(t, err, sdk.Revoked)
		})
	}
}

// The stream is asked for with the credentials as RFC 6749 encodes them,
// and a resume point once there is one.
func TestStreamRequest(t *testing.T) {
	e := newIssuerEnv(t)
	reqs := make(chan *http.Request, 10)
	u := fakeStream(t, e.iss, func(w http.ResponseWriter, r *http.Request, n int) {
		reqs <- r.Clone(context.Background())
		if n == 1 {
			fmt.Fprint(w, "id: 41\nevent: revocation\ndata: {\"seq\":41,\"kind\":\"jti\",\"subject\":\"x\",\"at\":\"2026-11-24T10:00:00Z\"}\n\nevent: ready\ndata: {\"seq\":41}\n\n")
			return
		}
		<-r.Context().Done()
	})
	e.start(func(c *sdk.Config) { c.Issuer, c.ClientID, c.ClientSecret = u, "mfc_a:b", "s p+a/c%e" })
	first, second := <-reqs, <-reqs
	for _, tc := range []struct{ name, got, want string }{
		{"Accept", first.Header.Get("Accept"), "text/event-stream"},
		{"first Last-Event-ID", first.Header.Get("Last-Event-ID"), ""},
		{"second Last-Event-ID", second.Header.Get("Last-Event-ID"), "41"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	id, secret, _ := first.BasicAuth()
	if id != "mfc_a%3Ab" || secret != "s+p%2Ba%2Fc%25e" {
		t.Errorf("got Basic %q:%q, want each part form-encoded", id, secret)
	}
}

// WaitReady and WaitSeq give up with their context.
func TestWaitContext(t *testing.T) {
	e := newIssuerEnv(t)
	e.iss.CloseStream()
	e.start(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.v.WaitReady(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitReady: got %v, want context.Canceled", err)
	}
	if err := e.v.WaitSeq(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSeq: got %v, want context.Canceled", err)
	}
}
