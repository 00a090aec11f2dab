package cli_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/cli"
)

// serve runs "mayfly serve" through the same entry point as main and
// returns the URL it serves at once it accepts connections.
func serve(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), cli.Env{Stdout: io.Discard, Stderr: pw, Getenv: func(k string) string { return env[k] }})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "mayfly: serving at "); ok {
			go io.Copy(io.Discard, pr)
			return u
		}
	}
	t.Fatalf("serve stopped before serving")
	return ""
}

// TestServeFirstStart: no configuration, a fresh data directory.
func TestServeFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	u := serve(t, nil, "--data", dir)
	resp, err := http.Get(u + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("discovery: status %d", resp.StatusCode)
	}
	for _, f := range []string{"admin.token", "root.key", "mayfly.db"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// TestServeConfigSources: flags beat MAYFLY_* variables, which beat the config file.
func TestServeConfigSources(t *testing.T) {
	base := t.TempDir()
	conf := filepath.Join(base, "mayfly.conf")
	os.WriteFile(conf, []byte("# comment\ndata = "+filepath.Join(base, "from-file")+"\nlog-level = debug\n"), 0o600)

	serve(t, map[string]string{"MAYFLY_CONFIG": conf})
	if _, err := os.Stat(filepath.Join(base, "from-file", "admin.token")); err != nil {
		t.Errorf("config file's data directory not used: %v", err)
	}
	serve(t, map[string]string{"MAYFLY_CONFIG": conf, "MAYFLY_DATA": filepath.Join(base, "from-env")})
	if _, err := os.Stat(filepath.Join(base, "from-env", "admin.token")); err != nil {
		t.Errorf("MAYFLY_DATA not used over the config file: %v", err)
	}
	serve(t, map[string]string{"MAYFLY_DATA": filepath.Join(base, "from-env")}, "--data", filepath.Join(base, "from-flag"))
	if _, err := os.Stat(filepath.Join(base, "from-flag", "admin.token")); err != nil {
		t.Errorf("--data not used over MAYFLY_DATA: %v", err)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	base := t.TempDir()
	bad := filepath.Join(base, "bad.conf")
	os.WriteFile(bad, []byte("no-such-flag = 1\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"long ceiling", []string{"--key-lifetime-ceiling", "2160h"}, "--allow-long-key-lifetime"},
		{"unknown config key", []string{"--config", bad}, "no-such-flag"},
		{"bad log level", []string{"--log-level", "loud"}, "log-level"},
		{"bad proxy CIDR", []string{"--trusted-proxies", "10.0.0.0/8,lan"}, "trusted-proxies"},
		{"zero client failures", []string{"--lockout-client-failures", "0"}, "--lockout-client-failures 0: must be at least 1"},
		{"negative address failures", []string{"--lockout-address-failures", "-3"}, "--lockout-address-failures -3: must be at least 1"},
		{"zero admin failures", []string{"--lockout-admin-failures", "0"}, "--lockout-admin-failures 0: must be at least 1"},
		{"sub-second client backoff", []string{"--lockout-client-max", "500ms"}, "--lockout-client-max 500ms: must be at least 1s"},
		{"negative address backoff", []string{"--lockout-address-max", "-1m"}, "--lockout-address-max -1m0s: must be at least 1s"},
		{"zero admin backoff", []string{"--lockout-admin-max", "0s"}, "--lockout-admin-max 0s: must be at least 1s"},
		{"no expensive requests", []string{"--max-expensive", "0"}, "--max-expensive 0: must be at least 1"},
		{"no wait for expensive requests", []string{"--expensive-wait", "0s"}, "--expensive-wait 0s: must be positive"},
		{"bad lockout switch", []string{"--lockout=maybe"}, "lockout"},
		{"containment a rule cannot take", []string{"--detect-contain", "forged-token=suspend-principal"}, `forged-token cannot "suspend-principal": it may revoke-key, or alert`},
		{"containment of no rule", []string{"--detect-contain", "bulk=revoke-client"}, `"bulk" is not a rule`},
		{"no bulk floor", []string{"--detect-bulk-floor", "-1"}, "--detect-bulk-floor -1: must be at least 1"},
		{"ceiling below floor", []string{"--detect-bulk-ceiling", "10"}, "--detect-bulk-ceiling 10: must be at least --detect-bulk-floor (10000)"},
		{"TLS certificate without key", []string{"--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{"TLS key without certificate", []string{"--tls-key", "key.pem"}, "--tls-cert and --tls-key go together"},
		{"missing TLS files", []string{"--tls-cert", filepath.Join(base, "none.pem"), "--tls-key", filepath.Join(base, "none.key")}, "none.pem: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errb strings.Builder
			code := cli.Run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, tt.args...),
				cli.Env{Stdout: io.Discard, Stderr: &errb, Getenv: func(string) string { return "" }})
			if code == 0 || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want failure mentioning %q", code, errb.String(), tt.want)
			}
		})
	}
}

// TestServeLimitFlags: the limits' flags reach the server.
func TestServeLimitFlags(t *testing.T) {
	dir := t.TempDir()
	u := serve(t, nil, "--data", dir, "--lockout-admin-failures", "1", "--max-expensive", "3")
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, bearer string) *http.Response {
		req, _ := http.NewRequest("GET", u+path, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// One failure starts a backoff of one second. The server's clock is
	// the wall clock: a machine that stalls a whole second between two
	// requests would see the backoff over, so it tries a few times.
	locked := false
	for range 10 {
		if st := get("/v1/principals", "mfa_wrong").StatusCode; st != 401 {
			t.Fatalf("a wrong credential: %d, want 401", st)
		}
		resp := get("/v1/principals", strings.TrimSpace(string(tok)))
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "1" {
			locked = true
			break
		}
	}
	if !locked {
		t.Errorf("--lockout-admin-failures 1: one wrong credential never backed the address off")
	}
	resp, err := http.Get(u + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nmayfly_expensive_limit 3\n") {
		t.Errorf("--max-expensive 3 is not the bound the server reports")
	}

	dir = t.TempDir()
	u = serve(t, map[string]string{"MAYFLY_LOCKOUT": "false"}, "--data", dir)
	tok, err = os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if st := get("/v1/principals", "mfa_wrong").StatusCode; st != 401 {
			t.Fatalf("a wrong credential with MAYFLY_LOCKOUT=false: %d, want 401", st)
		}
	}
	if st := get("/v1/principals", strings.TrimSpace(string(tok))).StatusCode; st != 200 {
		t.Errorf("the right credential with MAYFLY_LOCKOUT=false: %d, want 200", st)
	}
}
