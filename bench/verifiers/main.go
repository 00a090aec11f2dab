// Command verifiers measures revocation propagation to many verifiers: it
// connects N SDK verifiers to a running Mayfly's revocation stream, then
// repeatedly revokes a token through the admin API and times, from the
// moment the revoke call is acknowledged, until each verifier has applied
// the revocation (and then checks that it rejects the token). It also reads
// the server's resident memory before and after the verifiers connect.
// With -namespace NS, each revocation is "log every subject NS:... out"
// (one namespace mark) instead of a token's; the verifiers' own service
// token must then still be accepted. The namespace must be one a client
// may exchange for: the command creates such a client.
//
//	verifiers -url http://127.0.0.1:8740 -admin-token "$(cat mayfly-data/admin.token)" -pid $(pgrep -n mayfly) -n 1000 -revocations 100
//
// Loopback only.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bench/internal/benchkit"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/sdk"
)

func main() {
	var (
		base  = flag.String("url", "", "server URL (loopback only)")
		admin = flag.String("admin-token", os.Getenv("MAYFLY_TOKEN"), "admin credential")
		n     = flag.Int("n", 1000, "verifiers to connect")
		revs  = flag.Int("revocations", 100, "revocations to time")
		pid   = flag.Int("pid", 0, "the server's process ID, to read its memory (optional)")
		ns    = flag.String("namespace", "", "revoke this subject namespace each time, not a token")
	)
	flag.Parse()
	if err := run(*base, *admin, *n, *revs, *pid, *ns); err != nil {
		fmt.Fprintln(os.Stderr, "verifiers:", err)
		os.Exit(1)
	}
}

func run(base, admin string, n, revs, pid int, ns string) error {
	if base == "" || admin == "" {
		return fmt.Errorf("give -url and -admin-token")
	}
	if err := benchkit.Loopback(base); err != nil {
		return err
	}
	ctx := context.Background()
	adm := client.New(base, admin)
	cc, err := benchkit.NewClient(ctx, adm, api.ClientRequest{Name: "verifiers", Audiences: []string{"https://bench.example"}})
	if err != nil {
		return err
	}
	if ns != "" {
		if _, err := benchkit.NewClient(ctx, adm, api.ClientRequest{Name: "login", Exchange: []string{ns}}); err != nil {
			return err
		}
	}
	before := rss(pid)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	vs := make([]*sdk.Verifier, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32) // connect a few at a time
	for i := range vs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := sdk.New(ctx, sdk.Config{Issuer: base, Audience: "https://bench.example", ClientID: cc.ID, ClientSecret: cc.Secret, HTTPClient: hc})
			if err == nil {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err = v.WaitReady(wctx)
				cancel()
			}
			if err != nil {
				errs <- err
				return
			}
			vs[i] = v
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("connecting verifiers: %w", err)
	}
	defer func() {
		for _, v := range vs {
			v.Close()
		}
	}()
	time.Sleep(time.Second) // let the server settle before reading its memory
	after := rss(pid)
	if pid != 0 {
		fmt.Printf("server RSS: %d KiB before, %d KiB with %d verifiers connected: %.1f KiB per verifier\n", before, after, n, float64(after-before)/float64(n))
	}

	lat := make([]time.Duration, 0, revs*n)
	var most []time.Duration // per revocation, the slowest verifier
	for range revs {
		tok, err := benchkit.Token(hc, base, cc.ID, cc.Secret)
		if err != nil {
			return err
		}
		cl, err := vs[0].Verify(ctx, tok)
		if err != nil {
			return fmt.Errorf("a fresh token does not verify: %w", err)
		}
		var rev *api.RevocationView
		if ns != "" {
			rev, err = adm.RevokeNamespace(ctx, api.NamespaceRevokeRequest{Namespace: ns, Reason: "propagation benchmark"})
		} else {
			rev, err = adm.RevokeToken(ctx, cl.ID, "propagation benchmark")
		}
		if err != nil {
			return err
		}
		acked := time.Now()
		got := make([]time.Duration, n)
		for i, v := range vs {
			wg.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if v.WaitSeq(wctx, rev.Seq) == nil {
					got[i] = time.Since(acked)
				} else {
					got[i] = -1
				}
			})
		}
		wg.Wait()
		slowest := time.Duration(0)
		for i, d := range got {
			if d < 0 {
				return fmt.Errorf("verifier %d did not hear of revocation %d within 10 s", i, rev.Seq)
			}
			slowest = max(slowest, d)
			lat = append(lat, d)
		}
		most = append(most, slowest)
		for _, i := range []int{0, n / 2, n - 1} {
			_, err := vs[i].Verify(ctx, tok)
			switch {
			case ns == "" && err == nil:
				return fmt.Errorf("verifier %d accepts a revoked token", i)
			case ns != "" && err != nil:
				return fmt.Errorf("verifier %d refuses a service token after namespace %s was revoked: %w", i, ns, err)
			}
		}
	}
	slices.Sort(lat)
	slices.Sort(most)
	pct := benchkit.Percentile
	what := "token"
	if ns != "" {
		what = "namespace " + ns
	}
	fmt.Printf("verifiers=%d revocations=%d of a %s (each verifier's time from the revoke call's acknowledgement to applying it)\n", n, revs, what)
	fmt.Printf("p50=%s p90=%s p99=%s max=%s; slowest verifier per revocation: p50=%s p99=%s\n",
		pct(lat, .5), pct(lat, .9), pct(lat, .99), pct(lat, 1), pct(most, .5), pct(most, .99))
	return nil
}

// rss reads a process's resident set size in KiB from /proc.
func rss(pid int) int {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
