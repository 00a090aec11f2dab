package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
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
	f.StringVar(&target, "url", "", "URL to get (default /healthz at MAYFLY_OPS_ADDR, else at MAYFLY_ADDR or 127.0.0.1:8740 over https if MAYFLY_TLS_CERT is set; a wildcard host as loopback)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(0, "no arguments"); err != nil {
		return err
	}
	from, certFile := "--url", ""
	switch {
	case target != "":
	case env.Getenv("MAYFLY_OPS_ADDR") != "":
		from, target = "MAYFLY_OPS_ADDR", healthURL(env.Getenv("MAYFLY_OPS_ADDR"), "http")
	default:
		scheme := "http"
		if certFile = env.Getenv("MAYFLY_TLS_CERT"); certFile != "" {
			scheme = "https"
		}
		from, target = "MAYFLY_ADDR", healthURL(firstNonEmpty(env.Getenv("MAYFLY_ADDR"), "127.0.0.1:8740"), scheme)
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
	tr := &http.Transport{Proxy: nil}
	if certFile != "" && u.Scheme == "https" {
		if tr.TLSClientConfig, err = trustServed(certFile); err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
	}
	hc := &http.Client{Transport: tr}
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

// trustServed trusts the certificate the server serves, read from its
// --tls-cert file, under the first name it carries: the check reaches the
// server on loopback, which the certificate seldom names.
func trustServed(file string) (*tls.Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("MAYFLY_TLS_CERT: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("MAYFLY_TLS_CERT %s: no PEM certificate", file)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("MAYFLY_TLS_CERT %s: %w", file, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	switch {
	case len(leaf.DNSNames) > 0:
		cfg.ServerName = leaf.DNSNames[0]
	case len(leaf.IPAddresses) > 0:
		cfg.ServerName = leaf.IPAddresses[0].String()
	}
	return cfg, nil
}

// healthURL is /healthz at a serve address (host:port, reached by scheme,
// or a URL as the admin commands take). A wildcard listen host is reached
// on loopback.
func healthURL(addr, scheme string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/") + "/healthz"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr + "/healthz"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
}
