// Package apptest runs a whole Mayfly, without HTTP, for the tests of the
// policy packages: real SQLite in a temporary directory, every service as
// the server assembles it, and a clock the test moves by hand. With
// MAYFLY_TEST_STORE=postgres, state lives in a fresh schema of the
// PostgreSQL that MAYFLY_TEST_POSTGRES names instead, so the same tests run
// on both backends. Package server/servertest adds the HTTP API on top.
package apptest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/mayflyhq/mayfly/store/sqlite"
)

// Clock is a clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Epoch is where every test clock starts.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Issuer is the issuer of an Env's Mayfly: nothing listens there.
const Issuer = "https://mayfly.test"

// Option adjusts the configuration.
type Option func(*app.Config)

// Env is a running Mayfly.
type Env struct {
	t     testing.TB
	Dir   string
	Clock *Clock
	App   *app.App
	Log   *LogBuffer
}

// New starts a Mayfly for the test and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	return Start(t, t.TempDir(), NewClock(Epoch), opts...)
}

// Start starts a Mayfly on an existing data directory.
func Start(t testing.TB, dir string, clock *Clock, opts ...Option) *Env {
	t.Helper()
	logs := &LogBuffer{}
	cfg := Config(t, dir, clock, logs)
	for _, o := range opts {
		o(&cfg)
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	e := &Env{t: t, Dir: dir, Clock: clock, App: a, Log: logs}
	t.Cleanup(e.Stop)
	return e
}

// Config is the configuration a test's Mayfly starts from: its data in
// dir, its store on the backend the suite runs on, its clock and its log.
func Config(t testing.TB, dir string, clock mayfly.Clock, logs *LogBuffer) app.Config {
	cfg := app.Config{DataDir: dir, Issuer: Issuer, Clock: clock,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		cfg.Store = PostgresStore(t, dir)
	} else {
		seedSQLite(t, filepath.Join(dir, "mayfly.db"))
	}
	return cfg
}

// template is an empty store with every migration applied, made once a
// process: a test's store starts as a copy of it. Migrating a fresh file
// is most of what starting a test's Mayfly costs, about ten times more
// under the race detector (the schema parsed again after every ALTER
// TABLE); the store's own tests migrate from nothing.
var template = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "mayfly-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mayfly.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil { // the last close checkpoints the WAL into the file
		return nil, err
	}
	return os.ReadFile(path)
})

// seedSQLite puts a copy of the template at path, unless a store is there.
func seedSQLite(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		return
	}
	b, err := template()
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		t.Fatalf("seed the store: %v", err)
	}
}

// Restart stops e and starts a Mayfly on the same data directory and
// clock, as after a process restart.
func (e *Env) Restart(opts ...Option) *Env {
	e.t.Helper()
	e.Stop()
	return Start(e.t, e.Dir, e.Clock, opts...)
}

// Stop shuts Mayfly down; it is safe to call twice.
func (e *Env) Stop() {
	if e.App == nil {
		return
	}
	e.App.Close()
	e.App = nil
}

// OpenStore opens the store a test keeps in dir, on the backend the suite
// runs on (see the package comment), and closes it when the test ends. On
// PostgreSQL, opening dir again opens the same schema.
func OpenStore(t testing.TB, dir string) mayfly.Store {
	t.Helper()
	dsn := filepath.Join(dir, "mayfly.db")
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		dsn = PostgresStore(t, dir)
	}
	st, _, err := app.OpenStore(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// PostgresStore returns the PostgreSQL store of the Mayfly whose data
// directory is dir: a fresh schema on first start, the same one on restart.
func PostgresStore(t testing.TB, dir string) string {
	file := filepath.Join(dir, "test-store.url")
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	dsn := pgtest.DSN(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// LogBuffer collects log output so tests can search it.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Admin returns a context in which the bootstrap admin credential, the
// operator's, acts, as it does on the admin API: its first use is its
// login, and what it is shown becomes its owner's custody.
func (e *Env) Admin() context.Context {
	e.t.Helper()
	ctx := context.Background()
	creds, err := e.App.Identity.AdminCredentials(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range creds {
		if a.Name == "bootstrap" {
			return e.As(a)
		}
	}
	e.t.Fatal("no bootstrap admin credential")
	return nil
}

// As returns a context in which the credential a acts, as on the admin
// API.
func (e *Env) As(a *mayfly.AdminCredential) context.Context {
	e.t.Helper()
	ctx := identity.WithCaller(audit.WithActor(context.Background(), a.ID), a)
	if err := e.App.Identity.AdminLogin(ctx, a, "127.0.0.1"); err != nil {
		e.t.Fatal(err)
	}
	return ctx
}

// Human creates a person, as the operator, and returns their ID.
func (e *Env) Human(name string) string {
	e.t.Helper()
	p, err := e.App.Identity.CreatePrincipal(e.Admin(), name, mayfly.Human, "")
	if err != nil {
		e.t.Fatalf("create principal %s: %v", name, err)
	}
	return p.ID
}

// NewClient creates a client, as the operator, and returns it with its
// secret.
func (e *Env) NewClient(spec identity.ClientSpec) (*mayfly.Client, string) {
	e.t.Helper()
	if spec.Name == "" {
		spec.Name = "test-client"
	}
	c, secret, err := e.App.Identity.CreateClient(e.Admin(), spec)
	if err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	return c, secret
}

// Issue mints an access token for c and fails the test otherwise.
func (e *Env) Issue(c *mayfly.Client) *token.Token {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.App.Token.Admit(ctx, c)
	if err != nil {
		e.t.Fatalf("admit %s: %v", c.ID, err)
	}
	tok, err := e.App.Token.Issue(ctx, a, token.Request{SourceIP: "127.0.0.1"})
	if err != nil {
		e.t.Fatalf("issue a token for %s: %v", c.ID, err)
	}
	return tok
}

// AuditLog opens an audit log on st, sealed under a fresh root key, for
// tests that assemble a service or two by hand; it closes when the test
// ends.
func AuditLog(t testing.TB, st audit.Store, clock mayfly.Clock) *audit.Log {
	t.Helper()
	root := make([]byte, seal.RootKeySize)
	rand.Read(root)
	s, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), audit.Config{Store: st, Sealer: s, Clock: clock, Rand: rand.Reader,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Origin: "mayfly.test/audit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}
