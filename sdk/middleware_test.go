package sdk_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

func TestMiddleware(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	good := e.iss.Token(nil)
	revoked := e.iss.Token(map[string]any{"jti": "revoked"})
	e.revoke(sdktest.JTI, "revoked")
	realm := `Bearer realm="` + sdktest.DefaultAudience + `"`
	invalid := func(desc string) string {
		return realm + `, error="invalid_token", error_description="` + desc + `"`
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := sdk.ClaimsFrom(r.Context())
		if !ok {
			t.Errorf("no claims in the request's context")
			return
		}
		io.WriteString(w, "hello "+c.ClientID)
	})
	for _, tc := range []struct {
		name      string
		scopes    []string
		auth      []string // Authorization headers
		status    int
		challenge string
	}{
		{"valid", nil, []string{"Bearer " + good}, 200, ""},
		{"scheme in lower case", nil, []string{"bearer " + good}, 200, ""},
		{"scopes held", []string{"read", "write"}, []string{"Bearer " + good}, 200, ""},
		{"no header", nil, nil, 401, realm},
		{"basic", nil, []string{"Basic dXNlcjpwYXNz"}, 401, realm},
		{"empty bearer", nil, []string{"Bearer "}, 400, realm + `, error="invalid_request", error_description="malformed authorization header"`},
		{"two headers", nil, []string{"Bearer " + good, "Bearer " + good}, 400, realm + `, error="invalid_request", error_description="malformed authorization header"`},
		{"token with a space", nil, []string{"Bearer " + good + " x"}, 400, realm + `, error="invalid_request", error_description="malformed authorization header"`},
		{"garbage", nil, []string{"Bearer garbage"}, 401, invalid("malformed token")},
		{"revoked", nil, []string{"Bearer " + revoked}, 401, invalid("token revoked")},
		{"missing scope", []string{"read", "admin"}, []string{"Bearer " + good}, 403,
			realm + `, error="insufficient_scope", error_description="token lacks a required scope", scope="read admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sdk.NewMiddleware(e.v, tc.scopes...)
			r := httptest.NewRequest("GET", "/orders", nil)
			for _, a := range tc.auth {
				r.Header.Add("Authorization", a)
			}
			w := httptest.NewRecorder()
			m.Handler(hello).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("got status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("got WWW-Authenticate\n%s\nwant\n%s", got, tc.challenge)
			}
			if tc.status == 200 && w.Body.String() != "hello "+sdktest.ClientID {
				t.Errorf("got body %q, want the handler's", w.Body.String())
			}
		})
	}
}

// A stale feed is invalid_token, like any token the verifier cannot vouch for.
func TestMiddlewareStale(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	raw := e.iss.Token(nil)
	e.iss.PauseStream()
	e.clock.Advance(time.Minute)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	m := sdk.NewMiddleware(e.v)
	if _, err := m.Check(r); err == nil {
		t.Fatalf("Check accepted a token while the feed is stale")
	} else {
		wantReason(t, err, sdk.Stale)
	}
	w := httptest.NewRecorder()
	m.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	want := `Bearer realm="https://service.example", error="invalid_token", error_description="revocation feed is stale"`
	if got := w.Header().Get("WWW-Authenticate"); w.Code != 401 || got != want {
		t.Errorf("got %d %q, want 401 %q", w.Code, got, want)
	}
}

func TestClaimsContext(t *testing.T) {
	if c, ok := sdk.ClaimsFrom(context.Background()); ok || c != nil {
		t.Errorf("got %v, %v from an empty context", c, ok)
	}
	want := &sdk.Claims{ClientID: "mfc_x"}
	if got, ok := sdk.ClaimsFrom(sdk.WithClaims(context.Background(), want)); !ok || got != want {
		t.Errorf("got %v, %v; want %v", got, ok, want)
	}
	if _, ok := sdk.ClaimsFrom(sdk.WithClaims(context.Background(), nil)); ok {
		t.Errorf("nil claims found")
	}
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		reason sdk.Reason
		code   string
	}{
		{sdk.NoToken, ""}, {sdk.BadRequest, "invalid_request"}, {sdk.InsufficientScope, "insufficient_scope"},
		{sdk.Stale, "invalid_token"}, {sdk.Revoked, "invalid_token"}, {sdk.Malformed, "invalid_token"}, {sdk.Expired, "invalid_token"},
	} {
		err := &sdk.Error{Reason: tc.reason, Detail: "detail", Err: io.EOF}
		if got := err.Code(); got != tc.code {
			t.Errorf("%s: got code %q, want %q", tc.reason, got, tc.code)
		}
		if !(errors.Is(err, tc.reason) && errors.Is(err, io.EOF)) {
			t.Errorf("%s: errors.Is does not find the reason and the cause in %v", tc.reason, err)
		}
	}
}
