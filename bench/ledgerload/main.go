// Command ledgerload drives the access ledger's ingest, POST
// /v1/ledger/events, over HTTP on loopback, as a service posting batches
// of reports with its own client, and reports reports/s and
// record-reads/s. A batch counts once the server has answered 200, which
// it does only once the batch is durable in the journal. After the run it
// waits for the journal to drain into the ledger, and says how long that
// took.
//
// Against a running server:
//
//	ledgerload -url http://127.0.0.1:8740 -admin-token "$(cat mayfly-data/admin.token)"
//
// Or self-contained, with a server in this process on a temporary
// directory (SQLite), which a CPU profile then covers:
//
//	ledgerload -self -ids 10 -lines 1000 -cpuprofile ledger.prof
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
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
		base    = flag.String("url", "", "server URL")
		admin   = flag.String("admin-token", "", "admin credential")
		self    = flag.Bool("self", false, "run a server in this process on a temporary directory")
		conc    = flag.Int("c", 8, "concurrent connections")
		dur     = flag.Duration("d", 10*time.Second, "measured duration")
		warm    = flag.Duration("warmup", 2*time.Second, "unmeasured warm-up")
		ids     = flag.Int("ids", 10, "record IDs each report read")
		lines   = flag.Int("lines", 1000, "reports in each batch")
		tokens  = flag.Int("tokens", 1000, "distinct tokens the reports name")
		cpuProf = flag.String("cpuprofile", "", "with -self: write a CPU profile of the run")
		disable server.RuleSet
	)
	flag.Var(&disable, "disable", "with -self: detection rules that do not run (names separated by commas), to see what they cost")
	flag.Parse()
	if err := run(*base, *admin, *self, *conc, *dur, *warm, *ids, *lines, *tokens, *cpuProf, disable); err != nil {
		fmt.Fprintln(os.Stderr, "ledgerload:", err)
		os.Exit(1)
	}
}

func run(base, admin string, self bool, conc int, dur, warm time.Duration, ids, lines, tokens int, cpuProf string, disable server.RuleSet) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var srv *server.Server
	if self {
		dir, err := os.MkdirTemp("", "ledgerload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ready := make(chan string, 1)
		errc := make(chan error, 1)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		go func() {
			errc <- server.Run(ctx, server.Config{DataDir: dir, Addr: "127.0.0.1:0", Log: log, Detect: server.DetectConfig{Disable: disable}}, func(s *server.Server, addr string) {
				srv = s
				ready <- "http://" + addr
			})
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
	if err := benchkit.Loopback(base); err != nil {
		return err
	}
	adm := client.New(base, admin)
	svcName := fmt.Sprint("ledgerload-", time.Now().UnixNano())
	owner, err := adm.CreatePrincipal(ctx, api.PrincipalRequest{Name: svcName + "-owner", Kind: mayfly.Human})
	if err != nil {
		return err
	}
	svc, err := adm.CreatePrincipal(ctx, api.PrincipalRequest{Name: svcName, Kind: mayfly.Service, Owner: owner.ID})
	if err != nil {
		return err
	}
	cc, err := adm.CreateClient(ctx, api.ClientRequest{Name: svcName + "-client", Owner: svc.ID})
	if err != nil {
		return err
	}
	// Bodies are made before the run, so that the load tool spends its
	// share of the machine sending them.
	bodies := make([][]byte, 4*conc)
	reads := make([]int, len(bodies))
	for i := range bodies {
		bodies[i], reads[i] = batch(svcName, i, ids, lines, tokens)
	}
	fmt.Printf("ledgerload: %d connections, batches of %d reports of %d IDs (%d KiB), %d tokens, %v measured\n",
		conc, lines, ids, len(bodies[0])>>10, tokens, dur)
	if self && cpuProf != "" {
		f, err := os.Create(cpuProf)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	var measuring atomic.Bool
	var batches, errs, readsDone atomic.Int64
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(warm + dur)
	go func() { time.Sleep(warm); measuring.Store(true) }()
	var wg sync.WaitGroup
	var start time.Time
	var startOnce sync.Once
	for w := range conc {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				k := (w + n*conc) % len(bodies)
				body := bodies[k]
				req, _ := http.NewRequest("POST", base+api.LedgerEventsPath, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.SetBasicAuth(url.QueryEscape(cc.Client.ID), url.QueryEscape(cc.Secret))
				t0 := time.Now()
				resp, err := hc.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if !measuring.Load() {
					continue
				}
				startOnce.Do(func() { start = time.Now() })
				if !ok {
					errs.Add(1)
					continue
				}
				batches.Add(1)
				readsDone.Add(int64(reads[k]))
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	n := batches.Load()
	reports := float64(n) * float64(lines)
	fmt.Printf("%d batches in %.1fs (%d errors): %.0f reports/s, %.0f record-reads/s, %.0f batches/s; latency p50 %v p99 %v\n",
		n, elapsed.Seconds(), errs.Load(), reports/elapsed.Seconds(), float64(readsDone.Load())/elapsed.Seconds(), float64(n)/elapsed.Seconds(),
		benchkit.Percentile(all, 0.50), benchkit.Percentile(all, 0.99))
	if srv != nil {
		t0 := time.Now()
		depth := -1
		for time.Since(t0) < 5*time.Minute {
			if depth, err = srv.Store().LedgerJournalDepth(ctx); err != nil {
				return err
			}
			if depth == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Printf("journal drained into the ledger %.1fs after the run (depth %d)\n", time.Since(t0).Seconds(), depth)
	}
	return nil
}

// batch is one request body: lines reports of ids record IDs each, among
// 1,000,000 customers, each report naming one of tokens tokens.
func batch(service string, seed, ids, lines, tokens int) (body []byte, reads int) {
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	var b []byte
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for range lines {
		tok := r.IntN(tokens)
		b = append(b, `{"time":"`...)
		b = append(b, now...)
		b = append(b, `","service":"`...)
		b = append(b, service...)
		b = fmt.Appendf(b, `","source_ip":"10.0.%d.%d","method":"GET","route":"/customers/{id}","jti":"jti-%d","client_id":"client-%d","records":{"customer":[`,
			tok%256, tok/256, tok, tok%50)
		set := make([]uint64, ids)
		for i := range set {
			set[i] = uint64(r.IntN(1_000_000))
		}
		slices.Sort(set)
		set = slices.Compact(set)
		reads += len(set)
		for i, id := range set {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, id, 10)
		}
		b = append(b, "]}}\n"...)
	}
	return b, reads
}
