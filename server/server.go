// Package server serves an assembled Mayfly (internal/app) over HTTP: it
// puts the HTTP API in front of the services, listens, runs the background
// schedule, and serves until told to stop. Run is what `mayfly serve`
// calls, and what end-to-end tests call too. Given a certificate it serves
// HTTPS itself; given an ops address, it serves /metrics, /healthz and
// /readyz there, on a listener of their own.
//
// # Invariants
//
// On first start the services create the root key and one bootstrap admin
// credential, written only to files of mode 0600. Configuration that
// raises the key lifetime ceiling is refused unless explicitly overridden,
// and the override is logged as a warning on every start.
//
// A certificate that does not load refuses the start before anything is
// created. Once serving, a certificate and key are served only as a pair
// that loads: a replacement that does not (half written, mismatched,
// expired) leaves the one in use in place.
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
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/mayflyhq/mayfly/internal/refresh"
	"github.com/mayflyhq/mayfly/internal/scope"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures a server. Zero values mean the defaults.
type Config = app.Config

// Server is an assembled Mayfly with its HTTP API.
type Server struct {
	*app.App
	api *httpapi.Server
	// URL is where Run serves the API (http:// or https:// and the
	// address it listens on), and OpsURL the ops listener, if any.
	URL, OpsURL string
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
		Issuer: cfg.Issuer, Keys: a.Keys, Identity: a.Identity, Token: a.Token, Refresh: a.Refresh, Audit: a.Audit, Offboard: a.Offboard,
		Revoker: a.Revoker, SSF: a.SSF, SCIM: a.SCIM, Pending: a.Pending, Alerts: a.Alerts, Doctor: a.Doctor, StreamHeartbeat: cfg.StreamHeartbeat,
		Clock: cfg.Clock, Log: cfg.Log, Registry: reg, TrustedProxies: cfg.TrustedProxies, Limits: a.Limits,
		Ready: a.Ready, SeparateOps: cfg.OpsAddr != "",
		Ingest: a.Ingest, TokenChecker: a.TokenChecker, LedgerStore: a.Store(), Scope: scope.New(scope.Config{Store: a.Store(), Evidence: a.Audit, Clock: cfg.Clock}), DPoPReplayCacheSize: cfg.DPoPReplayCacheSize,
		Rules: cfg.Detect.Settings(),
	})
	return &Server{App: a, api: api}, nil
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.api }

// OpsHandler serves /healthz, /readyz and /metrics, for the ops listener.
func (s *Server) OpsHandler() http.Handler { return s.api.Ops() }

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

// DetectConfig configures the detection rules (Config.Detect), and
// RuleSet names some of them, as a flag: for programs that build a server
// but cannot import its internals.
type (
	DetectConfig = detect.Config
	RuleSet      = detect.RuleSet
)

// DefaultDetect are the detection rules' thresholds that a zero
// Config.Detect means, and no containment.
func DefaultDetect() detect.Config { return detect.DefaultConfig() }

// Redact hides passwords in a store URL, for logs and errors.
func Redact(dsn string) string { return app.Redact(dsn) }

// Run serves on cfg.Addr until ctx ends, over TLS if cfg.TLSCert is set,
// and the ops endpoints on cfg.OpsAddr if that is set. ready, if not nil,
// is called once the server accepts connections, with the address of the
// API's listener.
//
// What can be refused without creating anything is checked first: a
// certificate that does not load, or an address in use, leaves no data
// directory, root key or store behind.
func Run(ctx context.Context, cfg Config, ready func(s *Server, addr string)) error {
	if err := cfg.Defaults(); err != nil {
		return err
	}
	var cert *certificate
	if cfg.TLSCert != "" {
		var err error
		if cert, err = loadCertificate(cfg.TLSCert, cfg.TLSKey, cfg.Clock, cfg.Log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	errc := make(chan error, 2)
	var ops *http.Server
	var opsHandler atomic.Pointer[http.Handler]
	if cfg.OpsWrap != nil && cfg.OpsAddr == "" {
		return fmt.Errorf("an ops handler wrapper (--ops-pprof) needs an ops address (--ops-addr): it is never served on the API's listener")
	}
	if cfg.OpsAddr != "" {
		opsLn, err := net.Listen("tcp", cfg.OpsAddr)
		if err != nil {
			return fmt.Errorf("ops listener: %w", err)
		}
		// Alive, and not ready, while the server starts: a start that
		// waits for the store is not mistaken for a dead process.
		starting := httpapi.Starting()
		opsHandler.Store(&starting)
		ops = newHTTPServer(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*opsHandler.Load()).ServeHTTP(w, r)
		}))
		defer ops.Close()
		go func() { errc <- ops.Serve(opsLn) }()
		cfg.OpsAddr = opsLn.Addr().String()
	}
	if cfg.Issuer == "" {
		cfg.Issuer = defaultIssuer(cfg.Addr, ln.Addr().String(), cert != nil)
		if cert != nil && hostless(cfg.Issuer) {
			cfg.Log.Warn("the default issuer names no host a certificate can: set --issuer to the URL clients use", "issuer", cfg.Issuer)
		}
	}
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	hs := newHTTPServer(cfg, s.api)
	hs.RegisterOnShutdown(s.api.Shutdown) // revocation streams would hold Shutdown up
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.URL = "http://" + ln.Addr().String()
	if cert != nil {
		s.URL = "https://" + ln.Addr().String()
		hs.TLSConfig = cert.config()
		go cert.watch(ctx, cfg.TLSCheckEvery, cfg.TLSReload)
	}
	if ops != nil {
		s.OpsURL = "http://" + cfg.OpsAddr
		h := s.OpsHandler()
		if cfg.OpsWrap != nil {
			h = cfg.OpsWrap(h)
		}
		opsHandler.Store(&h)
	}
	go s.Run(ctx)
	go func() {
		if cert != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	cfg.Log.Info("mayfly serving", "issuer", cfg.Issuer, "data", cfg.DataDir, "store", Redact(cfg.Store), "tls", cert != nil, "ops", s.OpsURL)
	if ready != nil {
		ready(s, ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if ops != nil {
		defer func() {
			wait, cancel := context.WithTimeout(context.Background(), shutdownWait)
			defer cancel()
			ops.Shutdown(wait)
		}()
	}
	return s.shutdown(ctx, hs, cfg.Log)
}

// newHTTPServer is an http.Server for h with the timeouts every listener
// has.
func newHTTPServer(cfg Config, h http.Handler) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
}

// hostless says whether issuer's host is a wildcard address, which no
// client can reach and no certificate names.
func hostless(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && ip.IsUnspecified()
}

// defaultIssuer is the issuer of a server not told one: http:// and the
// address it listens on, or with TLS, https:// and the host that addr
// names (a certificate names hosts, not what they resolve to) with the
// port it listens on.
func defaultIssuer(addr, listening string, tls bool) string {
	if !tls {
		return "http://" + listening
	}
	host, _, err := net.SplitHostPort(addr)
	lhost, port, _ := net.SplitHostPort(listening)
	if err != nil || host == "" {
		host = lhost
	}
	return "https://" + net.JoinHostPort(host, port)
}

// DefaultLedgerRetention is how long the access ledger keeps what it
// records unless configured otherwise.
const DefaultLedgerRetention = ledger.DefaultRetention

// DefaultIssuanceRetention is how long issuance records are kept unless
// configured otherwise.
const DefaultIssuanceRetention = token.DefaultIssuanceRetention

// DefaultRefreshGrace is how long after a refresh token's use a client
// that got no answer may present it once more.
const DefaultRefreshGrace = refresh.DefaultGrace
