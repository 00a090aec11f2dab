// Package server serves an assembled Mayfly (internal/app) over HTTP: it
// puts the HTTP API in front of the services, listens, runs the background
// schedule, and serves until told to stop. Run is what `mayfly serve`
// calls, and what end-to-end tests call too.
//
// # Invariants
//
// On first start the services create the root key and one bootstrap admin
// credential, written only to files of mode 0600. Configuration that
// raises the key lifetime ceiling is refused unless explicitly overridden,
// and the override is logged as a warning on every start.
//
// # Replicas
//
// Several servers may share one PostgreSQL store. They must share the root
// key too: a server whose root key did not seal the store's material refuses
// to start. Each follows the store's change feed and reloads what it
// caches: revocations, keys, the audit log key.
package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures a server. Zero values mean the defaults.
type Config = app.Config

// Server is an assembled Mayfly with its HTTP API.
type Server struct {
	*app.App
	api *httpapi.Server
}

// New assembles Mayfly and its HTTP API. Issuer must be set.
func New(ctx context.Context, cfg Config) (*Server, error) {
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cfg = a.Config()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := httpapi.New(httpapi.Config{
		Issuer: cfg.Issuer, Keys: a.Keys, Identity: a.Identity, Token: a.Token, Audit: a.Audit, Offboard: a.Offboard,
		Revoker: a.Revoker, SSF: a.SSF, SCIM: a.SCIM, Pending: a.Pending, Doctor: a.Doctor, StreamHeartbeat: cfg.StreamHeartbeat,
		Clock: cfg.Clock, Log: cfg.Log, Registry: reg, TrustedProxies: cfg.TrustedProxies, Limits: a.Limits,
	})
	return &Server{App: a, api: api}, nil
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.api }

// OpenStore opens the store that dsn names and applies its pending
// migrations. replicated reports whether other processes may share it.
func OpenStore(ctx context.Context, dsn string) (st mayfly.Store, replicated bool, err error) {
	return app.OpenStore(ctx, dsn)
}

// Migrate applies the pending migrations of the store dsn names and returns
// the versions it applied.
func Migrate(ctx context.Context, dsn string) ([]int, error) { return app.Migrate(ctx, dsn) }

// DefaultLimits are the lockouts and the bound on expensive requests that
// a zero Config.Limits means.
func DefaultLimits() limit.Config { return app.DefaultLimits() }

// Redact hides passwords in a store URL, for logs and errors.
func Redact(dsn string) string { return app.Redact(dsn) }

// Run serves on cfg.Addr until ctx ends. ready, if not nil, is called with
// the address it listens on once the server accepts connections.
func Run(ctx context.Context, cfg Config, ready func(s *Server, addr string)) error {
	if err := cfg.Defaults(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + ln.Addr().String()
	}
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	hs := &http.Server{
		Handler: s.api, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	hs.RegisterOnShutdown(s.api.Shutdown) // revocation streams would hold Shutdown up
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.Run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	cfg.Log.Info("mayfly serving", "issuer", cfg.Issuer, "data", cfg.DataDir, "store", Redact(cfg.Store))
	if ready != nil {
		ready(s, ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return s.shutdown(ctx, hs, cfg.Log)
}
