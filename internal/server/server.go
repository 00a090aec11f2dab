// Package server assembles Mayfly from its parts (store, sealer, services,
// HTTP API), runs the background schedule, and serves until told to stop.
//
// # Invariants
//
// On first start it creates the root key and one bootstrap admin credential,
// written only to files of mode 0600. Configuration that raises the key
// lifetime ceiling is refused unless explicitly overridden, and the override
// is logged as a warning on every start.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/store/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures a server. Zero values mean the defaults.
type Config struct {
	DataDir     string // default ./mayfly-data
	Addr        string // default 127.0.0.1:8740
	Issuer      string // default http://ADDR
	RootKeyFile string // default DATA/root.key
	// KeyLifetimeCeiling above mayfly.KeyLifetimeCeiling needs AllowLongKeyLifetime.
	KeyLifetimeCeiling   time.Duration
	AllowLongKeyLifetime bool
	// TrustedProxies may set X-Forwarded-For for the source IP of records.
	TrustedProxies []netip.Prefix

	Clock mayfly.Clock
	Rand  io.Reader
	Log   *slog.Logger
}

// Server is an assembled Mayfly.
type Server struct {
	cfg      Config
	store    mayfly.Store
	Keys     *keys.Service
	Identity *identity.Service
	Token    *token.Service
	Revoker  *revoke.Service
	Audit    *audit.Log
	handler  http.Handler
	// AdminTokenFile is set when this start created the bootstrap credential.
	AdminTokenFile string
}

func (cfg *Config) defaults() error {
	if cfg.DataDir == "" {
		cfg.DataDir = "mayfly-data"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8740"
	}
	if cfg.RootKeyFile == "" {
		cfg.RootKeyFile = filepath.Join(cfg.DataDir, "root.key")
	}
	if cfg.Clock == nil {
		cfg.Clock = mayfly.SystemClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	switch c := cfg.KeyLifetimeCeiling; {
	case c == 0:
		cfg.KeyLifetimeCeiling = mayfly.KeyLifetimeCeiling
	case c < mayfly.MinKeyLifetime:
		return fmt.Errorf("key lifetime ceiling %s is below the minimum key lifetime of %s", c, mayfly.MinKeyLifetime)
	case c > mayfly.KeyLifetimeOverrideLimit:
		return fmt.Errorf("key lifetime ceiling %s exceeds the absolute limit of %s; no override allows that", c, mayfly.KeyLifetimeOverrideLimit)
	case c > mayfly.KeyLifetimeCeiling && !cfg.AllowLongKeyLifetime:
		return fmt.Errorf("key lifetime ceiling %s exceeds the default ceiling of %s (30 days); pass --allow-long-key-lifetime to override", c, mayfly.KeyLifetimeCeiling)
	}
	return nil
}

// New opens the store and assembles the services. Issuer must be set.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		return nil, errors.New("server: no issuer")
	}
	if cfg.KeyLifetimeCeiling > mayfly.KeyLifetimeCeiling {
		cfg.Log.Warn("configuration override: key lifetime ceiling raised above 30 days", "ceiling", cfg.KeyLifetimeCeiling)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Log.Warn("data directory is open to other users; it holds sealed keys and credentials and should be mode 0700", "dir", cfg.DataDir, "mode", fi.Mode().Perm())
	}
	root, created, err := seal.LoadOrCreateRootKey(cfg.RootKeyFile, cfg.Rand)
	if err != nil {
		return nil, err
	}
	if created {
		cfg.Log.Info("root key created", "file", cfg.RootKeyFile)
	} else if fi, err := os.Stat(cfg.RootKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Log.Warn("root key file is readable by others; it should be mode 0600", "file", cfg.RootKeyFile, "mode", fi.Mode().Perm())
	}
	sealer, err := seal.New(root)
	clear(root)
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "mayfly.db"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	s := &Server{cfg: cfg, store: st}
	origin, err := auditOrigin(ctx, st, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	if s.Audit, err = audit.Open(ctx, audit.Config{Store: st, Sealer: sealer, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log, Origin: origin}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Audit.Close()
		}
	}()
	if cfg.KeyLifetimeCeiling > mayfly.KeyLifetimeCeiling {
		_, err := s.Audit.Append(ctx, mayfly.AuditEntry{Action: "config.override", Details: map[string]string{
			"setting": "key-lifetime-ceiling", "value": cfg.KeyLifetimeCeiling.String(), "default": mayfly.KeyLifetimeCeiling.String()}})
		if err != nil {
			return nil, err
		}
	}
	if s.Revoker, err = revoke.New(ctx, st, cfg.Clock); err != nil {
		return nil, err
	}
	s.Keys, err = keys.New(ctx, keys.Config{Store: st, Sealer: sealer, Revoker: s.Revoker, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log, Ceiling: cfg.KeyLifetimeCeiling})
	if err != nil {
		return nil, err
	}
	if err := s.Keys.EnsureRing(ctx, keys.DefaultRing); err != nil {
		return nil, err
	}
	s.Identity = identity.New(identity.Config{Store: st, Keys: s.Keys, Revoker: s.Revoker, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log})
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	s.Token = token.New(token.Config{
		Issuer: cfg.Issuer, TokenEndpoint: cfg.Issuer + httpapi.TokenPath, Store: st, Keys: s.Keys,
		Identity: s.Identity, Revoker: s.Revoker, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.handler = httpapi.New(httpapi.Config{
		Issuer: cfg.Issuer, Keys: s.Keys, Identity: s.Identity, Token: s.Token, Audit: s.Audit, Clock: cfg.Clock, Log: cfg.Log, Registry: reg,
		TrustedProxies: cfg.TrustedProxies,
	})
	return s, nil
}

// bootstrap creates the first admin credential if there is none, and writes
// it to DATA/admin.token with mode 0600.
func (s *Server) bootstrap(ctx context.Context) error {
	existing, err := s.store.AdminCredentials(ctx)
	if err != nil || len(existing) > 0 {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, "admin.token")
	_, secret, err := s.Identity.CreateAdminCredential(ctx, "bootstrap")
	if err != nil {
		return err
	}
	// A new file, renamed into place: an old admin.token, whatever its mode
	// or wherever a link in its place points, is replaced, not written into.
	tmp, err := os.CreateTemp(s.cfg.DataDir, ".admin.token-*")
	if err != nil {
		return fmt.Errorf("bootstrap admin credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(secret + "\n")
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("bootstrap admin credential: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("bootstrap admin credential: %w", err)
	}
	s.AdminTokenFile = path
	return nil
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Maintain runs one round of the background schedule: rotation and pruning.
func (s *Server) Maintain(ctx context.Context) error {
	return errors.Join(s.Keys.Maintain(ctx), s.Revoker.Prune(ctx))
}

// Close flushes pending writes and closes the store.
func (s *Server) Close() error {
	s.Token.Close()
	s.Audit.Close()
	return s.store.Close()
}

// auditOrigin is the log's name in its checkpoints and key: fixed at first
// start from the issuer, so that moving the service does not orphan the
// checkpoints already signed.
func auditOrigin(ctx context.Context, st mayfly.Store, issuer string) (string, error) {
	const setting = "audit.origin"
	b, err := st.Setting(ctx, setting)
	if err == nil {
		return string(b), nil
	}
	if !errors.Is(err, mayfly.ErrNotFound) {
		return "", err
	}
	origin := strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://") + "/audit"
	if err := st.PutSetting(ctx, setting, []byte(origin)); err != nil && !errors.Is(err, mayfly.ErrConflict) {
		return "", err
	}
	return auditOrigin(ctx, st, issuer)
}

// maintainEvery bounds the wait between rounds when no key changes state sooner.
const maintainEvery = time.Minute

// run keeps the schedule: it wakes when the next key changes state.
func (s *Server) run(ctx context.Context) {
	for {
		wait := maintainEvery
		if next := s.Keys.NextChange(); !next.IsZero() {
			wait = min(wait, max(next.Sub(s.cfg.Clock.Now()), 0)+10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("maintenance failed", "err", err)
		}
	}
}

// Run serves on cfg.Addr until ctx ends. ready, if not nil, is called with
// the issuer URL once the server accepts connections.
func Run(ctx context.Context, cfg Config, ready func(s *Server, issuer string)) error {
	if err := cfg.defaults(); err != nil {
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
		Handler: s.handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	cfg.Log.Info("mayfly serving", "issuer", cfg.Issuer, "data", cfg.DataDir)
	if ready != nil {
		ready(s, cfg.Issuer)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancelShut := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShut()
	return hs.Shutdown(shut)
}
