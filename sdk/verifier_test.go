package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

// start is the time every test's clock starts at.
var start = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// env is a fake issuer, a clock they share, and a verifier following the
// issuer. The issuer sends heartbeats only when told, so nothing arrives
// that a test did not ask for.
type env struct {
	t     testing.TB
	iss   *sdktest.Issuer
	clock *sdktest.Clock
	v     *sdk.Verifier
}

func newEnv(t testing.TB, configure func(*sdk.Config), opts ...sdktest.Option) *env {
	t.Helper()
	e := newIssuerEnv(t, opts...)
	e.start(configure)
	return e
}

// newIssuerEnv is an env without its verifier yet, for a test that sets the
// issuer up first; start adds the verifier.
func newIssuerEnv(t testing.TB, opts ...sdktest.Option) *env {
	t.Helper()
	e := &env{t: t, clock: sdktest.NewClock(start)}
	e.iss = sdktest.NewIssuer(t, append([]sdktest.Option{sdktest.WithClock(e.clock.Now), sdktest.WithHeartbeat(0)}, opts...)...)
	return e
}

// start makes the verifier, from config changed by configure (if not nil),
// and closes it when the test ends.
func (e *env) start(configure func(*sdk.Config)) {
	e.t.Helper()
	cfg := e.config()
	if configure != nil {
		configure(&cfg)
	}
	v, err := sdk.New(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("sdk.New: %v", err)
	}
	e.t.Cleanup(v.Close)
	e.v = v
}

func (e *env) config() sdk.Config {
	return sdk.Config{
		Issuer: e.iss.URL, Audience: sdktest.DefaultAudience,
		ClientID: sdktest.ClientID, ClientSecret: sdktest.ClientSecret,
		Clock: e.clock.Now, Logger: testLogger(e.t),
	}
}

// ready waits, up to 10 s of real time, for the feed to be current.
func (e *env) ready() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.v.WaitReady(ctx); err != nil {
		e.t.Fatalf("WaitReady: %v (seq %d)", err, e.v.Seq())
	}
}

// advance moves the clock, and has the stream send a heartbeat so that the
// feed stays current.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.clock.Advance(d)
	e.iss.Heartbeat()
	e.ready()
}

// revoke revokes through the fake's stream and waits until the verifier has
// applied it.
func (e *env) revoke(kind, subject string) {
	e.t.Helper()
	e.sync(e.iss.Revoke(kind, subject))
}

func (e *env) sync(seq int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.v.WaitSeq(ctx, seq); err != nil {
		e.t.Fatalf("WaitSeq(%d): %v (at %d)", seq, err, e.v.Seq())
	}
}

func (e *env) verify(raw string) (*sdk.Claims, error) {
	return e.v.Verify(context.Background(), raw)
}

// testLogger logs to the test's output, so a failure shows what happened.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// wantReason fails unless err is an *sdk.Error of reason want.
func wantReason(t testing.TB, err error, want sdk.Reason) {
	t.Helper()
	var se *sdk.Error
	switch {
	case want == "" && err != nil:
		t.Fatalf("got %v, want no error", err)
	case want == "":
	case !errors.As(err, &se):
		t.Fatalf("got %v (%T), want an *sdk.Error with reason %q", err, err, want)
	case !errors.Is(err, want):
		t.Fatalf("got reason %q (%v), want %q", se.Reason, err, want)
	}
}

func TestVerifyClaims(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	jti := sdktest.NewJTI(start)
	raw := e.iss.Token(map[string]any{"jti": jti, "aud": []string{"https://other.example", sdktest.DefaultAudience}})
	for _, round := range []string{"first", "cached"} {
		c, err := e.verify(raw)
		if err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		want := sdk.Claims{Issuer: e.iss.URL, Subject: sdktest.ClientID, Audience: []string{"https://other.example", sdktest.DefaultAudience},
			Expiry: start.Add(sdktest.DefaultTTL), NotBefore: start, IssuedAt: start, ID: jti, ClientID: sdktest.ClientID,
			Scope: sdktest.DefaultScope, Principal: sdktest.Principal, KeyID: e.iss.KeyID()}
		if got := fmt.Sprintf("%+v", *c); got != fmt.Sprintf("%+v", want) {
			t.Errorf("%s: got claims\n%s\nwant\n%s", round, got, fmt.Sprintf("%+v", want))
		}
		if !c.HasScope("write") || c.HasScope("wri") || c.HasScope("admin") {
			t.Errorf("%s: HasScope wrong for scope %q", round, c.Scope)
		}
		if got := c.Scopes(); !slices.Equal(got, []string{"read", "write"}) {
			t.Errorf("%s: got scopes %q, want [read write]", round, got)
		}
		c.ClientID = "changed by the caller"
	}
}

// Every algorithm Mayfly signs with verifies, once its key is fetched.
func TestVerifyAlgorithms(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		kid := e.iss.RotateKey(alg)
		e.advance(11 * time.Second) // past the refetch limit
		c, err := e.verify(e.iss.Token(map[string]any{"iat": e.clock.Now(), "nbf": e.clock.Now(), "exp": e.clock.Now().Add(time.Minute)}))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if c.KeyID != kid {
			t.Errorf("%s: got kid %q, want %q", alg, c.KeyID, kid)
		}
	}
}

func TestTypes(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	for _, tc := range []struct {
		typ  any
		want sdk.Reason
	}{
		{"at+jwt", ""}, {"AT+JWT", ""}, {"application/at+jwt", ""}, {"Application/At+JWT", ""},
		{"JWT", sdk.BadType}, {"", sdk.BadType}, {nil, sdk.BadType}, {"at+jwt ", sdk.BadType}, {7, sdk.BadType},
		{"application/jwt", sdk.BadType}, {"id_token+jwt", sdk.BadType},
	} {
		t.Run(fmt.Sprint(tc.typ), func(t *testing.T) {
			_, err := e.verify(e.iss.TokenWithHeader(map[string]any{"typ": tc.typ}, nil))
			wantReason(t, err, tc.want)
		})
	}
}

// Leeway: none on exp, Config.Leeway on nbf and iat.
func TestTimes(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   sdk.Reason
	}{
		{"valid", nil, ""},
		{"expires now", map[string]any{"exp": start}, sdk.Expired},
		{"expired a second ago", map[string]any{"exp": start.Add(-time.Second)}, sdk.Expired},
		{"expires in a second", map[string]any{"exp": start.Add(time.Second)}, ""},
		{"nbf within leeway", map[string]any{"nbf": start.Add(30 * time.Second)}, ""},
		{"nbf beyond leeway", map[string]any{"nbf": start.Add(31 * time.Second)}, sdk.NotYetValid},
		{"no nbf", map[string]any{"nbf": nil}, ""},
		{"iat within leeway", map[string]any{"iat": start.Add(30 * time.Second)}, ""},
		{"iat beyond leeway", map[string]any{"iat": start.Add(31 * time.Second)}, sdk.NotYetValid},
		// Whole seconds, as Mayfly writes them and its own verifier reads them.
		{"fractional exp", map[string]any{"exp": float64(start.Unix()) + 60.5}, sdk.Malformed},
		{"exp in exponent form", map[string]any{"exp": json.Number(fmt.Sprintf("%de0", start.Unix()+60))}, sdk.Malformed},
		{"lifetime of an hour", map[string]any{"iat": start.Add(-time.Minute), "exp": start.Add(59 * time.Minute)}, ""},
		{"lifetime over an hour", map[string]any{"iat": start.Add(-time.Minute), "exp": start.Add(59*time.Minute + time.Second)}, sdk.TooLong},
		{"exp a string", map[string]any{"exp": "tomorrow"}, sdk.Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.verify(e.iss.Token(tc.claims))
			wantReason(t, err, tc.want)
		})
	}
}

func TestLeewayConfigured(t *testing.T) {
	e := newEnv(t, func(c *sdk.Config) { c.Leeway = -1 })
	e.ready()
	_, err := e.verify(e.iss.Token(map[string]any{"nbf": start.Add(time.Second)}))
	wantReason(t, err, sdk.NotYetValid)
	_, err = e.verify(e.iss.Token(map[string]any{"nbf": start}))
	wantReason(t, err, "")
}

// A cached token is checked again on every use: expiry, revocation, its key,
// the feed's freshness.
func TestCachedTokenRechecked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *env, raw string)
		want   sdk.Reason
	}{
		{"expires", func(e *env, raw string) { e.advance(sdktest.DefaultTTL) }, sdk.Expired},
		{"jti revoked", func(e *env, raw string) {
			c, _ := e.verify(raw)
			e.revoke(sdktest.JTI, c.ID)
		}, sdk.Revoked},
		{"client revoked", func(e *env, raw string) { e.revoke(sdktest.Client, sdktest.ClientID) }, sdk.Revoked},
		{"key revoked", func(e *env, raw string) { e.revoke(sdktest.Key, e.iss.KeyID()) }, sdk.Revoked},
		{"principal revoked", func(e *env, raw string) { e.revoke(sdktest.Person, sdktest.Principal) }, sdk.Revoked},
		{"not-before mark", func(e *env, raw string) {
			e.advance(time.Second)
			e.revoke(sdktest.NotBefore, sdktest.Principal)
		}, sdk.Revoked},
		{"key unpublished", func(e *env, raw string) {
			kid := e.iss.KeyID()
			e.iss.RotateKey("ES256")
			e.iss.Unpublish(kid)
			e.advance(11 * time.Second)
			// An unknown kid makes the verifier fetch the new key set.
			e.verify(e.iss.Token(nil))
		}, sdk.UnknownKey},
		{"feed stale", func(e *env, raw string) {
			e.iss.PauseStream()
			e.clock.Advance(31 * time.Second)
		}, sdk.Stale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.ready()
			raw := e.iss.Token(nil)
			for range 2 {
				if _, err := e.verify(raw); err != nil {
					t.Fatal(err)
				}
			}
			tc.change(e, raw)
			for range 2 {
				_, err := e.verify(raw)
				wantReason(t, err, tc.want)
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	e := newEnv(t, func(c *sdk.Config) { c.CacheSize = 4 })
	e.ready()
	var toks []string
	for range 20 {
		toks = append(toks, e.iss.Token(nil))
	}
	for range 3 {
		for _, raw := range toks {
			if _, err := e.verify(raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.revoke(sdktest.Client, sdktest.ClientID)
	for _, raw := range toks {
		_, err := e.verify(raw)
		wantReason(t, err, sdk.Revoked)
	}
}

func TestConfigRequired(t *testing.T) {
	e := newEnv(t, nil)
	good := e.config()
	for _, tc := range []struct {
		name   string
		change func(*sdk.Config)
	}{
		{"no issuer", func(c *sdk.Config) { c.Issuer = "" }},
		{"no audience", func(c *sdk.Config) { c.Audience = "" }},
		{"no credentials", func(c *sdk.Config) { c.ClientID, c.ClientSecret = "", "" }},
		{"no secret", func(c *sdk.Config) { c.ClientSecret = "" }},
		{"both credentials", func(c *sdk.Config) { c.AdminToken = sdktest.AdminToken }},
		{"issuer not a URL", func(c *sdk.Config) { c.Issuer = "auth.example" }},
		{"issuer with a query", func(c *sdk.Config) { c.Issuer = e.iss.URL + "?x=1" }},
		{"another issuer", func(c *sdk.Config) { c.Issuer = e.iss.URL + "/tenant" }},
		{"issuer with a slash", func(c *sdk.Config) { c.Issuer = e.iss.URL + "/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			v, err := sdk.New(context.Background(), cfg)
			if err == nil {
				v.Close()
				t.Fatalf("got a verifier, want an error")
			}
			t.Log(err)
		})
	}
}

// The discovery document must name the configured issuer; its keys may live
// elsewhere, and OpenID Connect's location is tried after RFC 8414's.
func TestDiscovery(t *testing.T) {
	iss := sdktest.NewIssuer(t, sdktest.WithHeartbeat(0))
	var self string
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, self, iss.URL+"/oauth2/jwks")
		case "/liar/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss.URL, iss.URL+"/oauth2/jwks")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	self = srv.URL
	cfg := sdk.Config{Issuer: self, Audience: sdktest.DefaultAudience, AdminToken: "x"}
	v, err := sdk.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if want := []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}; !slices.Equal(hits, want) {
		t.Errorf("got requests %q, want %q", hits, want)
	}
	cfg.Issuer = self + "/liar"
	if v, err := sdk.New(context.Background(), cfg); err == nil {
		v.Close()
		t.Fatalf("a document naming another issuer was accepted")
	}
}

func TestAdminToken(t *testing.T) {
	e := newEnv(t, func(c *sdk.Config) { c.ClientID, c.ClientSecret, c.AdminToken = "", "", sdktest.AdminToken })
	e.ready()
	if _, err := e.verify(e.iss.Token(nil)); err != nil {
		t.Fatal(err)
	}
}

// Wrong credentials: the stream answers 401, so the feed never catches up
// and every token is refused.
func TestBadCredentials(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*sdk.Config)
	}{
		{"wrong secret", func(c *sdk.Config) { c.ClientSecret = "mfs_wrong" }},
		{"wrong admin token", func(c *sdk.Config) { c.ClientID, c.ClientSecret, c.AdminToken = "", "", "mfa_wrong" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := make(chan struct{}, 100)
			e := newEnv(t, func(c *sdk.Config) {
				tc.change(c)
				c.Logger = slog.New(&signal{msg: "sdk: revocation stream refused", ch: refused, next: c.Logger.Handler()})
			})
			<-refused
			if e.v.Ready() {
				t.Errorf("got Ready with refused credentials")
			}
			_, err := e.verify(e.iss.Token(nil))
			wantReason(t, err, sdk.Stale)
		})
	}
}

// signal is a slog.Handler that tells ch whenever msg is logged.
type signal struct {
	msg  string
	ch   chan struct{}
	next slog.Handler
}

func (s *signal) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (s *signal) WithAttrs(as []slog.Attr) slog.Handler {
	return &signal{s.msg, s.ch, s.next.WithAttrs(as)}
}
func (s *signal) WithGroup(g string) slog.Handler { return &signal{s.msg, s.ch, s.next.WithGroup(g)} }
func (s *signal) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, s.msg) {
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
	return s.next.Handle(ctx, r)
}

func TestClose(t *testing.T) {
	e := newEnv(t, nil)
	e.ready()
	raw := e.iss.Token(nil)
	if _, err := e.verify(raw); err != nil {
		t.Fatal(err)
	}
	e.v.Close()
	e.v.Close()
	_, err := e.verify(raw)
	wantReason(t, err, sdk.Stale)
	if e.v.Ready() {
		t.Errorf("got Ready after Close")
	}
	if err := e.v.WaitReady(context.Background()); !errors.Is(err, sdk.Stale) {
		t.Errorf("got WaitReady %v after Close, want Stale", err)
	}
}
