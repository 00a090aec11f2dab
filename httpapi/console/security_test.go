package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi/console"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// user is a browser without a browser: a cookie jar over real HTTP.
type user struct {
	t    *testing.T
	e    *servertest.Env
	c    *http.Client
	base string
}

func newUser(t *testing.T, e *servertest.Env) *user {
	return &user{t: t, e: e, base: e.URL + console.Path, c: newUserClient()}
}

// newUserClient is an HTTP client with a cookie jar that does not follow
// redirects.
func newUserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends a request with headers; it returns the status, headers and body.
func (u *user) do(method, path string, form url.Values, header ...string) (int, http.Header, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(u.t.Context(), method, u.base+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func (u *user) login(token string) {
	u.t.Helper()
	if code, h, body := u.do("POST", "/login", url.Values{"token": {token}}); code != http.StatusSeeOther || h.Get("Location") != console.Path+"/" {
		u.t.Fatalf("login: %d %s %s", code, h.Get("Location"), body)
	}
}

// fixture is a server with a person owning a client, an open alert, and
// a second administrator.
type fixture struct {
	e              *servertest.Env
	person, client string
	secret         string
	alert          string
	kid            string
	keys           int
}

func newFixture(t *testing.T) *fixture {
	e := servertest.New(t)
	f := &fixture{e: e}
	f.person = e.Human("dana")
	c, secret := e.NewClient(api.ClientRequest{Name: "dana-ci", Owner: f.person})
	f.client, f.secret = c.ID, secret
	keys, err := e.Admin.Keys(t.Context(), "default")
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %d", err, len(keys))
	}
	f.kid, f.keys = keys[0].KID, len(keys)
	var alerts []*mayfly.Alert
	err = e.Server.Audit.Update(t.Context(), func(tx mayfly.Tx) (err error) {
		alerts, err = e.Server.Alerts.Raise(tx, []mayfly.AlertSignal{{Rule: mayfly.RuleForgedToken, Subject: "kid:" + f.kid, Summary: "a forged token",
			Evidence: mayfly.AlertEvidence{Time: servertest.Epoch, Service: "orders", KID: f.kid, Detail: "no issuance record"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.alert = alerts[0].ID
	return f
}

// changes are every state-changing console request.
func (f *fixture) changes() []struct{ path string } {
	return []struct{ path string }{
		{"/people"}, {"/people/" + f.person + "/clients"}, {"/people/" + f.person + "/offboard"},
		{"/rings/default/rotate"}, {"/keys/" + f.kid + "/revoke"},
		{"/alerts/" + f.alert + "/ack"}, {"/alerts/" + f.alert + "/resolve"}, {"/audit/verify"},
	}
}

// unchanged checks nothing the changes would do was done.
func (f *fixture) unchanged(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if p, err := f.e.Admin.Principal(ctx, f.person); err != nil || p.Status != mayfly.Active {
		t.Errorf("dana after refused requests: %v %+v", err, p)
	}
	if k, err := f.e.Server.Keys.Key(f.kid); err != nil || !k.RevokedAt.IsZero() {
		t.Errorf("key after refused requests: %v %+v", err, k)
	}
	if ks := f.e.Server.Keys.Keys("default"); len(ks) != f.keys {
		t.Errorf("ring default after refused requests: %d keys; want %d (not rotated)", len(ks), f.keys)
	}
	if a, err := f.e.Admin.Alert(ctx, f.alert); err != nil || a.State != mayfly.AlertOpen {
		t.Errorf("alert after refused requests: %v %+v", err, a)
	}
	if _, err := f.e.Admin.Principal(ctx, "mallory"); mayfly.ErrorCode(err) != mayfly.NotFound {
		t.Errorf("mallory after refused requests: %v; want not found", err)
	}
}

func form() url.Values {
	return url.Values{"name": {"mallory"}, "reason": {"x"}, "note": {"x"}}
}

// TestConsoleRefusesStateChanges: every state change without a session,
// with the session of a revoked credential, or from another origin, is
// refused and changes nothing.
func TestConsoleRefusesStateChanges(t *testing.T) {
	f := newFixture(t)
	anon := newUser(t, f.e)
	for _, c := range f.changes() {
		if code, _, _ := anon.do("POST", c.path, form()); code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d; want 401", c.path, code)
		}
	}
	// A session whose credential is revoked afterwards.
	eve := f.e.Administrator("eve")
	cred, err := eve.CreateCredential(t.Context(), api.CredentialRequest{Name: "eve-console", Owner: "eve"})
	if err != nil {
		t.Fatal(err)
	}
	revoked := newUser(t, f.e)
	revoked.login(cred.Token)
	if code, _, _ := revoked.do("GET", "/", nil); code != http.StatusOK {
		t.Fatalf("overview before the revocation: %d", code)
	}
	if err := f.e.Admin.RevokeCredential(t.Context(), cred.ID, "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.changes() {
		if code, _, _ := revoked.do("POST", c.path, form()); code != http.StatusUnauthorized {
			t.Errorf("POST %s with a revoked credential's session: %d; want 401", c.path, code)
		}
	}
	if code, h, _ := revoked.do("GET", "/", nil); code != http.StatusSeeOther || h.Get("Location") != console.Path+"/login" {
		t.Errorf("overview with a revoked credential's session: %d %s; want the login page", code, h.Get("Location"))
	}
	// Cross-origin, with a good session: the browser says where the
	// request came from, by Sec-Fetch-Site or by Origin.
	good := newUser(t, f.e)
	good.login(f.e.Token)
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "same-site"}} {
		for _, c := range f.changes() {
			if code, _, _ := good.do("POST", c.path, form(), hdr...); code != http.StatusForbidden {
				t.Errorf("POST %s with %s: %s: %d; want 403", c.path, hdr[0], hdr[1], code)
			}
		}
		if code, _, _ := good.do("POST", "/login", url.Values{"token": {f.e.Token}}, hdr...); code != http.StatusForbidden {
			t.Errorf("cross-origin login with %v: %d; want 403 (login CSRF)", hdr, code)
		}
	}
	f.unchanged(t)
	// Logged out, the cookie the browser held is refused.
	cookies := good.c.Jar.Cookies(mustURL(t, good.base+"/"))
	good.do("POST", "/logout", nil)
	replay := newUser(t, f.e)
	replay.c.Jar.SetCookies(mustURL(t, good.base+"/"), cookies)
	if code, _, _ := replay.do("POST", "/people", form()); code != http.StatusUnauthorized {
		t.Errorf("a logged-out session's cookie: %d; want 401", code)
	}
	f.unchanged(t)
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConsolePages: every page answers with the CSP, shows no secret or
// key material, and a session cookie with the right attributes.
func TestConsolePages(t *testing.T) {
	f := newFixture(t)
	u := newUser(t, f.e)
	if _, _, ko := u.do("GET", "/login", nil, "Accept-Language", "ko-KR,ko;q=0.9,en;q=0.5"); !strings.Contains(ko, `lang="ko"`) || !strings.Contains(ko, "로그인") {
		t.Errorf("the login page for a Korean browser is not in Korean")
	}
	code, h, body := u.do("GET", "/login", nil)
	if code != http.StatusOK || h.Get("Content-Security-Policy") != console.CSP || !strings.Contains(body, `name="token"`) {
		t.Fatalf("login page: %d csp %q", code, h.Get("Content-Security-Policy"))
	}
	_, h, _ = u.do("POST", "/login", url.Values{"token": {f.e.Token}})
	cookie := h.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, f.e.Token) {
		t.Errorf("the session cookie holds the credential")
	}
	root, err := os.ReadFile(filepath.Join(f.e.Dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{f.secret, f.e.Token, strings.TrimSpace(string(root)), "PRIVATE KEY"}
	pages := []string{"/", "/rings", "/rings/default", "/rings/default/rotate", "/keys/" + f.kid + "/revoke", "/people", "/people?q=dan",
		"/people/" + f.person, "/people/" + f.person + "/offboard", "/tokens", "/audit", "/alerts", "/alerts/list", "/login", "/nosuch",
		"/static/console.css", "/static/console.js", "/audit/0/proof"}
	for _, p := range pages {
		code, h, body := u.do("GET", p, nil)
		if code != http.StatusOK && !(p == "/nosuch" && code == http.StatusNotFound) && !(p == "/login" && code == http.StatusSeeOther) {
			t.Errorf("GET %s: %d %.300s", p, code, body)
		}
		if h.Get("Content-Security-Policy") != console.CSP {
			t.Errorf("GET %s: CSP %q", p, h.Get("Content-Security-Policy"))
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				t.Errorf("GET %s shows a secret (%.8s…)", p, s)
			}
		}
	}
	// Each alert shows what its rule fires on, and the page lists the rules.
	if _, _, body := u.do("GET", "/alerts", nil); !strings.Contains(body, "no issuance record after 250ms") || !strings.Contains(body, `id="rules"`) {
		t.Errorf("the alerts page does not show the rules' thresholds")
	}
	// The session ends after it has been idle, and after its absolute
	// lifetime however busy it is.
	f.e.Clock.Advance(31 * time.Minute)
	if code, h, _ := u.do("GET", "/", nil); code != http.StatusSeeOther || h.Get("Location") != console.Path+"/login" {
		t.Errorf("after 31 idle minutes: %d %s; want the login page", code, h.Get("Location"))
	}
	u.login(f.e.Token)
	for range 25 {
		f.e.Clock.Advance(29 * time.Minute)
		u.do("GET", "/", nil)
	}
	if code, _, _ := u.do("GET", "/", nil); code != http.StatusSeeOther {
		t.Errorf("a busy session after 12 hours: %d; want it ended", code)
	}
}

// TestConsoleRoles: a read-only role sees no button that would fail, and
// the changes it may not make are refused; a SCIM credential may not sign
// in.
func TestConsoleRoles(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	aud, err := f.e.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "auditor", Role: mayfly.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	if aud.Pending != nil {
		t.Skip("credential creation waits for a second person here")
	}
	u := newUser(t, f.e)
	u.login(aud.Token)
	for _, p := range []string{"/", "/rings/default", "/people", "/people/" + f.person, "/alerts", "/audit"} {
		_, _, body := u.do("GET", p, nil)
		for _, button := range []string{`id="rotate"`, `id="offboard"`, `id="create-principal"`, `id="create-client"`, `class="ack"`, `class="resolve"`, "/revoke\""} {
			if strings.Contains(body, button) {
				t.Errorf("GET %s as an auditor shows %s", p, button)
			}
		}
	}
	for _, c := range f.changes() {
		code, _, _ := u.do("POST", c.path, form())
		if want := http.StatusForbidden; c.path == "/audit/verify" {
			if code != http.StatusOK {
				t.Errorf("POST %s as an auditor: %d; want 200", c.path, code)
			}
		} else if code != want {
			t.Errorf("POST %s as an auditor: %d; want %d", c.path, code, want)
		}
	}
	f.unchanged(t)
	scim, err := f.e.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "idp", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := newUser(t, f.e).do("POST", "/login", url.Values{"token": {scim.Token}}); code != http.StatusForbidden {
		t.Errorf("SCIM login: %d; want 403", code)
	}
	if code, _, body := newUser(t, f.e).do("POST", "/login", url.Values{"token": {"mfa_wrong"}}); code != http.StatusUnauthorized || strings.Contains(body, "mfa_wrong") {
		t.Errorf("bad login: %d, echoes the token: %v", code, strings.Contains(body, "mfa_wrong"))
	}
}

// TestConsoleOverviewStreams: the overview lists the verifiers following
// the revocation stream and the services reporting to the ledger, with
// how far behind each is.
func TestConsoleOverviewStreams(t *testing.T) {
	e := servertest.New(t)
	ctx := t.Context()
	svc, err := e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders", Kind: mayfly.Service, Owner: e.Human("alice")})
	if err != nil {
		t.Fatal(err)
	}
	c, secret := e.NewClient(api.ClientRequest{Name: "orders-client", Owner: svc.ID})
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+api.StreamPath, nil)
	req.SetBasicAuth(c.ID, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 4096)
	for got := ""; !strings.Contains(got, "event: ready"); {
		n, err := res.Body.Read(buf)
		if err != nil {
			t.Fatalf("the stream before ready: %v (%q)", err, got)
		}
		got += string(buf[:n])
	}
	hb := fmt.Sprintf(`{"service":"orders","time":%q,"revocation_seq":0}`, e.Clock.Now().Format(time.RFC3339))
	hreq, _ := http.NewRequest("POST", e.URL+api.LedgerHeartbeatPath, strings.NewReader(hb))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.SetBasicAuth(c.ID, secret)
	if r := e.Do(hreq); r.Status != http.StatusNoContent {
		t.Fatalf("heartbeat: %d %s", r.Status, r.Body)
	}
	u := newUser(t, e)
	u.login(e.Token)
	_, _, body := u.do("GET", "/", nil)
	if !strings.Contains(body, `id="subscriber-list"`) || !strings.Contains(body, c.ID) {
		t.Errorf("the overview does not list the verifier %s on the revocation stream", c.ID)
	}
	if !strings.Contains(body, "<td>orders</td>") {
		t.Errorf("the overview does not list the service orders reporting to the ledger")
	}
}
