package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// probe GETs u and returns the status and body.
func probe(t *testing.T, hc *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readiness GETs /readyz at base and decodes it.
func readiness(t *testing.T, hc *http.Client, base string) (int, api.Readiness) {
	t.Helper()
	code, body := probe(t, hc, base+api.ReadyzPath)
	var r api.Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz at %s: %d %q: %v", base, code, body, err)
	}
	if (code == http.StatusOK) != r.Ready || (code != http.StatusOK && code != http.StatusServiceUnavailable) {
		t.Fatalf("/readyz at %s: %d %+v: want 200 and ready, or 503 and not", base, code, r)
	}
	return code, r
}

// TestOpsListener: with an ops address, /metrics is served there and no
// longer on the API's listener (TLS here), while /healthz and /readyz
// answer on both. The ops listener speaks plain HTTP and serves nothing
// else.
func TestOpsListener(t *testing.T) {
	ca := servertest.NewCA(t)
	cfg := config(t, &servertest.LogBuffer{})
	cfg.TLSCert, cfg.TLSKey = tlsFiles(t, ca.Issue(t))
	cfg.OpsAddr = "127.0.0.1:0"
	s := run(t, cfg)
	if !strings.HasPrefix(s.OpsURL, "http://") {
		t.Fatalf("ops at %q, want http://", s.OpsURL)
	}
	public, ops := ca.Client(), http.DefaultClient
	tests := []struct {
		hc   *http.Client
		url  string
		code int
		has  string
	}{
		{public, s.URL + api.MetricsPath, 404, `"not_found"`},
		{ops, s.OpsURL + api.MetricsPath, 200, "mayfly_expensive_limit"},
		{public, s.URL + api.HealthzPath, 200, "ok"},
		{ops, s.OpsURL + api.HealthzPath, 200, "ok"},
		{public, s.URL + api.ReadyzPath, 200, `"ready":true`},
		{ops, s.OpsURL + api.ReadyzPath, 200, `"ready":true`},
		{ops, s.OpsURL + "/v1/principals", 404, `"not_found"`},
		{ops, s.OpsURL + api.JWKSPath, 404, `"not_found"`},
		{public, s.URL + api.JWKSPath, 200, `"keys"`},
		{ops, s.OpsURL + "/debug/pprof/", 404, `"not_found"`}, // only with serve --ops-pprof
	}
	for _, tt := range tests {
		if code, body := probe(t, tt.hc, tt.url); code != tt.code || !strings.Contains(body, tt.has) {
			t.Errorf("GET %s: %d %.80q; want %d with %q", tt.url, code, body, tt.code, tt.has)
		}
	}

	// Without an ops address, /metrics stays where it was.
	plain := config(t, &servertest.LogBuffer{})
	p := run(t, plain)
	if p.OpsURL != "" {
		t.Errorf("ops at %q without an ops address", p.OpsURL)
	}
	if code, body := probe(t, http.DefaultClient, p.URL+api.MetricsPath); code != 200 || !strings.Contains(body, "mayfly_expensive_limit") {
		t.Errorf("/metrics without an ops listener: %d %.80q", code, body)
	}
}

// TestOpsWrap: the ops handler's wrapper (serve --ops-pprof) serves on
// the ops listener only, and without an ops listener the start is refused
// before anything is created.
func TestOpsWrap(t *testing.T) {
	cfg := config(t, &servertest.LogBuffer{})
	cfg.OpsAddr = "127.0.0.1:0"
	cfg.OpsWrap = func(h http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.HandleFunc("/debug/extra", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "extra") })
		return mux
	}
	s := run(t, cfg)
	for _, tt := range []struct {
		url  string
		code int
		has  string
	}{
		{s.OpsURL + "/debug/extra", 200, "extra"},
		{s.OpsURL + api.MetricsPath, 200, "mayfly_expensive_limit"},
		{s.URL + "/debug/extra", 404, `"not_found"`},
	} {
		if code, body := probe(t, http.DefaultClient, tt.url); code != tt.code || !strings.Contains(body, tt.has) {
			t.Errorf("GET %s: %d %.80q; want %d with %q", tt.url, code, body, tt.code, tt.has)
		}
	}

	alone := config(t, &servertest.LogBuffer{})
	alone.OpsWrap = cfg.OpsWrap
	err := server.Run(context.Background(), alone, nil)
	if err == nil || !strings.Contains(err.Error(), "needs an ops address") {
		t.Fatalf("OpsWrap without OpsAddr: %v; want a refusal naming the ops address", err)
	}
}

// TestReadyzSigningKeys: a server whose key schedule has fallen behind,
// so that no key can sign now, is not ready until maintenance catches
// up. An answer holds for a second of the server's clock.
func TestReadyzSigningKeys(t *testing.T) {
	env := servertest.New(t)
	hc := http.DefaultClient
	if code, r := readiness(t, hc, env.URL); code != 200 {
		t.Fatalf("fresh server: %d %+v, want ready", code, r)
	}
	env.Clock.Advance(3 * mayfly.DefaultKeyLifetime)
	code, r := readiness(t, hc, env.URL)
	if code != 503 || r.Reason != "signing keys are not loaded" {
		t.Fatalf("schedule behind: %d %+v, want 503 with the reason", code, r)
	}
	if !strings.Contains(env.Log.String(), "no key can sign now in ring default") {
		t.Errorf("the log does not say which ring cannot sign:\n%s", env.Log.String())
	}
	if code, body := probe(t, hc, env.URL+api.HealthzPath); code != 200 {
		t.Errorf("/healthz while not ready: %d %q; liveness does not depend on readiness", code, body)
	}
	if err := env.Server.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _ := readiness(t, hc, env.URL); code != 503 {
		t.Errorf("within the same second: %d, want the answer held", code)
	}
	env.Clock.Advance(time.Second)
	if code, r := readiness(t, hc, env.URL); code != 200 {
		t.Errorf("after maintenance: %d %+v, want ready", code, r)
	}
}

// pgProxy forwards TCP connections on loopback to the test PostgreSQL,
// so that a test can make the store unreachable under a running server:
// hold makes new connections wait, cut closes every connection and each
// new one at once, pass forwards again.
type pgProxy struct {
	t    *testing.T
	ln   net.Listener
	dial func() (net.Conn, error)

	mu      sync.Mutex
	cutting bool
	gate    chan struct{} // closed while connections pass
	conns   map[net.Conn]bool
}

// newPGProxy starts a proxy to the database dsn names and returns it with
// a DSN that reaches the same database through it.
func newPGProxy(t *testing.T, dsn string) (*pgProxy, string) {
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	network, addr := "tcp", net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	if strings.HasPrefix(pc.Host, "/") {
		network, addr = "unix", filepath.Join(pc.Host, ".s.PGSQL."+strconv.Itoa(int(pc.Port)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{t: t, ln: ln, gate: make(chan struct{}), conns: map[net.Conn]bool{},
		dial: func() (net.Conn, error) { return net.Dial(network, addr) }}
	close(p.gate)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.cut() })
	u := url.URL{Scheme: "postgres", User: url.UserPassword(pc.User, pc.Password), Host: ln.Addr().String(), Path: "/" + pc.Database}
	if pc.Password == "" {
		u.User = url.User(pc.User)
	}
	q := url.Values{"sslmode": {"disable"}}
	if pc.TLSConfig != nil {
		q.Set("sslmode", "require")
	}
	for k, v := range pc.RuntimeParams {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return p, u.String()
}

func (p *pgProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *pgProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.cutting {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = true
	gate := p.gate
	p.mu.Unlock()
	<-gate
	up, err := p.dial()
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cutting {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

func (p *pgProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *pgProxy) pass() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutting = false
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutting = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// TestReadyzStoreUnreachable: a server whose PostgreSQL becomes
// unreachable while it runs is alive but not ready, on both listeners,
// until the database is back. The reason shown names no host or user.
func TestReadyzStoreUnreachable(t *testing.T) {
	proxy, dsn := newPGProxy(t, pgtest.DSN(t))
	logs := &servertest.LogBuffer{}
	cfg := config(t, logs)
	cfg.Store, cfg.OpsAddr = dsn, "127.0.0.1:0"
	s := run(t, cfg)
	hc := http.DefaultClient
	for _, base := range []string{s.URL, s.OpsURL} {
		if code, r := readiness(t, hc, base); code != 200 {
			t.Fatalf("%s: %d %+v, want ready", base, code, r)
		}
	}

	proxy.cut()
	var r api.Readiness
	waitFor(t, "/readyz to say the store is unreachable", func() bool {
		var code int
		code, r = readiness(t, hc, s.OpsURL)
		return code == 503
	})
	if r.Reason != "the store is unreachable" {
		t.Errorf("reason %q, want the store named as unreachable", r.Reason)
	}
	if code, r := readiness(t, hc, s.URL); code != 503 {
		t.Errorf("the API's listener says %d %+v while the store is unreachable", code, r)
	}
	for _, base := range []string{s.URL, s.OpsURL} {
		if code, body := probe(t, hc, base+api.HealthzPath); code != 200 {
			t.Errorf("%s/healthz while the store is unreachable: %d %q", base, code, body)
		}
	}
	if !strings.Contains(logs.String(), "not ready") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}

	proxy.pass()
	waitFor(t, "/readyz to recover with the store", func() bool {
		code, _ := readiness(t, hc, s.OpsURL)
		return code == 200
	})
	if !strings.Contains(logs.String(), "ready again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

// TestReadyzWhileStarting: the ops listener answers while the server
// starts, here waiting for its store: alive, not ready, until the start
// finishes.
func TestReadyzWhileStarting(t *testing.T) {
	proxy, dsn := newPGProxy(t, pgtest.DSN(t))
	proxy.hold()
	cfg := config(t, &servertest.LogBuffer{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.OpsAddr = dsn, ln.Addr().String()
	ln.Close() // free for the server to take
	ops := "http://" + cfg.OpsAddr

	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	started := make(chan *server.Server, 1)
	go func() { errc <- server.Run(ctx, cfg, func(s *server.Server, _ string) { started <- s }) }()
	t.Cleanup(func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	hc := http.DefaultClient
	waitFor(t, "the ops listener", func() bool {
		resp, err := hc.Get(ops + api.HealthzPath)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	if code, r := readiness(t, hc, ops); code != 503 || r.Reason != "starting" {
		t.Errorf("while starting: %d %+v, want 503 starting", code, r)
	}
	if code, body := probe(t, hc, ops+api.MetricsPath); code != 503 {
		t.Errorf("/metrics while starting: %d %q, want 503", code, body)
	}
	select {
	case <-started:
		t.Fatal("the server started while its store was held")
	default:
	}

	proxy.pass()
	var s *server.Server
	select {
	case s = <-started:
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	}
	if s.OpsURL != ops {
		t.Errorf("ops at %s, want %s", s.OpsURL, ops)
	}
	if code, r := readiness(t, hc, ops); code != 200 {
		t.Errorf("started: %d %+v, want ready", code, r)
	}
}
