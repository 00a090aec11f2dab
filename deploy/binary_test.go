package deploy_test

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The build the Dockerfile makes (TestDockerfile holds it to these).
const (
	buildEnv     = "CGO_ENABLED=0"
	buildFlags   = "-trimpath"
	buildLDFlags = "-s -w -X github.com/mayflyhq/mayfly/cli.Version="
)

// build compiles cmd/mayfly as the Dockerfile does, once per test binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mayfly")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a bound, not a measurement
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", buildFlags, "-ldflags="+buildLDFlags+"deploy-test", "-o", bin, "./cmd/mayfly")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), buildEnv)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cleanEnv is the test's environment without MAYFLY_* variables, which
// would configure the server under test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAYFLY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestStaticBinary: a CGO_ENABLED=0 build is a static executable with no
// symbol table, so it runs on an image with no C library; it serves on
// SQLite, answers /healthz, and its healthcheck command says so.
func TestStaticBinary(t *testing.T) {
	bin := build(t)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %s program header: it is dynamically linked", bin, p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Errorf("%s has a .dynamic section", bin)
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s imports libraries %q (%v)", bin, libs, err)
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("%s has a symbol table (%v); -ldflags -s strips it", bin, err)
	}

	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "mayfly deploy-test\n") {
		t.Errorf("mayfly version: %q, %v; want the version set by -ldflags -X", out, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound, not a measurement
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"))
	srv.Env = cleanEnv()
	addr, out := serving(t, srv)
	if addr == "" {
		t.Fatalf("serve did not say where it serves:\n%s", out)
	}

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET /healthz: %s %q; want 200 ok", resp.Status, body)
	}

	healthcheck := func() (int, string) {
		cmd := exec.Command(bin, "healthcheck")
		cmd.Env = cleanEnv("MAYFLY_ADDR=" + addr)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := healthcheck(); code != 0 {
		t.Errorf("mayfly healthcheck on a serving server: exit %d %q", code, out)
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v; want a clean exit", err)
	}
	if code, out := healthcheck(); code != 1 {
		t.Errorf("mayfly healthcheck after the server stopped: exit %d %q; want 1", code, out)
	}
}

// serving starts srv, a mayfly serve, killed when the test ends, and
// returns the host:port it says it serves at, or "" and what it wrote if
// it ends first. The rest of its output is discarded.
func serving(t *testing.T, srv *exec.Cmd) (addr, out string) {
	t.Helper()
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	var b strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if a, ok := strings.CutPrefix(sc.Text(), "mayfly: serving at http://"); ok {
			go io.Copy(io.Discard, stderr)
			return a, b.String()
		}
	}
	return "", b.String()
}
