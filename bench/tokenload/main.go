// Command tokenload drives Mayfly's token endpoint over HTTP on loopback with
// a fixed number of concurrent clients and reports tokens per second and
// latency percentiles. Issuance records are always on: a token is counted
// only once its record is durable, because the server answers only then.
// With -endpoint introspect it drives introspection instead: the client
// introspects one of its own tokens. With -endpoint refresh it drives the
// refresh_token grant: each connection holds a refresh token family of its
// own, begun in the server as a token exchange begins one (so -self), and
// presents the token the last answer gave it; a token counts once its
// rotation and its access token's record are durable. A list, such as
// -endpoint token,refresh, measures each in turn on the same server. With
// -grant exchange the token endpoint is driven by token exchange (RFC
// 8693): a login service it registers, authenticated by private_key_jwt,
// exchanges subject tokens it signed (with -subject-alg, before the run)
// for a customer each.
//
// Against a running server:
//
//	tokenload -url http://127.0.0.1:8740 -admin-token "$(cat mayfly-data/admin.token)"
//
// Against replicas sharing one store, spreading the clients over them:
//
//	tokenload -url http://127.0.0.1:8740,http://127.0.0.1:8741,http://127.0.0.1:8742 -admin-token ...
//
// Or self-contained, with a server in this process on a temporary directory:
//
//	tokenload -self
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bench/internal/benchkit"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/server"
)

func main() {
	var (
		base    = flag.String("url", "", "URL of a running server (loopback only), or several replicas' URLs, comma-separated")
		admin   = flag.String("admin-token", os.Getenv("MAYFLY_TOKEN"), "admin credential, to create the benchmark client")
		self    = flag.Bool("self", false, "start a server in this process on a temporary directory")
		conc    = flag.Int("c", 64, "concurrent clients")
		dur     = flag.Duration("d", 10*time.Second, "measured duration")
		warm    = flag.Duration("warmup", 2*time.Second, "unmeasured warm-up")
		alg     = flag.String("alg", "ES256", "signing algorithm of the benchmark ring")
		cpuProf = flag.String("cpuprofile", "", "with -self: write a CPU profile of the run")
		ep      = flag.String("endpoint", "token", "what to drive: token, introspect or refresh (with -self), or several, comma-separated, in turn")
		grant   = flag.String("grant", "client_credentials", "with -endpoint token: client_credentials or exchange")
		subAlg  = flag.String("subject-alg", "ES256", "with -grant exchange: the login service's key, ES256 or EdDSA")
		xAuth   = flag.String("exchange-auth", "private_key_jwt", "with -grant exchange: how the login service authenticates, private_key_jwt or secret (client_secret_basic)")
		presign = flag.Int("presign", 200000, "with -grant exchange: requests signed before the run; more are signed during it")
		sprayAt = flag.Int("spray-from", 0, "number the sprayed client IDs from this one, for a spray in stages")
		xff     = flag.Bool("spray-xff", false, "send each sprayed request with an X-Forwarded-For address of its own (for a server that trusts 127.0.0.0/8 as a proxy)")
		creds   = flag.Bool("print-client", false, "create the ring and the client, print \"ID SECRET\" and an access token, one per line, and exit: for an external load generator")
		spray   = flag.Int("spray", 0, "before the run, fail client authentication this many times, each for a client ID of its own, to fill the server's lockout table (the server must let one address fail that often: --lockout-address-failures)")
	)
	flag.Parse()
	eps := strings.Split(*ep, ",")
	for _, e := range eps {
		if e != "token" && e != "introspect" && (e != "refresh" || !*self) {
			fmt.Fprintln(os.Stderr, "tokenload: -endpoint is token, introspect or refresh (refresh needs -self)")
			os.Exit(2)
		}
	}
	if *grant != "client_credentials" && (*grant != "exchange" || *ep != "token") {
		fmt.Fprintln(os.Stderr, "tokenload: -grant is client_credentials or exchange, which drives the token endpoint")
		os.Exit(2)
	}
	x := exchangeOpts{on: *grant == "exchange", alg: *subAlg, auth: *xAuth, presign: *presign}
	sp := sprayer{from: *sprayAt, n: *spray, xff: *xff}
	if *creds {
		if err := printClient(*base, *admin, *alg); err != nil {
			fmt.Fprintln(os.Stderr, "tokenload:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*base, *admin, *self, *conc, *dur, *warm, *alg, *cpuProf, eps, sp, x); err != nil {
		fmt.Fprintln(os.Stderr, "tokenload:", err)
		os.Exit(1)
	}
}

// printClient sets up as a run would and prints the client's credentials
// and one of its access tokens (to introspect).
func printClient(base, admin, alg string) error {
	if err := benchkit.Loopback(base); err != nil {
		return err
	}
	id, secret, _, err := setup(context.Background(), base, admin, alg)
	if err != nil {
		return err
	}
	tok, err := benchkit.Token(http.DefaultClient, base, id, secret)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n%s\n", id, secret, tok)
	return nil
}

// exchangeOpts are -grant exchange's settings.
type exchangeOpts struct {
	on      bool
	alg     string
	auth    string
	presign int
}

func run(base, admin string, self bool, conc int, dur, warm time.Duration, alg, cpuProf string, eps []string, spray sprayer, xo exchangeOpts) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var srv *server.Server
	if self {
		dir, err := os.MkdirTemp("", "tokenload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ready := make(chan string, 1)
		errc := make(chan error, 1)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		go func() {
			cfg := server.Config{DataDir: dir, Addr: "127.0.0.1:0", Log: log}
			if spray.n > 0 {
				cfg.Limits.Address.Failures = spray.n + 1 // the spray comes from one address
			}
			errc <- server.Run(ctx, cfg, func(s *server.Server, addr string) { srv = s; ready <- "http://" + addr })
		}()
		select {
		case base = <-ready:
		case err := <-errc:
			return err
		}
		tok, err := os.ReadFile(dir + "/admin.token")
		if err != nil {
			return err
		}
		admin = strings.TrimSpace(string(tok))
	}
	if base == "" {
		return errors.New("give -url and -admin-token, or -self")
	}
	bases := strings.Split(base, ",")
	if err := benchkit.Loopback(bases...); err != nil {
		return err
	}
	id, secret, ring, err := setup(ctx, bases[0], admin, alg)
	if err != nil {
		return err
	}
	var x *exchanger
	if xo.on {
		if x, err = setupExchange(ctx, bases[0], admin, ring, xo.alg, xo.auth, xo.presign); err != nil {
			return err
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	if err := spray.run(hc, bases[0]); err != nil {
		return err
	}
	if self && cpuProf != "" { // the runs and their warm-ups, not the setup or the spray
		stop, err := profile(cpuProf)
		if err != nil {
			return err
		}
		defer stop()
	}
	for _, ep := range eps {
		if err := measure(ctx, hc, srv, bases, id, secret, conc, dur, warm, alg, ep, x); err != nil {
			return err
		}
	}
	return nil
}

// measure drives ep for warm, then for dur, and prints what it measured.
func measure(ctx context.Context, hc *http.Client, srv *server.Server, bases []string, id, secret string, conc int, dur, warm time.Duration, alg, ep string, x *exchanger) error {
	if ep != "token" {
		x = nil
	}
	path, body := api.TokenPath, "grant_type=client_credentials"
	var refresh []string // each connection's refresh token
	switch ep {
	case "introspect":
		tok, err := benchkit.Token(hc, bases[0], id, secret)
		if err != nil {
			return err
		}
		path, body = api.IntrospectPath, url.Values{"token": {tok}}.Encode()
	case "refresh":
		full, err := srv.App.Identity.Client(ctx, id)
		if err != nil {
			return err
		}
		refresh = make([]string, conc)
		for i := range refresh {
			_, refresh[i], err = srv.App.Refresh.Begin(ctx, full, fmt.Sprintf("customer:%d", i), "", "127.0.0.1")
			if err != nil {
				return err
			}
		}
	}

	var measuring atomic.Bool
	var errs atomic.Int64
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(warm + dur)
	go func() { time.Sleep(warm); measuring.Store(true) }()
	var wg sync.WaitGroup
	var start, end time.Time
	startOnce := sync.Once{}
	for w := range conc {
		endpoint := bases[w%len(bases)] + path
		wg.Go(func() {
			for time.Now().Before(deadline) {
				body := body
				switch {
				case refresh != nil:
					body = "grant_type=refresh_token&refresh_token=" + refresh[w]
				case x != nil:
					body = x.Body()
				}
				req, _ := http.NewRequest("POST", endpoint, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				switch {
				case x == nil:
					req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
				case x.secret != "":
					req.SetBasicAuth(url.QueryEscape(x.id), url.QueryEscape(x.secret))
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					if refresh != nil && ok {
						var tr api.TokenResponse
						ok = json.NewDecoder(resp.Body).Decode(&tr) == nil && tr.RefreshToken != ""
						refresh[w] = cmp.Or(tr.RefreshToken, refresh[w])
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				startOnce.Do(func() { start = time.Now() })
				if !ok {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], d)
			}
		})
	}
	wg.Wait()
	end = time.Now()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	elapsed := end.Sub(start).Seconds()
	pct := func(p float64) time.Duration { return benchkit.Percentile(all, p) }
	what := "tokens"
	switch ep {
	case "introspect":
		what = "introspections"
	case "refresh":
		what = "refreshes"
	}
	grant := "client_credentials"
	switch {
	case x != nil:
		grant = "exchange subject-alg=" + x.alg
		if x.secret != "" {
			grant += " auth=secret"
		}
	case ep != "token":
		grant = "-"
	}
	fmt.Printf("endpoint=%s alg=%s grant=%s replicas=%d concurrency=%d duration=%s %s=%d errors=%d\n", ep, alg, grant, len(bases), conc, dur, what, len(all), errs.Load())
	fmt.Printf("%s/s=%.0f p50=%s p90=%s p99=%s p99.9=%s max=%s\n", what, float64(len(all))/elapsed, pct(.5), pct(.9), pct(.99), pct(.999), pct(1))
	return nil
}

// sprayer fails client authentication n times, each time for a client
// ID of its own (numbered from from), and with xff from an address of its
// own too, so that the server's lockout tables hold up to n keys when the
// run starts, as during a spray.
type sprayer struct {
	from, n int
	xff     bool
}

func (sp sprayer) run(hc *http.Client, base string) error {
	var next atomic.Int64
	next.Store(int64(sp.from))
	end := int64(sp.from + sp.n)
	errc := make(chan error, 16)
	for range 16 {
		go func() {
			for i := next.Add(1) - 1; i < end; i = next.Add(1) - 1 {
				req, _ := http.NewRequest("POST", base+api.TokenPath, strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(fmt.Sprintf("mfc_spray%08d", i), "mfs_wrong")
				if sp.xff {
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				}
				resp, err := hc.Do(req)
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 401 {
					errc <- fmt.Errorf("spray: status %d, want 401", resp.StatusCode)
					return
				}
			}
			errc <- nil
		}()
	}
	var err error
	for range 16 {
		err = cmp.Or(err, <-errc)
	}
	return err
}

// setup makes a ring, an owner and a client, which may have refresh
// tokens, for the run, and returns the client's ID and secret and the
// ring's name.
func setup(ctx context.Context, base, admin, alg string) (string, string, string, error) {
	c := client.New(base, admin)
	ring := fmt.Sprint("bench-", strings.ToLower(alg), "-", time.Now().UnixNano())
	if _, err := c.CreateRing(ctx, api.RingRequest{Name: ring, Alg: mayfly.Alg(alg), Lifetime: "24h"}); err != nil {
		return "", "", "", fmt.Errorf("create ring: %w", err)
	}
	cc, err := benchkit.NewClient(ctx, c, api.ClientRequest{Name: "bench", Scopes: []string{"bench"}, Ring: ring, Refresh: true})
	if err != nil {
		return "", "", "", err
	}
	return cc.ID, cc.Secret, ring, nil
}
