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
