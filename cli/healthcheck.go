package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// healthcheck asks a server's /healthz and fails unless it answers 200.
// The container image has no shell and no curl, so its HEALTHCHECK runs
// the mayfly binary itself.
func healthcheck(ctx context.Context, args []string, env Env) error {
	f := newFlags("healthcheck", env)
	var target string
	jsonOut := f.Bool("json", false, "print JSON")
	f.StringVar(&target, "url", "", "URL to get (default http://ADDR/healthz, ADDR from MAYFLY_ADDR or 127.0.0.1:8740, a wildcard host as loopback)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(0, "no arguments"); err != nil {
		return err
	}
	from := "--url"
	if target == "" {
		from, target = "MAYFLY_ADDR", healthURL(firstNonEmpty(env.Getenv("MAYFLY_ADDR"), "127.0.0.1:8740"))
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("%s: %q is not an http:// or https:// URL", from, target)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	// Straight to the server: a proxy from the environment would check
	// the proxy's health, not this server's.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s", u, resp.Status)
	}
	if *jsonOut {
		return printJSON(env, struct {
			URL    string `json:"url"`
			Status int    `json:"status"`
		}{u.String(), resp.StatusCode})
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", u, resp.Status)
	return nil
}

// healthURL is /healthz at a serve address (host:port, or a URL as the
// admin commands take). A wildcard listen host is reached on loopback.
func healthURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/") + "/healthz"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/healthz"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
