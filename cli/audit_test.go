package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestEveryChangeIsAudited performs every kind of state change and finds
// each in the audit log, with who did it.
func TestEveryChangeIsAudited(t *testing.T) {
	srv := servertest.New(t, func(c *server.Config) { c.KeyLifetimeCeiling, c.AllowLongKeyLifetime = 60*24*time.Hour, true })
	ctx := context.Background()
	owner := srv.Human("alice")
	c, secret := srv.NewClient(api.ClientRequest{Owner: owner})
	tok := srv.IssueToken(c.ID, secret, nil)
	recs, _ := srv.Admin.Tokens(ctx, mayfly.IssuanceFilter{ClientID: c.ID})
	if _, err := srv.Admin.RevokeToken(ctx, recs[0].JTI, "test"); err != nil {
		t.Fatal(err)
	}
	_ = tok
	if _, err := srv.Admin.CreateRing(ctx, api.RingRequest{Name: "edge", Alg: mayfly.EdDSA}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Admin.Rotate(ctx, "edge"); err != nil {
		t.Fatal(err)
	}
	ks, _ := srv.Admin.Keys(ctx, "edge")
	var active string
	for _, k := range ks {
		if k.State == mayfly.KeyActive {
			active = k.KID
		}
	}
	if _, err := srv.Admin.RevokeKey(ctx, active, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Admin.RevokeClient(ctx, c.ID, "test"); err != nil {
		t.Fatal(err)
	}

	items, err := srv.Admin.AuditSearch(ctx, mayfly.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[mayfly.Action]mayfly.AuditEntry{}
	for _, it := range items {
		seen[it.Entry.Action] = it.Entry
	}
	logins := 0
	for _, it := range items {
		if it.Entry.Action == "admin.login" {
			logins++
			if it.Entry.Details["source_ip"] != "127.0.0.1" || !strings.HasPrefix(it.Entry.Actor, "adm_") {
				t.Errorf("admin.login entry %+v", it.Entry)
			}
		}
	}
	if logins != 1 {
		t.Errorf("%d admin.login entries for one credential from one address, want 1", logins)
	}
	for _, action := range []mayfly.Action{"config.override", "admin_credential.created", "admin.login", "ring.created", "key.created", "principal.created",
		"client.created", "tokens.issued", "token.revoked", "ring.rotated", "key.scheduled", "key.destroyed", "key.revoked", "client.revoked"} {
		e, ok := seen[action]
		if !ok {
			t.Errorf("no %s entry in the audit log", action)
			continue
		}
		if e.Actor == "" {
			t.Errorf("%s: no actor", action)
		}
	}
	if e := seen["client.revoked"]; e.Client != c.ID || !strings.HasPrefix(e.Actor, "adm_") || e.Principal != owner {
		t.Errorf("client.revoked entry %+v: want client %s, principal %s, an admin actor", e, c.ID, owner)
	}
	if e := seen["tokens.issued"]; e.Details["count"] != "1" || len(e.Details["sha256"]) != 64 || e.Details["first_jti"] != recs[0].JTI {
		t.Errorf("tokens.issued entry %+v", e)
	}
}

// TestAuditCLI: tail, search, verify, proofs, and an exported bundle that
// verifies offline with only the log key, and fails once altered.
func TestAuditCLI(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	owner := srv.Human("alice")
	srv.NewClient(api.ClientRequest{Owner: owner})

	if r := run(env, "audit", "tail", "-n", "3"); r.code != 0 || !strings.Contains(r.stdout, "client.created") {
		t.Errorf("audit tail: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(env, "audit", "search", "--principal", owner); r.code != 0 || !strings.Contains(r.stdout, "principal.created") || !strings.Contains(r.stdout, "client.created") {
		t.Errorf("audit search: exit %d %q", r.code, r.stdout)
	}
	if r := run(env, "audit", "show", "0"); r.code != 0 || !strings.Contains(r.stdout, `"index": 0`) {
		t.Errorf("audit show: exit %d %q", r.code, r.stdout)
	}
	if r := run(env, "audit", "verify"); r.code != 0 || !strings.HasPrefix(r.stdout, "ok:") {
		t.Errorf("audit verify: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(env, "audit", "proof", "1"); r.code != 0 || !strings.Contains(r.stdout, `"proof"`) {
		t.Errorf("audit proof: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(env, "audit", "consistency", "1", "3"); r.code != 0 {
		t.Errorf("audit consistency: exit %d %q", r.code, r.stderr)
	}
	key := strings.TrimSpace(run(env, "audit", "key").stdout)
	if !strings.Contains(key, "/audit+") {
		t.Fatalf("audit key: %q", key)
	}
	exp := run(env, "audit", "export")
	if exp.code != 0 {
		t.Fatalf("audit export: %s", exp.stderr)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.json")
	os.WriteFile(bundle, []byte(exp.stdout), 0o600)
	// Offline: no server address, no credential.
	offline := map[string]string{}
	if r := run(offline, "audit", "verify-bundle", bundle, "--log-key", key); r.code != 0 || !strings.HasPrefix(r.stdout, "ok:") {
		t.Fatalf("verify-bundle: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var b map[string]any
	json.Unmarshal([]byte(exp.stdout), &b)
	entries := b["entries"].([]any)
	entries[1].(map[string]any)["entry"].(map[string]any)["actor"] = "someone-else"
	altered, _ := json.Marshal(b)
	os.WriteFile(bundle, altered, 0o600)
	if r := run(offline, "audit", "verify-bundle", bundle, "--log-key", key); r.code != 1 || !strings.Contains(r.stderr, "not in the checkpointed log") {
		t.Errorf("altered bundle: exit %d %q", r.code, r.stderr)
	}
	otherKey := strings.Replace(key, "/audit+", "/other+", 1)
	os.WriteFile(bundle, []byte(exp.stdout), 0o600)
	if r := run(offline, "audit", "verify-bundle", bundle, "--log-key", otherKey); r.code == 0 {
		t.Errorf("bundle verified under the wrong key")
	}
}
