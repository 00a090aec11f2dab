package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mayflyhq/mayfly/server"
)

func serve(ctx context.Context, args []string, env Env) error {
	f := newFlags("serve", env)
	var cfg server.Config
	var level, format, config string
	f.StringVar(&cfg.DataDir, "data", "mayfly-data", "data directory")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8740", "listen address")
	f.StringVar(&cfg.Issuer, "issuer", "", "issuer URL (default http://ADDR, or https://HOST:PORT with --tls-cert)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain file: serve HTTPS on --addr (needs --tls-key; reread on SIGHUP and when it changes)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&cfg.OpsAddr, "ops-addr", "", "listen address for /metrics, /healthz and /readyz over plain HTTP; /metrics then leaves --addr")
	profiler := f.Bool("ops-pprof", false, "serve Go's profiler at /debug/pprof/ on --ops-addr (which it needs)")
	f.StringVar(&cfg.RootKeyFile, "root-key-file", "", "root key file (default DATA/root.key); replicas sharing a store share it")
	f.StringVar(&cfg.Store, "store", "", "postgres://USER@HOST/DB URL, or a SQLite file (default DATA/mayfly.db)")
	f.StringVar(&cfg.Operator, "operator", "operator", "the person running the server with the root key file: recorded as its custodian")
	f.DurationVar(&cfg.KeyLifetimeCeiling, "key-lifetime-ceiling", 0, "longest any signing key may sign (default 720h; more needs --allow-long-key-lifetime)")
	f.BoolVar(&cfg.AllowLongKeyLifetime, "allow-long-key-lifetime", false, "allow a key lifetime ceiling above 30 days")
	f.StringVar(&cfg.SCIMDeactivate, "scim-deactivate", "suspend", "what an identity provider's SCIM deactivation does: suspend or offboard")
	f.DurationVar(&cfg.LedgerRetention, "ledger-retention", server.DefaultLedgerRetention, "how long the access ledger keeps what services report (default 400 days)")
	f.DurationVar(&cfg.IssuanceRetention, "issuance-retention", server.DefaultIssuanceRetention, "how long issuance records are kept (default 400 days; at least 168h); older days are deleted, each deletion in the audit log with a digest of what it held")
	f.BoolVar(&cfg.LedgerByToken, "ledger-by-token", false, "keep which token read which records for the whole retention; by default buckets rolled into days keep each credential's (key, client, principal, subject) reads, not each token's")
	grace := f.Duration("refresh-grace", server.DefaultRefreshGrace, "how long after a refresh token's use a client that got no answer may present it once more; 0 for never")
	f.BoolVar(&cfg.SSFAllowHTTP, "ssf-allow-http", false, "development only: let Shared Signals push streams deliver to http:// and internal addresses")
	var hooks list
	f.Var(&hooks, "alert-webhook", "URL that receives every alert change, signed per Standard Webhooks (repeatable, or comma-separated)")
	f.StringVar(&cfg.AlertWebhookSecretFile, "alert-webhook-secret-file", "", "file holding the whsec_ secret that signs alert webhooks")
	f.StringVar(&cfg.AlertOCSF, "alert-ocsf", "", "file that every alert change is appended to, as OCSF Detection Finding JSON Lines")
	var proxies list
	f.Var(&proxies, "trusted-proxies", "CIDRs of proxies whose X-Forwarded-For gives the client address (comma-separated)")
	lim := server.DefaultLimits()
	lockout := true
	f.BoolVar(&lockout, "lockout", true, "back client IDs and source addresses off after failed authentications (--lockout=false turns that off)")
	f.IntVar(&lim.Client.Failures, "lockout-client-failures", lim.Client.Failures, "consecutive failed authentications of a client ID that start its backoff (1 s, doubling)")
	f.DurationVar(&lim.Client.Max, "lockout-client-max", lim.Client.Max, "longest backoff of a client ID")
	f.IntVar(&lim.Address.Failures, "lockout-address-failures", lim.Address.Failures, "consecutive failed client authentications from a source address that start its backoff")
	f.DurationVar(&lim.Address.Max, "lockout-address-max", lim.Address.Max, "longest backoff of a source address")
	f.IntVar(&lim.Admin.Failures, "lockout-admin-failures", lim.Admin.Failures, "consecutive failed admin or SCIM credentials from a source address that start its backoff")
	f.DurationVar(&lim.Admin.Max, "lockout-admin-max", lim.Admin.Max, "longest backoff of a source address for admin and SCIM credentials")
	f.IntVar(&lim.Expensive, "max-expensive", lim.Expensive, "most expensive requests at once: RSA signatures, audit exports and verifications, admin lists that grow with the store")
	f.DurationVar(&lim.ExpensiveWait, "expensive-wait", lim.ExpensiveWait, "how long an expensive request beyond --max-expensive waits before it is refused with 503")
	det := server.DefaultDetect()
	f.Var(&det.Disable, "detect-disable", "`RULES` that do not run, comma-separated: forged-token, revoked-in-use, bulk-read, new-network, shared-source, stale-verifier")
	f.Var(&det.Contain, "detect-contain", "what a rule does besides alerting, `RULE=ACTION` pairs comma-separated: forged-token=revoke-key; revoked-in-use and bulk-read =suspend-principal or =revoke-client (default: alert only)")
	f.DurationVar(&det.IssuanceGrace, "detect-issuance-grace", det.IssuanceGrace, "forged-token: how long a reported token without an issuance record is looked for again before the rule fires")
	f.DurationVar(&det.RevocationGrace, "detect-revocation-grace", det.RevocationGrace, "revoked-in-use: how long after a revocation a verifier may still accept what it withdrew")
	f.DurationVar(&det.BulkWindow, "detect-bulk-window", det.BulkWindow, "bulk-read: the sliding window distinct records are counted in")
	f.DurationVar(&det.BulkLearning, "detect-bulk-learning", det.BulkLearning, "bulk-read: how long after a client, principal, subject or source is first seen only the ceiling holds, while its baseline is learned")
	f.Float64Var(&det.BulkMultiple, "detect-bulk-multiple", det.BulkMultiple, "bulk-read: how many times its learned high-water mark a client, principal, subject or source may read in a window")
	f.Int64Var(&det.BulkFloor, "detect-bulk-floor", det.BulkFloor, "bulk-read: distinct records in a window that never fire, whatever the baseline")
	f.Int64Var(&det.BulkCeiling, "detect-bulk-ceiling", det.BulkCeiling, "bulk-read: distinct records in a window that always fire, whatever the baseline")
	f.DurationVar(&det.Learning, "detect-learning", det.Learning, "new-network: how long after a client or principal is first seen its networks are learned")
	f.DurationVar(&det.SharedWindow, "detect-shared-source-window", det.SharedWindow, "shared-source: the window clients and subjects are counted in per source address")
	f.IntVar(&det.SharedMax, "detect-shared-source-max", det.SharedMax, "shared-source: the most clients, or subjects, one source address may present tokens of in a window")
	f.DurationVar(&det.StaleLag, "detect-stale-lag", det.StaleLag, "stale-verifier: how far a service's revocation feed may lag, or be silent")
	f.DurationVar(&det.StaleSilence, "detect-stale-silence", det.StaleSilence, "stale-verifier: how long a service that reported may then send nothing")
	f.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&format, "log-format", "text", "log format: text or json")
	f.StringVar(&config, "config", "", "optional config file of 'flag = value' lines")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(0, "no arguments"); err != nil {
		return err
	}
	if err := fill(f.FlagSet, env, config); err != nil {
		return err
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return usagef("--tls-cert and --tls-key go together: give both files, or neither")
	}
	switch {
	case *grace < 0 || *grace > time.Minute:
		return usagef("--refresh-grace %s: must be between 0 and 1m", *grace)
	case *grace == 0:
		cfg.RefreshGrace = -1 // none
	default:
		cfg.RefreshGrace = *grace
	}
	for _, c := range proxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return usagef("--trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", c)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"lockout-client-failures", lim.Client.Failures}, {"lockout-address-failures", lim.Address.Failures}, {"lockout-admin-failures", lim.Admin.Failures}, {"max-expensive", lim.Expensive}} {
		if n.v < 1 {
			return usagef("--%s %d: must be at least 1 (--lockout=false turns lockouts off)", n.flag, n.v)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"lockout-client-max", lim.Client.Max}, {"lockout-address-max", lim.Address.Max}, {"lockout-admin-max", lim.Admin.Max}} {
		if d.v < time.Second {
			return usagef("--%s %s: must be at least 1s", d.flag, d.v)
		}
	}
	if lim.ExpensiveWait <= 0 {
		return usagef("--expensive-wait %s: must be positive", lim.ExpensiveWait)
	}
	// How long failures are remembered follows from the longest backoff.
	lim.Client.Forget, lim.Address.Forget, lim.Admin.Forget = 0, 0, 0
	lim.Off = !lockout
	cfg.AlertWebhooks = hooks
	cfg.Limits = lim
	if *profiler {
		if cfg.OpsAddr == "" {
			return usagef("--ops-pprof needs --ops-addr: the profiler is never served on the API's listener")
		}
		cfg.OpsWrap = withProfiler
	}
	if err := det.Defaults(); err != nil {
		return usagef("%v", err)
	}
	cfg.Detect = det
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return usagef("--log-level %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		cfg.Log = slog.New(slog.NewTextHandler(env.Stderr, opts))
	case "json":
		cfg.Log = slog.New(slog.NewJSONHandler(env.Stderr, opts))
	default:
		return usagef("--log-format %q is not text or json", format)
	}
	// The live heap is small and short-lived garbage is most of what the
	// token path makes; collecting less often cut CPU per token by a fifth
	// (BENCHMARKS.md). GOGC still wins when set.
	if env.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// SIGHUP rereads the certificate; it never ends the server, since
	// `systemctl reload` sends it and systemd would not restart a server
	// that a SIGHUP ended.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if cfg.TLSCert != "" {
		cfg.TLSReload = hup
	} else {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-hup:
					cfg.Log.Info("SIGHUP: nothing to reload without --tls-cert")
				case <-done:
					return
				}
			}
		}()
	}
	return server.Run(ctx, cfg, func(s *server.Server, addr string) {
		fmt.Fprintf(env.Stderr, "mayfly: serving at %s\n", s.URL)
		if issuer := s.Config().Issuer; issuer != s.URL {
			fmt.Fprintf(env.Stderr, "mayfly: issuer %s\n", issuer)
		}
		if s.OpsURL != "" {
			fmt.Fprintf(env.Stderr, "mayfly: ops endpoints at %s\n", s.OpsURL)
		}
		if s.AdminTokenFile != "" {
			fmt.Fprintf(env.Stderr, "mayfly: first start: the admin credential is in %s (mode 0600)\n", s.AdminTokenFile)
		}
	})
}

// migrate applies the store's pending schema migrations, as serve does at
// start, for operators who apply them separately.
func migrate(ctx context.Context, args []string, env Env) error {
	f := newFlags("migrate", env)
	var data, store, config string
	var jsonOut bool
	f.StringVar(&data, "data", "mayfly-data", "data directory, for the default SQLite store")
	f.BoolVar(&jsonOut, "json", false, "print JSON")
	f.StringVar(&store, "store", "", "postgres://USER@HOST/DB URL, or a SQLite file (default DATA/mayfly.db)")
	f.StringVar(&config, "config", "", "optional config file of 'flag = value' lines")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(0, "no arguments"); err != nil {
		return err
	}
	if err := fill(f.FlagSet, env, config); err != nil {
		return err
	}
	if store == "" {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return err
		}
		store = filepath.Join(data, "mayfly.db")
	}
	applied, err := server.Migrate(ctx, store)
	if err != nil {
		return err
	}
	if jsonOut {
		return printJSON(env, struct {
			Store   string `json:"store"`
			Applied []int  `json:"applied"`
		}{server.Redact(store), append([]int{}, applied...)})
	}
	if len(applied) == 0 {
		fmt.Fprintf(env.Stdout, "%s: schema up to date\n", server.Redact(store))
		return nil
	}
	for _, v := range applied {
		fmt.Fprintf(env.Stdout, "%s: applied migration %04d\n", server.Redact(store), v)
	}
	return nil
}

// fill sets flags not given on the command line from MAYFLY_* variables,
// then from the config file. Command line beats environment beats file.
func fill(fs *flag.FlagSet, env Env, config string) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	envName := func(name string) string {
		return "MAYFLY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	}
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if v := env.Getenv(envName(fl.Name)); v != "" && !given[fl.Name] && err == nil {
			if e := fs.Set(fl.Name, v); e != nil {
				err = usagef("%s=%q: %v", envName(fl.Name), v, e)
			}
			given[fl.Name] = true
		}
	})
	if err != nil {
		return err
	}
	if config == "" {
		config = env.Getenv("MAYFLY_CONFIG")
	}
	if config == "" {
		return nil
	}
	file, err := os.Open(config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		if !ok || fs.Lookup(k) == nil || k == "config" {
			return usagef("%s:%d: expected 'flag = value' with a serve flag, got %q", config, n, line)
		}
		if given[k] {
			continue
		}
		if err := fs.Set(k, v); err != nil {
			return usagef("%s:%d: %s: %v", config, n, k, err)
		}
	}
	return sc.Err()
}

// withProfiler adds Go's profiler under /debug/pprof/ to the ops handler
// h: the index, CPU and execution trace profiles, and every named profile
// (heap, allocs, goroutine, ...). Not the command line, which holds the
// store's URL and with it, perhaps, a password.
func withProfiler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/pprof/cmdline", http.NotFoundHandler())
	return mux
}
