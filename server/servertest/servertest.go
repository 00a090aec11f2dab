// Package servertest runs a complete Mayfly on a loopback port for tests:
// real SQLite in a temporary directory, real HTTP, and a clock the test
// moves by hand. With MAYFLY_TEST_STORE=postgres, every server stores its
// state in a fresh schema of the PostgreSQL that MAYFLY_TEST_POSTGRES names
// instead, so the same tests run on both backends. It is internal/apptest
// with the HTTP API in front. CA issues certificates for tests of a server
// that serves TLS itself.
package servertest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/server"
)

// Clock is a clock that moves only when told to.
type Clock = apptest.Clock

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return apptest.NewClock(t) }

// Epoch is where every test clock starts.
var Epoch = apptest.Epoch

// LogBuffer collects log output so tests can search it.
type LogBuffer = apptest.LogBuffer

// Env is a running Mayfly.
type Env struct {
	t      testing.TB
	URL    string // the issuer
	Dir    string
	Clock  *Clock
	Server *server.Server
	Admin  *client.Client
	Token  string // the bootstrap admin credential
	Log    *LogBuffer
	http   *httptest.Server
	admins []*client.Client // made by Administrator, in order
}

// Option adjusts the server configuration.
type Option func(*server.Config)

// NoLockout turns off the lockouts after failed authentications, for
// tests that send many bad credentials in a row to see how each is
// answered.
func NoLockout(c *server.Config) { c.Limits.Off = true }

// New starts a Mayfly for the test and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	dir := t.TempDir()
	return Start(t, dir, NewClock(Epoch), opts...)
}

// Start starts a Mayfly on an existing data directory.
func Start(t testing.TB, dir string, clock *Clock, opts ...Option) *Env {
	t.Helper()
	e, err := start(t, dir, clock, "", opts...)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return e
}

// Restart stops e and starts a Mayfly on the same data directory, clock and
// address, so the issuer is unchanged, as after a process restart.
func (e *Env) Restart(opts ...Option) *Env {
	e.t.Helper()
	addr := strings.TrimPrefix(e.URL, "http://")
	e.Stop()
	n, err := start(e.t, e.Dir, e.Clock, addr, opts...)
	if err != nil {
		e.t.Fatalf("restart: %v", err)
	}
	return n
}

// TryNew is New for configurations that may be refused.
func TryNew(t testing.TB, opts ...Option) (*Env, error) {
	return start(t, t.TempDir(), NewClock(Epoch), "", opts...)
}

func start(t testing.TB, dir string, clock *Clock, addr string, opts ...Option) (*Env, error) {
	hs := httptest.NewUnstartedServer(nil)
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		hs.Listener.Close()
		hs.Listener = ln
	}
	url := "http://" + hs.Listener.Addr().String()
	logs := &LogBuffer{}
	cfg := apptest.Config(t, dir, clock, logs)
	cfg.Issuer = url
	for _, o := range opts {
		o(&cfg)
	}
	s, err := server.New(context.Background(), cfg)
	if err != nil {
		hs.Close()
		return nil, err
	}
	hs.Config.Handler = s.Handler()
	hs.Start()
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		return nil, err
	}
	e := &Env{t: t, URL: url, Dir: dir, Clock: clock, Server: s, Token: strings.TrimSpace(string(tok)), Log: logs, http: hs}
	e.Admin = client.New(url, e.Token)
	t.Cleanup(e.Stop)
	return e, nil
}

// OpenStore opens the store a test keeps in dir, on the backend the suite
// runs on, and closes it when the test ends.
func OpenStore(t testing.TB, dir string) mayfly.Store { return apptest.OpenStore(t, dir) }

// Stop shuts the server down; it is safe to call twice.
func (e *Env) Stop() {
	if e.http == nil {
		return
	}
	// Long-lived requests (revocation streams) end as in a crash; Close
	// alone would wait for them forever.
	e.http.CloseClientConnections()
	e.http.Close()
	e.Server.Close()
	e.http = nil
}

// Human creates a human principal and returns its ID.
func (e *Env) Human(name string) string {
	e.t.Helper()
	p, err := e.Admin.CreatePrincipal(context.Background(), api.PrincipalRequest{Name: name, Kind: mayfly.Human})
	if err != nil {
		e.t.Fatalf("create principal %s: %v", name, err)
	}
	return p.ID
}

// NewClient creates a client owned by owner and returns it with its secret.
func (e *Env) NewClient(req api.ClientRequest) (*mayfly.Client, string) {
	e.t.Helper()
	if req.Name == "" {
		req.Name = "test-client"
	}
	cc, err := e.Admin.CreateClient(context.Background(), req)
	if err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	return cc.Client, cc.Secret
}

// Response is a raw HTTP response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r *Response) JSON() map[string]any {
	var m map[string]any
	json.Unmarshal(r.Body, &m)
	return m
}

// PostForm posts a form to path, with HTTP Basic credentials if user is not empty.
func (e *Env) PostForm(path string, form url.Values, user, pass string) *Response {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.Do(req)
}

// Do sends req and reads the whole response.
func (e *Env) Do(req *http.Request) *Response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// IssueToken gets an access token with client_secret_basic and fails the test otherwise.
func (e *Env) IssueToken(id, secret string, extra url.Values) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	r := e.PostForm(api.TokenPath, form, id, secret)
	if r.Status != 200 {
		e.t.Fatalf("token request: status %d: %s", r.Status, r.Body)
	}
	tok, _ := r.JSON()["access_token"].(string)
	if tok == "" {
		e.t.Fatalf("token response without access_token: %s", r.Body)
	}
	return tok
}

// Active introspects tok as the given client and reports whether it is active.
func (e *Env) Active(tok, id, secret string) bool {
	e.t.Helper()
	r := e.PostForm(api.IntrospectPath, url.Values{"token": {tok}}, id, secret)
	if r.Status != 200 {
		e.t.Fatalf("introspect: status %d: %s", r.Status, r.Body)
	}
	active, ok := r.JSON()["active"].(bool)
	if !ok {
		e.t.Fatalf("introspect: no active field: %s", r.Body)
	}
	return active
}

// Administrator gives a person, made if need be, an admin credential only
// they have seen, as a new administrator gets one: handed a credential by the
// operator, they make their own with it and revoke the one they were
// handed, which the operator could present too. It returns a client that
// uses their own.
func (e *Env) Administrator(name string) *client.Client {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.Admin.Principal(ctx, name); mayfly.ErrorCode(err) == mayfly.NotFound {
		e.Human(name)
	}
	handed, err := e.Admin.CreateCredential(ctx, api.CredentialRequest{Name: name + " (handed)", Owner: name})
	if err != nil {
		e.t.Fatalf("admin credential for %s: %v", name, err)
	}
	if handed.Pending != nil && handed.Pending.Status == mayfly.Pending {
		// Two people hold admin credentials: the first administrator made
		// here approves, as a second person.
		if len(e.admins) == 0 {
			e.t.Fatalf("admin credential for %s waits for a second person, and none was made here", name)
		}
		if _, err := e.admins[0].Approve(ctx, handed.Pending.ID, "new administrator"); err != nil {
			e.t.Fatalf("approving %s's credential: %v", name, err)
		}
	}
	c := client.New(e.URL, handed.Token)
	own, err := c.CreateCredential(ctx, api.CredentialRequest{Name: name, Owner: name})
	if err != nil {
		e.t.Fatalf("%s's own admin credential: %v", name, err)
	}
	if err := c.RevokeCredential(ctx, handed.ID, "replaced by one only "+name+" has seen"); err != nil {
		e.t.Fatalf("revoking %s's handed credential: %v", name, err)
	}
	admin := client.New(e.URL, own.Token)
	e.admins = append(e.admins, admin)
	return admin
}
