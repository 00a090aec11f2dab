// Package app assembles Mayfly's services from their parts (store, sealer,
// audit log, policy services) and runs their background schedule: all of
// Mayfly but its transport. Package server serves it over HTTP; policy
// packages' tests run it whole, without HTTP, through internal/apptest.
//
// # Invariants
//
// On first start it creates the root key and one bootstrap admin credential,
// written only to files of mode 0600. Configuration that raises the key
// lifetime ceiling is refused unless explicitly overridden, and the override
// is logged as a warning on every start.
//
// # Replicas
//
// Several servers may share one PostgreSQL store. They must share the root
// key too: a server whose root key did not seal the store's material refuses
// to start. Each follows the store's change feed (Store.Watch) and reloads
// what it caches: revocations, keys, the audit log key.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/alert"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/doctor"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/mayflyhq/mayfly/internal/offboard"
	"github.com/mayflyhq/mayfly/internal/pending"
	"github.com/mayflyhq/mayfly/internal/refresh"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/scim"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/ssf"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/store/postgres"
	"github.com/mayflyhq/mayfly/store/sqlite"
)

// Config configures Mayfly. Zero values mean the defaults. Addr, the TLS
// and ops settings, TrustedProxies and StreamHeartbeat are the HTTP
// server's, which shares this configuration.
type Config struct {
	DataDir     string // default ./mayfly-data
	Addr        string // default 127.0.0.1:8740
	Issuer      string // default http://ADDR, or https://HOST:PORT with TLS
	RootKeyFile string // default DATA/root.key
	// Store is where state lives: a postgres:// URL, or a SQLite file path
	// (optionally prefixed sqlite:). Default DATA/mayfly.db.
	Store string
	// KeyLifetimeCeiling above mayfly.KeyLifetimeCeiling needs AllowLongKeyLifetime.
	KeyLifetimeCeiling   time.Duration
	AllowLongKeyLifetime bool
	// TrustedProxies may set X-Forwarded-For for the source IP of records.
	TrustedProxies []netip.Prefix

	// Operator names the person running the server with access to the
	// root key file: they are recorded as its custodian, and own the
	// bootstrap admin credential. Default "operator".
	Operator string
	// SCIMDeactivate is what an identity provider's deactivation (SCIM
	// active=false) does: "suspend" (the default) or "offboard".
	SCIMDeactivate string
	// Limits are the lockouts after failed authentications and the bound
	// on expensive requests; zero values mean their defaults.
	Limits limit.Config
	// Detect holds the detection rules' thresholds and containment.
	Detect detect.Config

	// TLSCert and TLSKey are PEM files of a certificate chain and its
	// private key: with both the server serves HTTPS, and reads them
	// again when their contents change and on each receive from
	// TLSReload.
	TLSCert, TLSKey string
	// TLSReload, if not nil, makes the server read TLSCert and TLSKey
	// again at once (serve sends SIGHUP here).
	TLSReload <-chan os.Signal
	// TLSCheckEvery is how often TLSCert and TLSKey are checked for a
	// change; zero means every 10 s.
	TLSCheckEvery time.Duration
	// OpsAddr, if set, is a second listener, plain HTTP, for /metrics,
	// /healthz and /readyz; the API's listener then serves no /metrics.
	OpsAddr string
	// OpsWrap, if set, wraps the ops listener's handler (never the
	// API's): serve --ops-pprof adds Go's profiler with it. It needs
	// OpsAddr.
	OpsWrap func(http.Handler) http.Handler

	Clock mayfly.Clock
	Rand  io.Reader
	Log   *slog.Logger
	// RefreshGrace is how long after a refresh token's use a client that
	// got no answer may present it once more; zero means
	// refresh.DefaultGrace, a negative value none.
	RefreshGrace time.Duration
	// StreamHeartbeat is the revocation stream's heartbeat interval;
	// zero means the default (5 s).
	StreamHeartbeat time.Duration
	// SSFAllowHTTP lets Shared Signals push streams deliver to plain
	// http:// endpoints; without it they must be https.
	SSFAllowHTTP bool
	// AlertWebhooks receive every alert change, signed with the
	// whsec_ secret in AlertWebhookSecretFile; AlertOCSF, if set, is a
	// file that gets each change as an OCSF Detection Finding line.
	AlertWebhooks          []string
	AlertWebhookSecretFile string
	AlertOCSF              string
	// AlertWebhookBackoff, for tests, overrides the first wait between
	// webhook attempts (1 s).
	AlertWebhookBackoff time.Duration
	// SSFMaxQueue, for tests, overrides the most SETs a stream may hold.
	SSFMaxQueue int
	// DPoPReplayCacheSize, for tests, overrides how many DPoP proofs the
	// token endpoint remembers for replay detection, of each kind of
	// client (dpop.Config.ReplayCacheSize).
	DPoPReplayCacheSize int
	// AfterOffboardStep, for tests, runs after each offboarding step.
	AfterOffboardStep func(step string) error
	// LedgerRetention is how long the access ledger keeps what it
	// records; zero means ledger.DefaultRetention (400 days).
	LedgerRetention time.Duration
	// IssuanceRetention is how long issuance records are kept; zero
	// means token.DefaultIssuanceRetention (400 days), and below
	// token.MinIssuanceRetention is refused.
	IssuanceRetention time.Duration
	// LedgerByToken keeps which token read what for the whole retention;
	// else day buckets are kept per credential (ledger.Config.ByCredential).
	LedgerByToken bool
	// WrapDetector, for tests, wraps what the ledger's ingest hands
	// reports to (nil when nothing detects).
	WrapDetector func(ledger.Detector) ledger.Detector
	// WrapStore, for tests, wraps the store before anything uses it: a
	// test makes it slow or unresponsive.
	WrapStore func(mayfly.Store) mayfly.Store
}

// App is an assembled Mayfly.
type App struct {
	cfg      Config
	store    mayfly.Store
	Keys     *keys.Service
	Identity *identity.Service
	Token    *token.Service
	Refresh  *refresh.Service
	Revoker  *revoke.Service
	Audit    *audit.Log
	Offboard *offboard.Service
	SSF      *ssf.Service
	SCIM     *scim.Service
	Pending  *pending.Service
	Doctor   *doctor.Service
	Limits   *limit.Limits
	// The access ledger: its upkeep, its ingest, and the check of the
	// raw tokens services report.
	Ledger       *ledger.Service
	Ingest       *ledger.Ingest
	TokenChecker *ledger.TokenChecker
	Alerts       *alert.Service
	detect       *detect.Engine // nil when nothing detects
	root         *rootKey
	// operatorID is the person running this process (Config.Operator).
	operatorID string
	// AdminTokenFile is set when this start created the bootstrap credential.
	AdminTokenFile string

	issuanceRetention *token.Retention // run by Maintain

	stopWatch context.CancelFunc
	watching  chan struct{}
	stopSSF   context.CancelFunc
	ssfDone   chan struct{}
	ready     readiness

	stopAlerts func() // ends alert delivery

	closeOnce sync.Once
	drained   Drained
	closeErr  error
}

// Defaults fills in the defaults of what is not set, and refuses what is
// not allowed.
func (cfg *Config) Defaults() error {
	if cfg.DataDir == "" {
		cfg.DataDir = "mayfly-data"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8740"
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("TLS needs both a certificate file and its key file (--tls-cert and --tls-key), or neither")
	}
	if cfg.TLSCheckEvery <= 0 {
		cfg.TLSCheckEvery = 10 * time.Second
	}
	if cfg.RootKeyFile == "" {
		cfg.RootKeyFile = filepath.Join(cfg.DataDir, "root.key")
	}
	if cfg.Store == "" {
		cfg.Store = filepath.Join(cfg.DataDir, "mayfly.db")
	}
	if cfg.Clock == nil {
		cfg.Clock = mayfly.SystemClock{}
	}
	if cfg.Operator == "" {
		cfg.Operator = "operator"
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.SCIMDeactivate == "" {
		cfg.SCIMDeactivate = "suspend"
	} else if cfg.SCIMDeactivate != "suspend" && cfg.SCIMDeactivate != "offboard" {
		return fmt.Errorf("SCIM deactivation %q is not suspend or offboard", cfg.SCIMDeactivate)
	}
	if err := cfg.Limits.Defaults(); err != nil {
		return err
	}
	if err := cfg.Detect.Defaults(); err != nil {
		return err
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

// DefaultLimits are the limits a zero Config.Limits means.
func DefaultLimits() limit.Config {
	var c limit.Config
	c.Defaults()
	return c
}

// New opens the store and assembles the services. Issuer must be set.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	if err := cfg.Defaults(); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		return nil, errors.New("server: no issuer")
	}
	if cfg.KeyLifetimeCeiling > mayfly.KeyLifetimeCeiling {
		cfg.Log.Warn("configuration override: key lifetime ceiling raised above 30 days", "ceiling", cfg.KeyLifetimeCeiling)
	}
	// The store first: a start that cannot reach it leaves nothing behind,
	// least of all a new root key that the store never saw.
	st, replicated, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	if cfg.WrapStore != nil {
		st = cfg.WrapStore(st)
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Log.Warn("data directory is open to other users; it holds sealed keys and credentials and should be mode 0700", "dir", cfg.DataDir, "mode", fi.Mode().Perm())
	}
	sealer, rootPending, created, err := loadRoot(cfg.RootKeyFile, cfg.Rand)
	if err != nil {
		return nil, err
	}
	if created {
		cfg.Log.Info("root key created", "file", cfg.RootKeyFile)
	} else if fi, err := os.Stat(cfg.RootKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Log.Warn("root key file is readable by others; it should be mode 0600", "file", cfg.RootKeyFile, "mode", fi.Mode().Perm())
	}
	if err := checkRootKey(ctx, st, sealer, cfg.Rand, cfg.Clock, cfg.RootKeyFile); err != nil {
		return nil, err
	}
	s := &App{cfg: cfg, store: st}
	if s.Limits, err = limit.New(cfg.Limits, cfg.Clock, cfg.Log); err != nil {
		return nil, err
	}
	origin, err := auditOrigin(ctx, st, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	if s.Audit, err = audit.Open(ctx, audit.Config{Store: st, Sealer: sealer, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log, Origin: origin, Replicated: replicated}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Audit.Close()
		}
	}()
	if cfg.KeyLifetimeCeiling > mayfly.KeyLifetimeCeiling {
		_, err := s.Audit.Append(ctx, mayfly.AuditEntry{Action: mayfly.ActionConfigOverride, Details: map[string]string{
			"setting": "key-lifetime-ceiling", "value": cfg.KeyLifetimeCeiling.String(), "default": mayfly.KeyLifetimeCeiling.String()}})
		if err != nil {
			return nil, err
		}
	}
	if s.Revoker, err = revoke.New(ctx, st, cfg.Clock); err != nil {
		return nil, err
	}
	if err := s.startAlerts(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.stopAlerts()
		}
	}()
	// The ceiling runs at what the flag asks, but no higher than a second
	// person approved (see raiseCeiling).
	approved, err := approvedCeiling(ctx, st)
	if err != nil {
		return nil, err
	}
	s.root = &rootKey{file: cfg.RootKeyFile, sealer: sealer, store: st, audit: s.Audit, clock: cfg.Clock, rand: cfg.Rand, log: cfg.Log}
	s.Keys, err = keys.New(ctx, keys.Config{Store: st, Sealer: sealer, Revoker: s.Revoker, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log,
		Ceiling: min(cfg.KeyLifetimeCeiling, approved), CanSeal: s.root.canSeal})
	if err != nil {
		return nil, err
	}
	s.root.keys = s.Keys
	if rootPending {
		cfg.Log.Warn("finishing a root key rotation that was interrupted", "file", cfg.RootKeyFile+".next")
		if err := s.root.finish(ctx, "an interrupted rotation finished at start", nil); err != nil {
			return nil, err
		}
	}
	if err := s.Keys.EnsureRing(ctx, keys.DefaultRing); err != nil {
		return nil, err
	}
	s.Identity = identity.New(identity.Config{Store: st, Locks: st, Keys: s.Keys, Revoker: s.Revoker, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log})
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	s.Pending = pending.New(pending.Config{Store: st, Audit: s.Audit, Identity: s.Identity, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log})
	s.Offboard = offboard.New(offboard.Config{Store: st, Identity: s.Identity, Keys: s.Keys, Revoker: s.Revoker, Audit: s.Audit,
		RootKey: s.root, Requests: s.Pending, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log, AfterStep: cfg.AfterOffboardStep})
	// An offboarding that cannot finish now must not keep the server down:
	// the background schedule tries again.
	if err := s.Offboard.Resume(ctx); err != nil {
		cfg.Log.Error("an interrupted offboarding could not be finished at start; retrying in the background", "err", err)
	}
	s.Token = token.New(token.Config{
		Issuer: cfg.Issuer, TokenEndpoint: cfg.Issuer + api.TokenPath, Store: st, Keys: s.Keys,
		Identity: s.Identity, Revoker: s.Revoker, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log,
		Expensive: s.Limits.Expensive,
	})
	s.Refresh = refresh.New(refresh.Config{Store: st, Revoker: s.Revoker, NotBefore: s.Revoker.SubjectMark, Alerts: s.Alerts,
		Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log.With("part", "refresh"), Grace: cfg.RefreshGrace})
	s.SSF = ssf.New(ssf.Config{Store: st, Revoker: s.Revoker, Identity: s.Identity, Keys: s.Keys, Audit: s.Audit, Issuer: cfg.Issuer,
		Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log, AllowHTTP: cfg.SSFAllowHTTP, MaxQueue: cfg.SSFMaxQueue,
		Sealer: sealer, CanSeal: s.root.canSeal})
	s.Identity.OnReactivated(s.SSF.Reactivated)
	s.registerPending()
	if err := s.raiseCeiling(ctx); err != nil {
		return nil, err
	}
	s.SCIM = scim.New(scim.Config{Identity: s.Identity, Offboard: s.Offboard, Pending: s.Pending, Deactivate: cfg.SCIMDeactivate})
	s.Doctor = doctor.New(doctor.Config{Store: st, Keys: s.Keys, Clock: cfg.Clock})
	if err := s.startLedger(ctx, replicated); err != nil {
		return nil, err
	}
	if err := s.startIssuanceRetention(); err != nil {
		return nil, err
	}
	s.watch()
	ssfCtx, stopSSF := context.WithCancel(context.Background())
	s.stopSSF, s.ssfDone = stopSSF, make(chan struct{})
	transmitter := s.SSF
	go func() {
		defer close(s.ssfDone)
		transmitter.Run(ssfCtx)
	}()
	return s, nil
}

// OpenStore opens the store that dsn names and applies its pending
// migrations. replicated reports whether other processes may share it.
func OpenStore(ctx context.Context, dsn string) (st mayfly.Store, replicated bool, err error) {
	kind, err := storeKind(dsn)
	if err != nil {
		return nil, false, err
	}
	if kind == "sqlite" {
		path := strings.TrimPrefix(dsn, "sqlite:")
		// The database lives in a directory that holds sealed keys: made
		// private, as the data directory is.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("store %s: %w", path, err)
		}
		st, err = sqlite.Open(ctx, path)
		return st, false, err
	}
	if st, err = postgres.Open(ctx, dsn); err != nil {
		return nil, false, fmt.Errorf("store %s: %w", Redact(dsn), err)
	}
	return st, true, nil
}

// Migrate applies the pending migrations of the store dsn names and returns
// the versions it applied.
func Migrate(ctx context.Context, dsn string) ([]int, error) {
	kind, err := storeKind(dsn)
	if err != nil {
		return nil, err
	}
	if kind == "sqlite" {
		return sqlite.Migrate(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	}
	applied, err := postgres.Migrate(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", Redact(dsn), err)
	}
	return applied, nil
}

// storeKind tells a postgres:// URL from a SQLite path, and refuses what is
// neither rather than create a file named after a connection string.
func storeKind(dsn string) (string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres", nil
	case strings.Contains(dsn, "://"):
		return "", fmt.Errorf("store %s: not a postgres:// URL or a SQLite file path", Redact(dsn))
	case strings.Contains(dsn, "=") && strings.Contains(dsn, " "):
		return "", errors.New("store: PostgreSQL key=value connection strings are not accepted; give a postgres:// URL")
	}
	return "sqlite", nil
}

// Redact hides passwords in a store URL, for logs and errors: in the user
// part and in any parameter whose name says password. A URL that does not
// parse is not shown at all.
func Redact(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return dsn // a file path
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a store URL that does not parse)"
	}
	if q := u.Query(); len(q) > 0 {
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// checkRootKey refuses a root key that did not seal the store's material,
// as when a replica starts with another root key file than the others. The
// store keeps a value sealed under the root key the first start used.
func checkRootKey(ctx context.Context, st mayfly.Store, sealer *seal.Sealer, rand io.Reader, clock mayfly.Clock, file string) error {
	const setting, aad = rootCheckSetting, rootCheckAAD
	sealed, err := st.Setting(ctx, setting)
	if errors.Is(err, mayfly.ErrNotFound) {
		if sealed, err = sealer.Seal(rand, []byte(aad), []byte(aad)); err != nil {
			return err
		}
		// Before the audit log exists, which the root key seals.
		err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error {
			if err := st.PutSetting(tx, setting, sealed); err != nil {
				return err
			}
			return st.PutSetting(tx, rootRotatedSetting, []byte(clock.Now().UTC().Format(time.RFC3339Nano)))
		})
		if err != nil && !errors.Is(err, mayfly.ErrConflict) {
			return err
		}
		return checkRootKey(ctx, st, sealer, rand, clock, file) // another replica may have been first
	}
	if err != nil {
		return err
	}
	if _, err := sealer.Open(sealed, []byte(aad)); err != nil {
		return fmt.Errorf("the root key in %s is not the one this store's keys are sealed under; every replica sharing a store needs the same root key file", file)
	}
	return nil
}

// watch follows the store's change feed and reloads what other replicas
// changed, until Close. Each kind of state reloads on its own goroutine, so
// that revocations never wait behind a key reload held up by another
// replica's rotation. Notices that arrive while a reload runs are coalesced
// into one more. A reload that fails is retried: a revocation heard of must
// not be dropped because the database blinked.
func (s *App) watch() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch, s.watching = cancel, make(chan struct{})
	reloaders := map[mayfly.Change]func(context.Context) error{
		mayfly.ChangeRevocations: s.Revoker.Refresh,
		mayfly.ChangeKeys:        s.Keys.Reload,
		mayfly.ChangeSettings: func(ctx context.Context) error {
			return errors.Join(s.root.follow(ctx), s.Audit.ReloadKey(ctx), s.applyCeiling(ctx))
		},
		mayfly.ChangeIdentity: s.Identity.Forget,
		mayfly.ChangeAlerts:   s.Alerts.Refresh,
	}
	var wg sync.WaitGroup
	kick := map[mayfly.Change]chan struct{}{}
	for c, reload := range reloaders {
		k := make(chan struct{}, 1)
		kick[c] = k
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-k:
				}
				for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
					err := reload(ctx)
					if err == nil || ctx.Err() != nil {
						break
					}
					s.cfg.Log.Error("reloading after a change in the store failed; retrying", "change", c, "err", err, "retry_in", wait)
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
			}
		})
	}
	signal := func(c mayfly.Change) {
		select {
		case kick[c] <- struct{}{}:
		default: // a reload is already due
		}
	}
	go func() {
		defer close(s.watching)
		s.store.Watch(ctx, func(c mayfly.Change) {
			if c == mayfly.ChangeAll {
				for k := range kick {
					signal(k)
				}
			} else if _, ok := kick[c]; ok {
				signal(c)
			}
		})
		wg.Wait()
	}()
}

// bootstrap creates the first admin credential if there is none, and writes
// it to DATA/admin.token with mode 0600. Of replicas starting together on a
// new store, one does.
func (s *App) bootstrap(ctx context.Context) error {
	unlock, err := s.store.Lock(ctx, "bootstrap")
	if err != nil {
		return err
	}
	defer unlock()
	op, err := s.operator(ctx)
	if err != nil {
		return err
	}
	s.operatorID = op.ID
	existing, err := s.store.AdminCredentials(ctx)
	if err != nil || len(existing) > 0 {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, "admin.token")
	_, secret, err := s.Identity.NewCredential(ctx, identity.CredentialSpec{Name: "bootstrap", Role: mayfly.RoleAdmin, Owner: op.ID})
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

// operator makes sure the person running the server exists and is recorded
// as a custodian of the root key: whoever can read the root key file could
// unseal every key, so offboarding them must replace it.
func (s *App) operator(ctx context.Context) (*mayfly.Principal, error) {
	op, err := s.Identity.Fresh(ctx, s.cfg.Operator)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		op, err = s.Identity.CreatePrincipal(ctx, s.cfg.Operator, mayfly.Human, "")
	}
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", s.cfg.Operator, err)
	}
	if op.Kind != mayfly.Human || op.Status != mayfly.Active {
		return nil, fmt.Errorf("operator %q is a %s %s; start the server as an active person (--operator)", op.Name, op.Status, op.Kind)
	}
	held, err := s.store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: op.ID, Asset: mayfly.AssetRootKey})
	if err != nil || len(held) > 0 {
		return op, err
	}
	_, err = s.Identity.GrantCustody(ctx, op.ID, mayfly.AssetRootKey, mayfly.RootKeyAsset, mayfly.CustodyOperator, "runs the server with the root key file "+s.cfg.RootKeyFile)
	return op, err
}

// Config is the configuration the app runs with, defaults filled in.
func (s *App) Config() Config { return s.cfg }

// Store is the app's store.
func (s *App) Store() mayfly.Store { return s.store }

// Maintain runs one round of the background schedule: rotation, pruning,
// and any offboarding a failure left unfinished.
func (s *App) Maintain(ctx context.Context) error {
	// Keys first: the ledger's maintenance can take minutes (making every
	// retained day's unions again after migration 19), and rotation must
	// not wait on it.
	keysErr := s.Keys.Maintain(ctx)
	_, ledgerErr := s.Ledger.Maintain(ctx)
	return errors.Join(keysErr, s.Revoker.Prune(ctx), s.Refresh.Prune(ctx), s.Offboard.Resume(ctx), ledgerErr, s.pruneIssuances(ctx))
}

// Close flushes pending writes and closes the store.
func (s *App) Close() error {
	_, err := s.Shutdown(context.Background())
	return err
}

// queuedWait bounds the count of queued Shared Signals events at shutdown.
const queuedWait = 3 * time.Second

// Drained is what closing finished, for the shutdown's log.
type Drained struct {
	// Pushes are the Shared Signals pushes that were under way, waited
	// for.
	Pushes int
	// Queued are the Shared Signals events left undelivered. They are in
	// the store, and go out after the next start; -1 if they could not
	// be counted.
	Queued int
}

// Shutdown is Close, saying what it finished. It closes once: a second
// call returns what the first did.
func (s *App) Shutdown(ctx context.Context) (Drained, error) {
	s.closeOnce.Do(func() {
		s.drained.Pushes = s.SSF.Pushing()
		s.stopSSF()
		<-s.ssfDone // the pushes under way end
		s.stopWatch()
		<-s.watching
		s.stopAlerts()
		// What was acknowledged is written first; the count after is
		// only for the log, and bounded, so a store that stopped
		// answering cannot hold the shutdown.
		// The ingest first, so that no detection starts containment after
		// the wait for it; both before the audit log, which they write
		// through.
		s.Ingest.Close()
		if s.detect != nil {
			s.detect.Close() // containment under way finishes
		}
		s.Audit.Close()
		count, cancel := context.WithTimeout(ctx, queuedWait)
		var err error
		if s.drained.Queued, err = s.SSF.Queued(count); err != nil {
			s.drained.Queued = -1
			s.cfg.Log.Warn("counting the Shared Signals events left queued failed", "err", err)
		}
		cancel()
		s.closeErr = s.store.Close()
	})
	return s.drained, s.closeErr
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
	err = mayfly.Transact(ctx, st, func(tx mayfly.Tx) error { return st.PutSetting(tx, setting, []byte(origin)) })
	if err != nil && !errors.Is(err, mayfly.ErrConflict) {
		return "", err
	}
	return auditOrigin(ctx, st, issuer)
}

// maintainEvery bounds the wait between rounds when no key changes state sooner.
const maintainEvery = time.Minute

// Run keeps the schedule until ctx ends: it wakes when the next key
// changes state.
func (s *App) Run(ctx context.Context) {
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
