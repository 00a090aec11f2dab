// Command revokeprop measures how long a revocation takes to reach every
// replica: it revokes a token through the first server's admin API and, from
// the moment that call is acknowledged, polls introspection at every server
// until each reports the token inactive. The first server's figure is the
// floor: one introspection round trip.
//
//	revokeprop -url http://127.0.0.1:8740,http://127.0.0.1:8741 -admin-token "$(cat mayfly-data/admin.token)" -n 200
//
// Servers must share an issuer and a store. Loopback only.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bench/internal/benchkit"
	"github.com/mayflyhq/mayfly/client"
)

func main() {
	var (
		urls  = flag.String("url", "", "comma-separated server URLs (loopback only); revocations go to the first")
		admin = flag.String("admin-token", os.Getenv("MAYFLY_TOKEN"), "admin credential")
		n     = flag.Int("n", 200, "revocations to time")
	)
	flag.Parse()
	if err := run(strings.Split(*urls, ","), *admin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "revokeprop:", err)
		os.Exit(1)
	}
}

func run(bases []string, admin string, n int) error {
	if bases[0] == "" || admin == "" {
		return errors.New("give -url and -admin-token")
	}
	if err := benchkit.Loopback(bases...); err != nil {
		return err
	}
	ctx := context.Background()
	adm := client.New(bases[0], admin)
	cc, err := benchkit.NewClient(ctx, adm, api.ClientRequest{Name: "prop"})
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	lat := make([][]time.Duration, len(bases))
	for range n {
		tok, err := benchkit.Token(hc, bases[0], cc.ID, cc.Secret)
		if err != nil {
			return err
		}
		jti, err := jtiOf(tok)
		if err != nil {
			return err
		}
		// Every server must see the token active before the clock starts.
		for _, b := range bases {
			if ok, err := active(hc, b, tok, cc.ID, cc.Secret); err != nil || !ok {
				return fmt.Errorf("%s: fresh token not active (%v)", b, err)
			}
		}
		if _, err := adm.RevokeToken(ctx, jti, "propagation benchmark"); err != nil {
			return err
		}
		acked := time.Now()
		var wg sync.WaitGroup
		for i, b := range bases {
			wg.Go(func() {
				for deadline := acked.Add(10 * time.Second); time.Now().Before(deadline); {
					if ok, err := active(hc, b, tok, cc.ID, cc.Secret); err == nil && !ok {
						lat[i] = append(lat[i], time.Since(acked))
						return
					}
				}
				lat[i] = append(lat[i], -1)
			})
		}
		wg.Wait()
	}
	fmt.Printf("revocations=%d servers=%d (revoked at the first)\n", n, len(bases))
	for i, l := range lat {
		slices.Sort(l)
		missed := 0
		for len(l) > 0 && l[0] < 0 {
			l, missed = l[1:], missed+1
		}
		pct := func(p float64) time.Duration { return benchkit.Percentile(l, p) }
		fmt.Printf("server %d %s: p50=%s p90=%s p99=%s max=%s missed=%d\n", i, bases[i], pct(.5), pct(.9), pct(.99), pct(1), missed)
	}
	return nil
}

func active(hc *http.Client, base, tok, id, secret string) (bool, error) {
	req, _ := http.NewRequest("POST", base+api.IntrospectPath, strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var body struct {
		Active bool `json:"active"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body.Active, err
}

func jtiOf(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", errors.New("malformed token")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var cl struct {
		JTI string `json:"jti"`
	}
	return cl.JTI, json.Unmarshal(b, &cl)
}
