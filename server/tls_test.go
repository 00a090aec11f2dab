package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// patience bounds every wait for something to happen, so that a change
// that never comes fails the test instead of hanging it. Nothing asserts
// how soon it comes.
const patience = 20 * time.Second

// tlsFiles writes leaf to cert.pem and key.pem in a new directory.
func tlsFiles(t *testing.T, leaf *servertest.Leaf) (certFile, keyFile string) {
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	leaf.Write(t, certFile, keyFile)
	return certFile, keyFile
}

// config is a server on a fresh data directory, on the backend the suite
// runs on, with the wall clock, logging to logs, on a loopback port,
// with no issuer set.
func config(t *testing.T, logs *servertest.LogBuffer) server.Config {
	cfg := apptest.Config(t, t.TempDir(), mayfly.SystemClock{}, logs)
	cfg.Issuer, cfg.Addr = "", "127.0.0.1:0"
	return cfg
}

// run runs the server until the test ends, and returns it once it serves.
func run(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ready := make(chan *server.Server, 1)
	go func() { errc <- server.Run(ctx, cfg, func(s *server.Server, _ string) { ready <- s }) }()
	select {
	case s := <-ready:
		t.Cleanup(func() {
			stop()
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		return s
	case err := <-errc:
		stop()
		t.Fatalf("Run: %v", err)
		return nil
	}
}

// hostPort is the address a server URL names.
func hostPort(u string) string { return u[strings.Index(u, "://")+3:] }

// waitFor polls cond until it holds, or fails the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// TestTLSStandardClients: over HTTPS that Mayfly serves itself, a client
// gets a token with golang.org/x/oauth2 from what discovery says, and
// go-oidc verifies it with the JWKS it fetches over HTTPS. The issuer
// defaults to https:// and the listener's address.
func TestTLSStandardClients(t *testing.T) {
	ca := servertest.NewCA(t)
	cfg := config(t, &servertest.LogBuffer{})
	cfg.TLSCert, cfg.TLSKey = tlsFiles(t, ca.Issue(t))
	s := run(t, cfg)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("serving at %s, want https://", s.URL)
	}
	if got := s.Config().Issuer; got != s.URL {
		t.Errorf("issuer %s, want %s", got, s.URL)
	}
	hc := ca.Client()
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := client.New(s.URL, strings.TrimSpace(string(tok)))
	admin.HTTP = hc
	p, err := admin.CreatePrincipal(t.Context(), api.PrincipalRequest{Name: "alice", Kind: mayfly.Human})
	if err != nil {
		t.Fatalf("admin API over HTTPS: %v", err)
	}
	c, err := admin.CreateClient(t.Context(), api.ClientRequest{Name: "orders", Owner: p.ID, Audiences: []string{"https://orders.example"}})
	if err != nil {
		t.Fatal(err)
	}

	ctx := oidc.ClientContext(t.Context(), hc) // go-oidc and x/oauth2 both take it from here
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery over HTTPS: %v", err)
	}
	if !strings.HasPrefix(provider.Endpoint().TokenURL, "https://") {
		t.Errorf("token endpoint %s, want https://", provider.Endpoint().TokenURL)
	}
	cc := clientcredentials.Config{ClientID: c.Client.ID, ClientSecret: c.Secret, TokenURL: provider.Endpoint().TokenURL}
	token, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		t.Fatalf("client_credentials over HTTPS: %v", err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "https://orders.example", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, token.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc verify with the JWKS over HTTPS: %v", err)
	}
	if idt.Issuer != s.URL || idt.Subject != c.Client.ID {
		t.Errorf("iss %s sub %s, want %s and %s", idt.Issuer, idt.Subject, s.URL, c.Client.ID)
	}

	// A client that trusts only the system's roots does not trust this
	// server: the handshake is real.
	if _, err := http.Get(s.URL + api.HealthzPath); err == nil {
		t.Errorf("a client without the test CA got through")
	}
}

// TestTLSIssuer: with TLS the default issuer is https:// and the host
// --addr names with the port it listens on; a given issuer wins.
func TestTLSIssuer(t *testing.T) {
	ca := servertest.NewCA(t)
	certFile, keyFile := tlsFiles(t, ca.Issue(t))
	tests := []struct {
		addr, issuer string
		want         func(s *server.Server) string
	}{
		{"127.0.0.1:0", "", func(s *server.Server) string { return s.URL }},
		{"localhost:0", "", func(s *server.Server) string {
			_, port, _ := net.SplitHostPort(hostPort(s.URL))
			return "https://localhost:" + port
		}},
		{"127.0.0.1:0", "https://auth.example.com", func(*server.Server) string { return "https://auth.example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.addr+" "+tt.issuer, func(t *testing.T) {
			cfg := config(t, &servertest.LogBuffer{})
			cfg.Addr, cfg.Issuer, cfg.TLSCert, cfg.TLSKey = tt.addr, tt.issuer, certFile, keyFile
			s := run(t, cfg)
			resp, err := ca.Client().Get(s.URL + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc struct{ Issuer string }
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if want := tt.want(s); doc.Issuer != want {
				t.Errorf("discovery says issuer %s, want %s", doc.Issuer, want)
			}
		})
	}
}

// TestTLSRefusesBadFiles: a certificate and key that do not load refuse
// the start with a clear error, before anything is created.
func TestTLSRefusesBadFiles(t *testing.T) {
	ca := servertest.NewCA(t)
	good, other := ca.Issue(t), ca.Issue(t)
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := file("cert.pem", good.CertPEM), file("key.pem", good.KeyPEM)
	expired := ca.IssueUntil(t, time.Now().Add(-time.Minute))
	unreadable := file("unreadable.pem", good.KeyPEM)
	os.Chmod(unreadable, 0)
	tests := []struct {
		name, cert, key, want string
	}{
		{"no key", cert, "", "both a certificate file and its key file"},
		{"no certificate", "", key, "both a certificate file and its key file"},
		{"missing certificate", filepath.Join(dir, "missing.pem"), key, "no such file"},
		{"another certificate's key", cert, file("other-key.pem", other.KeyPEM), "private key does not match public key"},
		{"key and certificate swapped", key, cert, "PEM inputs may have been switched"},
		{"not PEM", file("junk.pem", []byte("not a certificate\n")), key, "failed to find any PEM data"},
		{"half written", file("half.pem", good.CertPEM[:len(good.CertPEM)/2]), key, "failed to find"},
		{"expired", file("expired.pem", expired.CertPEM), file("expired-key.pem", expired.KeyPEM), "expired at"},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct{ name, cert, key, want string }{"unreadable key", cert, unreadable, "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cfg := server.Config{DataDir: data, Addr: "127.0.0.1:0", TLSCert: tt.cert, TLSKey: tt.key, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			err := server.Run(ctx, cfg, func(*server.Server, string) { t.Errorf("served"); stop() })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v; want an error about %q", err, tt.want)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused start left %s behind (%v)", data, err)
			}
		})
	}
}

// TestTLSVersions: TLS 1.2 and 1.3 are served, TLS 1.1 is refused, and
// HTTP/2 is offered.
func TestTLSVersions(t *testing.T) {
	ca := servertest.NewCA(t)
	cfg := config(t, &servertest.LogBuffer{})
	cfg.TLSCert, cfg.TLSKey = tlsFiles(t, ca.Issue(t))
	addr := hostPort(run(t, cfg).URL)
	for _, v := range []struct {
		name     string
		max      uint16
		accepted bool
	}{{"TLS 1.0", tls.VersionTLS10, false}, {"TLS 1.1", tls.VersionTLS11, false}, {"TLS 1.2", tls.VersionTLS12, true}, {"TLS 1.3", tls.VersionTLS13, true}} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: v.max})
		if err == nil {
			if got := c.ConnectionState().Version; got != v.max {
				t.Errorf("%s: negotiated %s", v.name, tls.VersionName(got))
			}
			c.Close()
		}
		if accepted := err == nil; accepted != v.accepted {
			t.Errorf("%s: accepted %v (%v), want %v", v.name, accepted, err, v.accepted)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Errorf("ALPN chose %q, want h2", got)
	}
}

// TestPlainHTTPToTLSPort: plain HTTP to the TLS port is refused with 400,
// not redirected, and reaches no handler.
func TestPlainHTTPToTLSPort(t *testing.T) {
	ca := servertest.NewCA(t)
	cfg := config(t, &servertest.LogBuffer{})
	cfg.TLSCert, cfg.TLSKey = tlsFiles(t, ca.Issue(t))
	addr := hostPort(run(t, cfg).URL)
	for _, path := range []string{api.HealthzPath, api.JWKSPath, "/v1/principals"} {
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("plain HTTP %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Client sent an HTTP request to an HTTPS server") {
			t.Errorf("plain HTTP %s: %d %q, want 400 and the standard refusal", path, resp.StatusCode, body)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("plain HTTP %s redirected to %s", path, loc)
		}
	}
}

// TestTLSReloadOnChange: a certificate replaced on disk is served to new
// connections, while connections made before keep theirs; a replacement
// that does not load leaves the certificate in use, and says why once.
func TestTLSReloadOnChange(t *testing.T) {
	ca := servertest.NewCA(t)
	logs := &servertest.LogBuffer{}
	cfg := config(t, logs)
	first := ca.Issue(t)
	cfg.TLSCert, cfg.TLSKey = tlsFiles(t, first)
	cfg.TLSCheckEvery = 20 * time.Millisecond
	addr := hostPort(run(t, cfg).URL)
	if got := ca.Serial(t, addr); got.Cmp(first.Serial) != 0 {
		t.Fatalf("serving serial %x, want %x", got, first.Serial)
	}

	// A connection made now, kept open through the change.
	old := ca.Keep(t, addr)
	get := old.Get
	if code := get(); code != 200 {
		t.Fatalf("old connection: %d", code)
	}

	second := ca.Issue(t)
	second.Write(t, cfg.TLSCert, cfg.TLSKey)
	waitFor(t, "the new certificate to be served", func() bool { return ca.Serial(t, addr).Cmp(second.Serial) == 0 })
	if code := get(); code != 200 {
		t.Errorf("old connection after the change: %d", code)
	}
	if got := old.Serial(); got.Cmp(first.Serial) != 0 {
		t.Errorf("old connection's certificate %x, want the first, %x", got, first.Serial)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("serial=%x", second.Serial)) {
		t.Errorf("no log of the new certificate's serial %x:\n%s", second.Serial, logs.String())
	}

	// Replacements that do not load: each is refused with its reason,
	// and the second certificate stays.
	third, expired := ca.Issue(t), ca.IssueUntil(t, time.Now().Add(-time.Minute))
	bad := []struct {
		name      string
		cert, key []byte
		reason    string
	}{
		{"a new certificate with the old key", third.CertPEM, second.KeyPEM, "private key does not match public key"},
		{"a half-written certificate", third.CertPEM[:len(third.CertPEM)/2], third.KeyPEM, "failed to find"},
		{"an expired certificate", expired.CertPEM, expired.KeyPEM, "expired at"},
		{"an empty key", third.CertPEM, []byte{}, "failed to find any PEM data in key input"},
	}
	for _, b := range bad {
		(&servertest.Leaf{CertPEM: b.cert, KeyPEM: b.key}).Write(t, cfg.TLSCert, cfg.TLSKey)
		waitFor(t, "a warning about "+b.name, func() bool {
			return strings.Contains(logs.String(), b.reason) && strings.Contains(logs.String(), "still serving the previous one")
		})
		if got := ca.Serial(t, addr); got.Cmp(second.Serial) != 0 {
			t.Errorf("after %s: serving %x, want the previous %x", b.name, got, second.Serial)
		}
	}

	// A good pair again is taken.
	third.Write(t, cfg.TLSCert, cfg.TLSKey)
	waitFor(t, "the third certificate to be served", func() bool { return ca.Serial(t, addr).Cmp(third.Serial) == 0 })
}
