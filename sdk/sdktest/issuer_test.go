package sdktest_test

import (
	"bufio"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

var start = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// open requests the stream and returns its response, closed at the end of
// the test.
func open(t *testing.T, u, auth string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// lines reads n lines of the stream.
func lines(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
	return out
}

// The stream, byte for byte as the protocol says.
func TestStreamWire(t *testing.T) {
	const u = "/v1/revocations/stream"
	for _, tc := range []struct {
		name   string
		url    string
		auth   string
		header http.Header
		want   []string
	}{
		{"from the start, client credentials", u, basic(sdktest.ClientID, sdktest.ClientSecret), nil, []string{
			"retry: 1000", "",
			"id: 1", "event: revocation", `data: {"seq":1,"kind":"jti","subject":"a","until":"2026-11-24T10:01:00Z","at":"2026-11-24T10:00:00Z"}`, "",
			"id: 2", "event: revocation", `data: {"seq":2,"kind":"client","subject":"mfc_b","at":"2026-11-24T10:00:00Z"}`, "",
			"event: ready", `data: {"seq":2}`, "",
		}},
		{"Last-Event-ID, admin token", u, "Bearer " + sdktest.AdminToken, http.Header{"Last-Event-Id": {"1"}}, []string{
			"retry: 1000", "",
			"id: 2", "event: revocation", `data: {"seq":2,"kind":"client","subject":"mfc_b","at":"2026-11-24T10:00:00Z"}`, "",
			"event: ready", `data: {"seq":2}`, "",
		}},
		{"after", u + "?after=2", basic(sdktest.ClientID, sdktest.ClientSecret), nil, []string{
			"retry: 1000", "", "event: ready", `data: {"seq":2}`, "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := sdktest.NewClock(start)
			is := sdktest.NewIssuer(t, sdktest.WithClock(clock.Now), sdktest.WithHeartbeat(0))
			is.Add(sdktest.Revocation{Kind: sdktest.JTI, Subject: "a", Until: start.Add(time.Minute)})
			is.Revoke(sdktest.Client, "mfc_b")
			resp := open(t, is.URL+tc.url, tc.auth, tc.header)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("got %s %q, want 200 text/event-stream", resp.Status, resp.Header.Get("Content-Type"))
			}
			r := bufio.NewReader(resp.Body)
			if got := lines(t, r, len(tc.want)); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// Then new revocations as they happen, and heartbeats.
			clock.Advance(time.Second)
			seq := is.Revoke(sdktest.NotBefore, "prn_c")
			is.Heartbeat()
			want := []string{
				"id: " + itoa(seq), "event: revocation", `data: {"seq":` + itoa(seq) + `,"kind":"nbf","subject":"prn_c","at":"2026-11-24T10:00:01Z"}`, "",
				"event: heartbeat", `data: {"seq":` + itoa(seq) + `,"time":"2026-11-24T10:00:01Z"}`, "",
			}
			got := lines(t, r, len(want))
			// The revocation and the heartbeat may arrive in one write.
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestStreamRefused(t *testing.T) {
	is := sdktest.NewIssuer(t)
	u := is.URL + "/v1/revocations/stream"
	for _, tc := range []struct {
		name, url, auth string
		status          int
	}{
		{"no credentials", u, "", 401},
		{"wrong secret", u, basic(sdktest.ClientID, "wrong"), 401},
		{"secret not form-encoded", u, "Basic " + base64.StdEncoding.EncodeToString([]byte(sdktest.ClientID+":"+sdktest.ClientSecret)), 401},
		{"wrong admin token", u, "Bearer mfa_wrong", 401},
		{"bad resume point", u + "?after=x", basic(sdktest.ClientID, sdktest.ClientSecret), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := open(t, tc.url, tc.auth, nil).StatusCode; got != tc.status {
				t.Errorf("got %d, want %d", got, tc.status)
			}
		})
	}
}

// Tokens carry a Mayfly jti: 26 characters of lower-case base32hex, whose
// first 6 bytes are the Unix milliseconds of issue.
func TestJTI(t *testing.T) {
	at := start.Add(1234 * time.Millisecond)
	jti := sdktest.NewJTI(at)
	b, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(jti))
	if err != nil || len(jti) != 26 || strings.ToLower(jti) != jti || len(b) != 16 {
		t.Fatalf("got jti %q (%v)", jti, err)
	}
	var ms int64
	for _, c := range b[:6] {
		ms = ms<<8 | int64(c)
	}
	if got := time.UnixMilli(ms); !got.Equal(at) {
		t.Errorf("got time %v, want %v", got, at)
	}
}
