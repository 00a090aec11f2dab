package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/cli"
	"github.com/mayflyhq/mayfly/server/servertest"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return result{code, out.String(), errb.String()}
}

// TestCLI drives the CLI against a real server, as an operator would.
func TestCLI(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	mustJSON := func(r result) map[string]any {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		return m
	}

	if r := run(env, "principal", "create", "alice", "--kind", "human"); r.code != 0 || !strings.Contains(r.stdout, "alice") {
		t.Fatalf("principal create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	svc := mustJSON(run(env, "principal", "create", "billing", "--kind", "service", "--owner", "alice", "--json"))
	if svc["kind"] != "service" || svc["owner_id"] == "" {
		t.Errorf("service principal: %v", svc)
	}
	created := mustJSON(run(env, "client", "create", "billing-api", "--owner", "billing", "--scope", "orders.read,orders.write", "--audience", "https://orders.example", "--json"))
	id, _ := created["client_id"].(string)
	secret, _ := created["client_secret"].(string)
	if !strings.HasPrefix(id, "mfc_") || !strings.HasPrefix(secret, "mfs_") {
		t.Fatalf("client create --json: client_id %q client_secret %q", id, secret)
	}
	shown := mustJSON(run(env, "client", "show", id, "--json"))
	if _, ok := shown["client_secret"]; ok || shown["client_id"] != id {
		t.Errorf("client show: %v; want the client without a secret", shown)
	}
	if r := run(env, "client", "list"); !strings.Contains(r.stdout, id) || strings.Contains(r.stdout, secret) {
		t.Errorf("client list: %q", r.stdout)
	}
	tok := srv.IssueToken(id, secret, nil)
	_ = tok

	ring := mustJSON(run(env, "key", "ring", "create", "edge", "--alg", "EdDSA", "--lifetime", "12h", "--json"))
	if ring["alg"] != "EdDSA" || ring["lifetime"] != "12h0m0s" {
		t.Errorf("ring create: %v", ring)
	}
	if r := run(env, "key", "ring", "list"); !strings.Contains(r.stdout, "edge") || !strings.Contains(r.stdout, "default") {
		t.Errorf("ring list: %q", r.stdout)
	}
	if r := run(env, "key", "list", "--ring", "default"); strings.Count(r.stdout, "default") != 2 || !strings.Contains(r.stdout, "active") {
		t.Errorf("key list: %q", r.stdout)
	}
	if r := run(env, "key", "rotate", "default"); r.code != 0 || !strings.Contains(r.stdout, "retiring") {
		t.Errorf("key rotate: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var recs []map[string]any
	r := run(env, "token", "list", "--client", id, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("token list: %v %q", err, r.stdout)
	}
	jti, _ := recs[0]["jti"].(string)
	if r := run(env, "token", "revoke", jti, "--reason", "test"); r.code != 0 || !strings.Contains(r.stdout, jti) {
		t.Errorf("token revoke: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(env, "client", "revoke", id); r.code != 0 {
		t.Errorf("client revoke: exit %d %q", r.code, r.stderr)
	}
	if r := run(env, "client", "revoke", id); r.code != 1 || !strings.Contains(r.stderr, "already revoked") {
		t.Errorf("second client revoke: exit %d %q", r.code, r.stderr)
	}
	if strings.Contains(srv.Log.String(), secret) {
		t.Errorf("client secret in the server log")
	}
}

// TestCLIErrors: one clear line and a non-zero exit, 2 for usage.
func TestCLIErrors(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", env, nil, 2, "missing command"},
		{"unknown command", env, []string{"frobnicate"}, 2, "unknown command"},
		{"group without subcommand", env, []string{"key"}, 2, "needs a subcommand"},
		{"missing kind", env, []string{"principal", "create", "bob"}, 2, "--kind"},
		{"extra argument", env, []string{"principal", "show", "a", "b"}, 2, "takes one"},
		{"bad flag", env, []string{"principal", "list", "--bogus"}, 2, "bogus"},
		{"bad time", env, []string{"token", "list", "--since", "yesterday"}, 2, "-since"},
		{"service without owner", env, []string{"principal", "create", "svc", "--kind", "service"}, 1, "human owner"},
		{"five-year key", env, []string{"key", "ring", "create", "old", "--lifetime", "43800h"}, 1, "ceiling of 720h"},
		{"unknown principal", env, []string{"principal", "show", "nobody"}, 1, "not found"},
		{"wrong credential", map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": "mfa_wrong"}, []string{"principal", "list"}, 1, "invalid admin credential"},
		{"no credential", map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_DATA": t.TempDir()}, []string{"principal", "list"}, 2, "MAYFLY_TOKEN"},
		{"server down", map[string]string{"MAYFLY_ADDR": "127.0.0.1:1", "MAYFLY_TOKEN": "x"}, []string{"principal", "list"}, 1, "cannot reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.env, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); len(tt.args) > 1 && lines != 0 {
				t.Errorf("error is %d lines, want one: %q", lines+1, r.stderr)
			}
		})
	}
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// TestMigrate: migrate applies the embedded migrations once, then says the
// schema is up to date; a store URL it cannot use is one clear error line.
func TestMigrate(t *testing.T) {
	stores := map[string]string{"sqlite": t.TempDir() + "/mayfly.db"}
	if os.Getenv("MAYFLY_TEST_POSTGRES") != "" || os.Getenv("CI") == "true" {
		stores["postgres"] = pgtest.DSN(t)
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			first := run(nil, "migrate", "--store", store)
			if first.code != 0 || !strings.Contains(first.stdout, "applied migration 0001") || !strings.Contains(first.stdout, "applied migration 0002") {
				t.Fatalf("first migrate: exit %d, stdout %q, stderr %q", first.code, first.stdout, first.stderr)
			}
			second := run(nil, "migrate", "--store", store)
			if second.code != 0 || !strings.Contains(second.stdout, "schema up to date") {
				t.Errorf("second migrate: exit %d, stdout %q, stderr %q", second.code, second.stdout, second.stderr)
			}
		})
	}
	bad := run(nil, "migrate", "--store", "mysql://root:hunter2@db/mayfly")
	if bad.code != 1 || !strings.Contains(bad.stderr, "not a postgres:// URL") || strings.Contains(bad.stderr, "hunter2") {
		t.Errorf("migrate with a foreign URL: exit %d, stderr %q; want one error line without the password", bad.code, bad.stderr)
	}
}

// TestOffboardCLI: custody recorded by hand shows up, offboarding prints
// its report, and offboarding again says nothing new was needed.
func TestOffboardCLI(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	srv.Human("dev")
	if r := run(env, "custody", "grant", "dev", "--ring", "default", "--kind", "admin", "--reason", "runs the auth system"); r.code != 0 {
		t.Fatalf("custody grant: exit %d: %s", r.code, r.stderr)
	}
	if r := run(env, "custody", "grant", "dev", "--ring", "default"); r.code != 2 || !strings.Contains(r.stderr, "--reason") {
		t.Errorf("custody grant without --reason: exit %d, %q; want a usage error naming --reason", r.code, r.stderr)
	}
	for _, args := range [][]string{{"custody", "show", "dev"}, {"custody", "show", "--ring", "default"}} {
		if r := run(env, args...); r.code != 0 || !strings.Contains(r.stdout, "admin") || !strings.Contains(r.stdout, "runs the auth system") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	srv.Clock.Advance(time.Minute) // the ring's keys predate the offboarding
	r := run(env, "offboard", "dev", "--reason", "left")
	if r.code != 0 || !strings.Contains(r.stdout, "ring.rekeyed") || !strings.Contains(r.stdout, "principal.offboarded") {
		t.Fatalf("offboard: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = run(env, "offboard", "dev", "--json")
	var o struct {
		Actions []struct{ Action string } `json:"actions"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &o) != nil || len(o.Actions) != 1 {
		t.Errorf("second offboard --json: exit %d, stdout %q; want a report with only its closing line", r.code, r.stdout)
	}
	if r := run(env, "offboard", "dev"); !strings.Contains(r.stdout, "Nothing new was needed") {
		t.Errorf("third offboard: %q; want it to say nothing new was needed", r.stdout)
	}
	if r := run(env, "principal", "show", "dev"); !strings.Contains(r.stdout, "offboarded") {
		t.Errorf("principal show after offboarding: %q", r.stdout)
	}
}

// TestHelpShowsNoCredential: with the admin credential in the environment,
// as the README has users export it, no command's help, usage error or
// refusal prints it.
func TestHelpShowsNoCredential(t *testing.T) {
	const secret = "mfa_do-not-print-this-credential"
	env := map[string]string{"MAYFLY_TOKEN": secret, "MAYFLY_ADDR": "127.0.0.1:1"}
	usage := run(env, "help")
	var cmds [][]string
	for _, line := range strings.Split(usage.stdout, "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		fields := strings.Fields(line)
		var name []string
		for _, f := range fields {
			if f != strings.ToLower(f) || len(name) == 3 || strings.ContainsAny(f, ";:,") {
				break
			}
			name = append(name, f)
		}
		if len(name) > 0 {
			cmds = append(cmds, name)
		}
	}
	if len(cmds) < 20 {
		t.Fatalf("found %d commands in the help: %q", len(cmds), usage.stdout)
	}
	for _, name := range cmds {
		for _, extra := range [][]string{{"--help"}, {"--no-such-flag"}} {
			r := run(env, append(append([]string{}, name...), extra...)...)
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("mayfly %s %s printed the credential:\n%s%s", strings.Join(name, " "), extra[0], r.stdout, r.stderr)
			}
		}
	}
}
