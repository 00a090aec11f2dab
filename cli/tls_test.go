package cli_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/server/servertest"
)

// lines collects what a process writes, line by line.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

// find returns the first line holding every one of parts.
func (l *lines) find(parts ...string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, s := range l.all {
		for _, p := range parts {
			if !strings.Contains(s, p) {
				continue next
			}
		}
		return s, true
	}
	return "", false
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// TestServeTLSReloadOnSIGHUP runs "mayfly serve --tls-cert --tls-key" as
// a process and replaces its certificate: after SIGHUP new connections
// get the new one, a connection made before keeps the old one, and a
// replacement that does not load leaves the new one in place. The process
// lives through each SIGHUP.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	ca := servertest.NewCA(t)
	files, data := t.TempDir(), t.TempDir()
	certFile, keyFile := filepath.Join(files, "cert.pem"), filepath.Join(files, "key.pem")
	first := ca.Issue(t)
	first.Write(t, certFile, keyFile)
	args := fmt.Sprintf("serve --addr 127.0.0.1:0 --ops-addr 127.0.0.1:0 --data %s --tls-cert %s --tls-key %s", data, certFile, keyFile)
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		args += " --store " + storeURL(t, data)
	}
	cmd, out := startServe(t, args, "mayfly: ops endpoints at ")
	line, _ := out.find("mayfly: serving at ")
	base := strings.TrimPrefix(line, "mayfly: serving at ")
	line, _ = out.find("mayfly: ops endpoints at ")
	ops := strings.TrimPrefix(line, "mayfly: ops endpoints at ")
	addr, ok := strings.CutPrefix(base, "https://")
	if !ok {
		t.Fatalf("serving at %q, want https://", base)
	}

	if got := ca.Serial(t, addr); got.Cmp(first.Serial) != 0 {
		t.Fatalf("serving %x, want %x", got, first.Serial)
	}
	old := ca.Keep(t, addr)
	oldGet := old.Get
	if code := oldGet(); code != 200 {
		t.Fatalf("old connection: %d", code)
	}

	second := ca.Issue(t)
	second.Write(t, certFile, keyFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The files are also checked every 10 s: the reload must say it was
	// the signal's doing.
	eventually(t, "a reload on SIGHUP", func() bool {
		_, ok := out.find(`msg="TLS certificate reloaded"`, `why="signal hangup"`, fmt.Sprintf("serial=%x", second.Serial))
		return ok
	})
	if got := ca.Serial(t, addr); got.Cmp(second.Serial) != 0 {
		t.Errorf("after SIGHUP: serving %x, want %x", got, second.Serial)
	}
	if code := oldGet(); code != 200 {
		t.Errorf("old connection after SIGHUP: %d", code)
	}
	if got := old.Serial(); got.Cmp(first.Serial) != 0 {
		t.Errorf("old connection's certificate %x, want the first, %x", got, first.Serial)
	}

	// Another certificate with the key in use: refused, the second stays.
	third := ca.Issue(t)
	(&servertest.Leaf{CertPEM: third.CertPEM, KeyPEM: second.KeyPEM}).Write(t, certFile, keyFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refused reload on SIGHUP", func() bool {
		_, ok := out.find("still serving the previous one", `why="signal hangup"`, "private key does not match public key")
		return ok
	})
	if got := ca.Serial(t, addr); got.Cmp(second.Serial) != 0 {
		t.Errorf("after a bad replacement: serving %x, want %x", got, second.Serial)
	}

	// Still alive, and /metrics is on the ops listener only.
	hc := &http.Client{Timeout: patience, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	for _, c := range []struct {
		hc   *http.Client
		url  string
		want int
	}{{hc, base + "/metrics", 404}, {hc, base + "/healthz", 200}, {http.DefaultClient, ops + "/metrics", 200}, {http.DefaultClient, ops + "/readyz", 200}} {
		resp, err := c.hc.Get(c.url)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", c.url, err, out)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}
}

// TestServePlainSIGHUP: without TLS, SIGHUP (what `systemctl reload`
// sends) is logged and the server goes on serving; it used to end it.
func TestServePlainSIGHUP(t *testing.T) {
	data := t.TempDir()
	args := fmt.Sprintf("serve --addr 127.0.0.1:0 --data %s", data)
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		args += " --store " + storeURL(t, data)
	}
	cmd, out := startServe(t, args, "mayfly: serving at ")
	line, _ := out.find("mayfly: serving at ")
	base := strings.TrimPrefix(line, "mayfly: serving at ")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGHUP logged", func() bool {
		_, ok := out.find("nothing to reload")
		return ok
	})
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("after SIGHUP: %v\n%s", err, out)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after SIGHUP: /healthz %d", resp.StatusCode)
	}
}

// startServe runs "mayfly ARGS" as a process and waits for the stderr line
// that begins with ready; the process is killed when the test ends.
func startServe(t *testing.T, args, ready string) (*exec.Cmd, *lines) {
	t.Helper()
	cmd, stderr := spawn(t, args)
	out := &lines{}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			out.add(sc.Text())
			if strings.HasPrefix(sc.Text(), ready) {
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(patience):
		t.Fatalf("server did not start:\n%s", out)
	}
	return cmd, out
}

// spawn runs "mayfly ARGS" as a child process (this test binary stands in
// for cmd/mayfly), killed when the test ends, and returns its stderr.
func spawn(t *testing.T, args string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MAYFLY_TEST_MAIN="+args)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, stderr
}
