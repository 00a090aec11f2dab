// Package deploy_test checks the files an operator deploys Mayfly with
// (the example configuration, the static build, the container image, the
// systemd unit) against the code they configure, so that neither drifts
// from the other.
// The Kubernetes manifests are checked by their own module in kubernetes/.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/cli"
)

const exampleConfig = "mayfly.example.conf"

var (
	commented = regexp.MustCompile(`^# ([a-z][a-z0-9-]*) = (.*)$`)
	active    = regexp.MustCompile(`^([a-z][a-z0-9-]*)\s*=`)
)

// setting is one flag the example configures, and the comment above it.
type setting struct {
	name, doc string
	n         int // line number
}

func readExample(t *testing.T) []setting {
	t.Helper()
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var out []setting
	var doc []string
	for i, line := range strings.Split(string(b), "\n") {
		if m := commented.FindStringSubmatch(line); m != nil {
			out = append(out, setting{name: m[1], doc: strings.Join(doc, " "), n: i + 1})
			doc = nil
			continue
		}
		if m := active.FindStringSubmatch(line); m != nil {
			out = append(out, setting{name: m[1], doc: strings.Join(doc, " "), n: i + 1})
			doc = nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			doc = append(doc, strings.TrimPrefix(line, "#"))
		} else {
			doc = nil
		}
	}
	return out
}

// load runs `mayfly serve --config` on text followed by a line naming no
// flag, through the real loader. The loader stops at the first line it
// refuses, so an error at that last line means it took every line before;
// refused is empty then, and otherwise what serve said. load also returns
// the flags serve has: the loader looks each one up as a MAYFLY_* variable.
func load(t *testing.T, text string) (flags []string, refused string) {
	t.Helper()
	text += "\nno-such-flag = 1\n"
	last := strings.Count(text, "\n")
	file := filepath.Join(t.TempDir(), "mayfly.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	getenv := func(k string) string {
		if name, ok := strings.CutPrefix(k, "MAYFLY_"); ok {
			seen[strings.ReplaceAll(strings.ToLower(name), "_", "-")] = true
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"serve", "--config", file}, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	for name := range seen {
		flags = append(flags, name)
	}
	slices.Sort(flags)
	want := fmt.Sprintf("%s:%d: ", file, last)
	if code != 2 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "no-such-flag") {
		return flags, fmt.Sprintf("exit %d: %s", code, stderr.String())
	}
	return flags, ""
}

// TestExampleConfig: the example configuration names every flag of serve
// (but --config, which a file cannot set), each once, with what it does
// and its default, and nothing else; the real loader takes it as it is and
// with every setting uncommented. A flag added to serve without a line
// here fails this test.
func TestExampleConfig(t *testing.T) {
	settings := readExample(t)
	b, _ := os.ReadFile(exampleConfig)
	flags, refused := load(t, string(b))
	if refused != "" {
		t.Fatalf("serve --config %s: %s", exampleConfig, refused)
	}
	for _, must := range []string{"addr", "data", "store", "config"} {
		if !slices.Contains(flags, must) {
			t.Fatalf("serve's flags as the loader sees them: %q; want %s among them", flags, must)
		}
	}

	got := map[string]setting{}
	for _, s := range settings {
		if prev, dup := got[s.name]; dup {
			t.Errorf("%s:%d: %s is set again (first at line %d)", exampleConfig, s.n, s.name, prev.n)
		}
		got[s.name] = s
		if !slices.Contains(flags, s.name) {
			t.Errorf("%s:%d: %s is not a flag of mayfly serve", exampleConfig, s.n, s.name)
		}
		if !strings.Contains(s.doc, "--"+s.name+":") || !strings.Contains(s.doc, "Default:") {
			t.Errorf("%s:%d: %s: the comment above it should say what --%s does and its Default:, got %q", exampleConfig, s.n, s.name, s.name, s.doc)
		}
	}
	for _, f := range flags {
		if _, ok := got[f]; !ok && f != "config" {
			t.Errorf("%s: serve's flag --%s is missing: add it, with what it does and its default", exampleConfig, f)
		}
	}
	if _, ok := got["config"]; ok {
		t.Errorf("%s: sets config, which the loader refuses in a file", exampleConfig)
	}

	// Uncommented, every value must be one the loader accepts.
	if _, refused := load(t, uncommented(string(b), flags, nil)); refused != "" {
		t.Errorf("serve --config %s, every setting uncommented: %s", exampleConfig, refused)
	}
}

// uncommented is the example with every setting uncommented, but those
// named in drop.
func uncommented(text string, flags, drop []string) string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if m := commented.FindStringSubmatch(line); m != nil {
			if slices.Contains(drop, m[1]) {
				continue
			}
			line = strings.TrimPrefix(line, "# ")
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// TestExampleConfigStarts: with every setting uncommented, the example
// starts a real server, so serve's own checks (log level, SCIM
// deactivation, lockout bounds) pass on every value it shows. The
// settings that name places on the deploying machine are left out and
// the server runs on SQLite in a temporary directory, its ops endpoints on
// a port of their own (--ops-pprof needs them).
func TestExampleConfigStarts(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	flags, _ := load(t, "")
	places := []string{"data", "addr", "store", "root-key-file", "tls-cert", "tls-key", "ops-addr", "alert-webhook", "alert-webhook-secret-file", "alert-ocsf"}
	dir := t.TempDir()
	file := filepath.Join(dir, "mayfly.conf")
	if err := os.WriteFile(file, []byte(uncommented(string(b), flags, places)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		env := cli.Env{Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }}
		done <- cli.Run(ctx, []string{"serve", "--config", file, "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0"}, env)
		pw.Close()
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	serving := false
	for !serving && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		serving = strings.HasPrefix(sc.Text(), "mayfly: serving at ")
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if code := <-done; !serving || code != 0 {
		t.Fatalf("serve with the example uncommented: serving %v, exit %d:\n%s", serving, code, out.String())
	}
}

// TestExampleConfigLoadRefuses shows that load tells a file the loader
// took whole from one it stopped in.
func TestExampleConfigLoadRefuses(t *testing.T) {
	tests := []struct {
		text    string
		refused bool
	}{
		{"addr = 127.0.0.1:0", false},
		{"# a comment\n\nlockout = false", false},
		{"lockout-client-failures = five", true},
		{"tls-certificate = x.pem", true},
		{"addr", true},
		{"config = other.conf", true},
	}
	for _, tt := range tests {
		if _, refused := load(t, tt.text); (refused != "") != tt.refused {
			t.Errorf("load(%q): refused %q; want refused %v", tt.text, refused, tt.refused)
		}
	}
}
