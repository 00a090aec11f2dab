package cli_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/cli"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// What the commands print, over a server with something of everything.

// unicodeClient is a client name of letters beyond ASCII, for the tables.
const unicodeClient = "Ærøskøbing-api"

// world is a populated server: people, a service, clients, tokens, a
// revoked token and key, custody, an unapproved credential, an offboarded
// and a suspended person, a Shared Signals stream and an exported bundle.
type world struct {
	srv *servertest.Env
	env map[string]string
	// ids holds what was made, by name: principals by their names,
	// "client" (unicodeClient), "bobs-cli", "carols-tool", "kid" (the
	// revoked key), "jti" (the revoked token), "pending", "stream".
	ids map[string]string
	// offboard is what offboarding bob printed.
	offboard string
	// bundle is an exported bundle's file, logKey the log's public key.
	bundle, logKey string
	// report is a scope report's file.
	report string
	// aliceToken is the admin credential alice was handed, by the
	// operator, who was shown it too.
	aliceToken string
}

func populate(t *testing.T) *world {
	t.Helper()
	srv := servertest.New(t)
	w := &world{srv: srv, env: map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}, ids: map[string]string{}}
	cmd := func(args ...string) string {
		t.Helper()
		r := run(w.env, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}
	obj := func(args ...string) map[string]any {
		t.Helper()
		var m map[string]any
		if out := cmd(append(args, "--json")...); json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("%s --json: not an object: %s", strings.Join(args, " "), out)
		}
		return m
	}
	list := func(args ...string) []map[string]any {
		t.Helper()
		var l []map[string]any
		if out := cmd(append(args, "--json")...); json.Unmarshal([]byte(out), &l) != nil {
			t.Fatalf("%s --json: not a list: %s", strings.Join(args, " "), out)
		}
		return l
	}
	str := func(m map[string]any, k string) string {
		t.Helper()
		s, ok := m[k].(string)
		if !ok || s == "" {
			t.Fatalf("no %s in %v", k, m)
		}
		return s
	}

	for _, name := range []string{"alice", "bob", "carol"} {
		w.ids[name] = str(obj("principal", "create", name, "--kind", "human"), "id")
	}
	w.ids["billing"] = str(obj("principal", "create", "billing", "--kind", "service", "--owner", "alice"), "id")
	created := obj("client", "create", unicodeClient, "--owner", "billing", "--scope", "orders.read")
	w.ids["client"] = str(created, "client_id")
	w.ids["bobs-cli"] = str(obj("client", "create", "bobs-cli", "--owner", "bob"), "client_id")
	w.ids["carols-tool"] = str(obj("client", "create", "carols-tool", "--owner", "carol"), "client_id")
	for range 2 {
		srv.IssueToken(w.ids["client"], str(created, "client_secret"), nil)
	}
	w.ids["jti"] = str(list("token", "list", "--client", w.ids["client"])[0], "jti")
	cmd("token", "revoke", w.ids["jti"], "--reason", "leaked in a log")

	cmd("key", "ring", "create", "edge", "--alg", "EdDSA")
	for _, k := range list("key", "list", "--ring", "edge") {
		if k["state"] == string(mayfly.KeyActive) {
			w.ids["kid"] = str(k, "kid")
		}
	}
	cmd("key", "revoke", "--reason", "laptop stolen", "--", w.ids["kid"])
	cmd("custody", "grant", "alice", "--ring", "default", "--kind", "admin", "--reason", "runs the auth system")
	// Unapproved: the operator holds the only admin credential.
	laptop := obj("credential", "create", "alice-laptop", "--owner", "alice")
	w.ids["alice-laptop"], w.aliceToken = str(laptop, "id"), str(laptop, "token")
	w.ids["pending"] = str(list("pending", "list", "--status", "all")[0], "id")
	w.offboard = cmd("offboard", "bob", "--reason", "left the company")
	cmd("principal", "suspend", "carol", "--reason", "on leave")
	// Alerts are raised as the detection engine raises them.
	err := srv.Server.Audit.Update(t.Context(), func(tx mayfly.Tx) error {
		as, err := srv.Server.Alerts.Raise(tx, []mayfly.AlertSignal{
			{Rule: mayfly.RuleBulkRead, Subject: "client:" + w.ids["client"], Summary: "read 50000 records in 5 minutes",
				Evidence: mayfly.AlertEvidence{Time: servertest.Epoch, Service: "orders", JTI: "jti-1", Observed: 50000, Limit: 1000, Detail: "above the ceiling"}},
		})
		if err == nil {
			w.ids["alert"] = as[0].ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	body := strings.NewReader(`{"delivery": {"method": "` + mayfly.DeliveryPoll + `"}, "description": "the SIEM"}`)
	req, err := http.NewRequest("POST", srv.URL+api.SSFConfigPath, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Content-Type", "application/json")
	r := srv.Do(req)
	if r.Status != http.StatusCreated {
		t.Fatalf("creating a stream: %d %s", r.Status, r.Body)
	}
	w.ids["stream"] = str(r.JSON(), "stream_id")

	w.bundle = filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(w.bundle, []byte(cmd("audit", "export")), 0o600); err != nil {
		t.Fatal(err)
	}
	w.logKey = str(obj("audit", "key"), "log_key")
	w.report = filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(w.report, []byte(cmd("scope", "report", "--namespace", "customer")), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// goDump matches what Go's fmt makes of values no one formatted for
// people: byte slices and other slices, struct and pointer dumps, nil,
// maps, pointers and formatting mistakes.
var goDump = regexp.MustCompile(`\[[0-9]+( [0-9]+)+\]|\[\]|&\{|<nil>|map\[|%!|0x[0-9a-f]{8,}`)

// braces: text output holds no braces at all; a struct printed with %v
// would bring some.
var braces = regexp.MustCompile(`[{}]`)

// emptyField is a name/value line without a value, where "-" belongs.
var emptyField = regexp.MustCompile(`(?m)^[a-z_ ]+:[ \t]*$`)

// TestTamperedBundleSaysWhy: a bundle whose entry was altered fails to
// verify, and the error shows the roots in base64, not as Go byte slices.
func TestTamperedBundleSaysWhy(t *testing.T) {
	w := populate(t)
	raw, err := os.ReadFile(w.bundle)
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	entries, _ := b["entries"].([]any)
	if len(entries) < 2 {
		t.Fatalf("bundle of %d entries", len(entries))
	}
	entries[1].(map[string]any)["entry"].(map[string]any)["actor"] = "someone else"
	raw, _ = json.Marshal(b)
	file := filepath.Join(t.TempDir(), "tampered.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(nil, "audit", "verify-bundle", file, "--log-key", w.logKey)
	want := regexp.MustCompile(`^mayfly: bundle does not verify: entry 1 \(index [0-9]+\): not in the checkpointed log: its proof leads to root [A-Za-z0-9+/]{43}=, but the checkpoint's root is [A-Za-z0-9+/]{43}=\n$`)
	if r.code != 1 || !want.MatchString(r.stderr) || r.stdout != "" {
		t.Errorf("tampered bundle: exit %d, stdout %q, stderr %q; want 1 and the two roots in base64", r.code, r.stdout, r.stderr)
	}
	if m := goDump.FindString(r.stderr); m != "" {
		t.Errorf("error holds %q, a Go value dump: %s", m, r.stderr)
	}
	r = run(nil, "audit", "verify-bundle", w.bundle, "--log-key", w.logKey)
	if !regexp.MustCompile(`(?m)^root hash: [A-Za-z0-9+/]{43}=$`).MatchString(r.stdout) {
		t.Errorf("verify-bundle: %q; want the root hash in base64", r.stdout)
	}
}

// TestNamesBesideIDs: wherever an ID of a principal, client or credential
// is shown, its name is shown first; an ID of nothing known shows alone.
func TestNamesBesideIDs(t *testing.T) {
	w := populate(t)
	named := func(name, id string) string { return regexp.QuoteMeta(name + " (" + id + ")") }
	admin := `bootstrap \(adm_[a-z0-9]+\)`
	tests := []struct {
		args []string
		code int
		want []string // patterns, each matching some line
	}{
		{[]string{"custody", "show", "alice"}, 0, []string{
			`^` + named("alice", w.ids["alice"]) + ` +ring +default +admin +\S+ +` + admin + ` +runs the auth system$`}},
		{[]string{"custody", "show", "operator"}, 0, []string{
			`^operator \(prn_[a-z0-9]+\) +root_key +root +operator +\S+ +mayfly +`}},
		{[]string{"audit", "search", "--principal", w.ids["alice"]}, 0, []string{
			` principal.created +` + admin + ` +` + named("alice", w.ids["alice"]) + ` +- +- +-$`}},
		{[]string{"audit", "tail", "-n", "1000"}, 0, []string{
			` client.created +` + admin + ` +` + named("billing", w.ids["billing"]) + ` +` + named(unicodeClient, w.ids["client"]) + ` `,
			// Token issuance is recorded by the service itself, "mayfly",
			// which names nothing: it shows alone.
			` tokens.issued +mayfly +- +- +- +-$`}},
		{[]string{"doctor"}, 1, []string{
			`^owner-not-active +client ` + named("carols-tool", w.ids["carols-tool"]) + ` +client "carols-tool" is not revoked but its owner carol is suspended`}},
		{[]string{"token", "list"}, 0, []string{
			` ` + named(unicodeClient, w.ids["client"]) + ` +` + named("billing", w.ids["billing"]) + ` `}},
		{[]string{"principal", "show", "billing"}, 0, []string{`^owner: +` + named("alice", w.ids["alice"]) + `$`}},
		{[]string{"client", "list"}, 0, []string{` ` + named("billing", w.ids["billing"]) + ` +default `}},
		{[]string{"credential", "list"}, 0, []string{` alice-laptop +admin +` + named("alice", w.ids["alice"]) + ` `}},
		{[]string{"pending", "list", "--status", "all"}, 0, []string{` credential.admin +alice-laptop \(adm_[a-z0-9]+\) +\S+ +` + admin + ` `}},
	}
	for _, tt := range tests {
		r := run(w.env, tt.args...)
		if r.code != tt.code {
			t.Errorf("%s: exit %d: %s", strings.Join(tt.args, " "), r.code, r.stderr)
			continue
		}
		for _, want := range tt.want {
			if !regexp.MustCompile(`(?m)` + want).MatchString(r.stdout) {
				t.Errorf("%s: no line matches %s in\n%s", strings.Join(tt.args, " "), want, r.stdout)
			}
		}
	}
	for _, want := range []string{
		`(?m)^principal: +` + named("bob", w.ids["bob"]) + `$`,
		`(?m)^by: +` + admin + `$`,
		`(?m) credentials +client.revoked +` + named("bobs-cli", w.ids["bobs-cli"]) + ` +[0-9]+ `,
	} {
		if !regexp.MustCompile(want).MatchString(w.offboard) {
			t.Errorf("offboarding report: no line matches %s in\n%s", want, w.offboard)
		}
	}
}

// TestTablesAlign: every row of a table starts each column at the same
// rune as its header, with names of letters beyond ASCII among them.
// (Tabwriter counts runes: letters with accents line up; wide East Asian
// characters would not.)
func TestTablesAlign(t *testing.T) {
	w := populate(t)
	for _, args := range [][]string{
		{"principal", "list"}, {"client", "list"}, {"token", "list"}, {"key", "list"}, {"custody", "show", "alice"},
		{"credential", "list"}, {"audit", "tail", "-n", "1000"}, {"doctor"}, {"pending", "list", "--status", "all"},
	} {
		r := run(w.env, args...)
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if len(lines) < 2 {
			t.Errorf("%s: %q; want a header and rows", strings.Join(args, " "), r.stdout)
			continue
		}
		starts := columnStarts(lines[0])
		for _, line := range lines[1:] {
			rs := []rune(line)
			for _, s := range starts {
				if s >= len(rs) || rs[s] == ' ' || (s > 0 && rs[s-1] != ' ') {
					t.Errorf("%s: row %q does not start a column at rune %d, as its header does:\n%s", strings.Join(args, " "), line, s, r.stdout)
					break
				}
			}
		}
	}
	// The cells after a name beyond ASCII, which has more bytes than
	// runes, are where their headers are, and are names.
	if utf8.RuneCountInString(unicodeClient) == len(unicodeClient) {
		t.Fatalf("%q is ASCII", unicodeClient)
	}
	for _, tt := range []struct {
		args              []string
		column, row, want string
	}{
		{[]string{"client", "list"}, "OWNER", unicodeClient, "billing (" + w.ids["billing"] + ")"},
		{[]string{"token", "list"}, "PRINCIPAL", unicodeClient, "billing (" + w.ids["billing"] + ")"},
		{[]string{"token", "list"}, "CLIENT", unicodeClient, unicodeClient + " (" + w.ids["client"] + ")"},
	} {
		r := run(w.env, tt.args...)
		if got := cellAt(r.stdout, tt.column, tt.row); got != tt.want {
			t.Errorf("%s: column %s of the row of %s is %q, want %q:\n%s", strings.Join(tt.args, " "), tt.column, tt.row, got, tt.want, r.stdout)
		}
	}
}

// cellAt returns the cell of table under the header column, in the first
// row that holds row.
func cellAt(table, column, row string) string {
	lines := strings.Split(table, "\n")
	starts := columnStarts(lines[0])
	header := []rune(lines[0])
	for i, s := range starts {
		end := len(header)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		if strings.TrimSpace(string(header[s:end])) != column {
			continue
		}
		for _, l := range lines[1:] {
			if rs := []rune(l); strings.Contains(l, row) && s < len(rs) {
				return strings.TrimSpace(string(rs[s:min(end, len(rs))]))
			}
		}
	}
	return ""
}

// columnStarts returns the rune index of each column of a header: a
// header cell begins after two spaces or more.
func columnStarts(header string) []int {
	var out []int
	rs := []rune(header)
	for i, r := range rs {
		if r != ' ' && (i == 0 || (i >= 2 && rs[i-1] == ' ' && rs[i-2] == ' ')) {
			out = append(out, i)
		}
	}
	return out
}

// call is one command of the scenario that runs every command.
type call struct {
	args []string
	code int
	// path is the API route whose answer the command prints, if any;
	// reverse, if its list is printed in reverse.
	path    string
	reverse bool
	// save keeps what the output holds for later calls: variable ->
	// member path of the JSON output (such as "keys.1.kid"), or a
	// regular expression on the text output whose group is the value.
	save, saveText map[string]string
	env            map[string]string // instead of the operator's
}

// scenario is a populated server, and a run of every command in the
// command table over it but serve, help and completion, reads first, each with
// what it needs. Arguments of the form $NAME are vars (which calls with
// save add to).
func scenario(t *testing.T) (w *world, calls []call, vars map[string]string) {
	ctx := t.Context()
	w = populate(t)
	// Two actions waiting for a second person: SCIM may not suspend or
	// offboard the operator alone.
	scimCred, err := w.srv.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "okta", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct{ method, body string }{
		{"DELETE", ""},
		{"PATCH", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`},
	} {
		op, err := w.srv.Admin.Principal(ctx, "operator")
		if err != nil {
			t.Fatal(err)
		}
		r, err := http.NewRequest(req.method, w.srv.URL+api.SCIMPath+"/Users/"+op.ID, strings.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+scimCred.Token)
		r.Header.Set("Content-Type", api.SCIMContentType)
		if st := w.srv.Do(r).Status; st != http.StatusForbidden {
			t.Fatalf("SCIM %s of the operator: %d; want 403, and a pending action", req.method, st)
		}
	}
	pending, err := w.srv.Admin.PendingActions(ctx, mayfly.Pending)
	if err != nil {
		t.Fatal(err)
	}
	vars = map[string]string{"CLIENT": w.ids["client"], "STREAM": w.ids["stream"], "PENDING": w.ids["pending"],
		"BUNDLE": w.bundle, "LOGKEY": w.logKey, "REPORT": w.report, "ALERT": w.ids["alert"], "DATA": t.TempDir()}
	for _, p := range pending {
		vars[string(p.Kind)] = p.ID
	}
	// An nginx access log of one request, for ledger import.
	vars["ACCESSLOG"] = filepath.Join(vars["DATA"], "access.log")
	line := `{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"203.0.113.9","request_method":"GET","uri":"/customers",` +
		`"http_authorization":"Bearer eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJqMSJ9.AAAA","customer_ids":[17,42]}` + "\n"
	if err := os.WriteFile(vars["ACCESSLOG"], []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	vars["JWKS"] = filepath.Join(vars["DATA"], "login.jwks")
	if err := os.WriteFile(vars["JWKS"], []byte(tokentest.LoginJWKS), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := w.srv.Admin.Tokens(ctx, mayfly.IssuanceFilter{ClientID: w.ids["client"]})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.JTI != w.ids["jti"] {
			vars["JTI"] = r.JTI
		}
	}
	// alice decides them, with a credential of her own that no one else
	// was shown: she makes it with the one she was handed, and revokes that.
	handed := map[string]string{"MAYFLY_ADDR": w.srv.URL, "MAYFLY_TOKEN": w.aliceToken}
	var own api.CreatedCredential
	if r := run(handed, "credential", "create", "alice", "--owner", "alice", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &own) != nil {
		t.Fatalf("alice's own credential: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(handed, "credential", "revoke", w.ids["alice-laptop"]); r.code != 0 {
		t.Fatalf("revoking the credential alice was handed: exit %d: %s", r.code, r.stderr)
	}
	alice := map[string]string{"MAYFLY_ADDR": w.srv.URL, "MAYFLY_TOKEN": own.Token}
	ledgerReports(t, w)

	calls = []call{
		{args: []string{"principal", "list"}, path: "/v1/principals"},
		{args: []string{"principal", "show", "alice"}, path: "/v1/principals/alice"},
		{args: []string{"client", "list"}, path: "/v1/clients"},
		{args: []string{"client", "show", "$CLIENT"}, path: "/v1/clients/$CLIENT"},
		{args: []string{"key", "list"}, path: "/v1/keys"},
		{args: []string{"key", "ring", "list"}, path: "/v1/rings"},
		{args: []string{"token", "list"}, path: "/v1/tokens?limit=100"},
		{args: []string{"audit", "tail"}, path: "/v1/audit?limit=20&newest=true", reverse: true},
		{args: []string{"audit", "search"}, path: "/v1/audit?limit=100"},
		{args: []string{"audit", "show", "0"}, path: "/v1/audit/0"},
		{args: []string{"audit", "verify"}},
		{args: []string{"audit", "proof", "1"}, path: "/v1/audit/proof/1"},
		{args: []string{"audit", "consistency", "2", "5"}, path: "/v1/audit/consistency?old=2&new=5"},
		{args: []string{"audit", "export"}, path: "/v1/audit/export"},
		{args: []string{"audit", "verify-bundle", "$BUNDLE", "--log-key", "$LOGKEY"}},
		{args: []string{"audit", "key"}, path: "/v1/audit/key"},
		{args: []string{"custody", "show", "alice"}, path: "/v1/custody?principal=alice"},
		{args: []string{"credential", "list"}, path: "/v1/credentials"},
		{args: []string{"doctor"}, code: 1, path: "/v1/doctor"},
		{args: []string{"ssf", "list"}, path: api.SSFConfigPath},
		{args: []string{"ssf", "show", "$STREAM"}},
		{args: []string{"pending", "list", "--status", "all"}, path: "/v1/pending"},
		{args: []string{"pending", "show", "$PENDING"}, path: "/v1/pending/$PENDING"},
		{args: []string{"ledger", "show"}, path: "/v1/ledger?limit=1000"},
		{args: []string{"ledger", "gaps"}, path: "/v1/ledger/gaps"},
		{args: []string{"scope", "--namespace", "customer", "--by", "day"}},
		{args: []string{"scope", "diff", "--namespace customer", "--source 10.0.0.0/8"}},
		{args: []string{"scope", "report", "--principal", "alice"}},
		{args: []string{"scope", "verify", "$REPORT", "--log-key", "$LOGKEY"}},
		{args: []string{"alert", "list"}, path: "/v1/alerts?limit=100"},
		{args: []string{"alert", "show", "$ALERT"}, path: "/v1/alerts/$ALERT"},
		{args: []string{"alert", "ack", "$ALERT", "--note", "looking"}},
		{args: []string{"alert", "resolve", "$ALERT"}},
		// What it prints; posting is tested against a server of the
		// contract in import_test.go.
		{args: []string{"ledger", "import", "$ACCESSLOG", "--format", "jsonl", "--preset", "nginx", "--map", "records.customer=customer_ids", "--service", "billing", "--dry-run"}},

		{args: []string{"principal", "create", "dave", "--kind", "human"}},
		{args: []string{"principal", "suspend", "dave", "--reason", "on leave"}},
		{args: []string{"principal", "reactivate", "dave", "--reason", "back"}},
		{args: []string{"client", "create", "tool", "--owner", "dave"}, save: map[string]string{"TOOL": "client_id"}, saveText: map[string]string{"TOOL": `(?m)^client_id: +(\S+)$`}},
		{args: []string{"client", "rotate-secret", "$TOOL"}},
		{args: []string{"client", "revoke", "$TOOL"}},
		{args: []string{"key", "ring", "create", "fresh"}, save: map[string]string{"FRESHKID": "keys.1.kid"}, saveText: map[string]string{"FRESHKID": `(?m)^(\S+) +fresh +ES256 +next `}},
		{args: []string{"key", "rotate", "default"}},
		{args: []string{"key", "revoke", "--", "$FRESHKID"}},
		{args: []string{"token", "revoke", "$JTI"}},
		{args: []string{"client", "create", "login", "--owner", "dave", "--exchange", "customer", "--jwks", "$JWKS"}},
		{args: []string{"subject", "revoke", "customer:48213377", "--reason", "password changed"}},
		{args: []string{"subject", "revoke", "--namespace", "customer", "--reason", "breach"}},
		{args: []string{"offboard", "dave", "--reason", "left"}},
		{args: []string{"custody", "grant", "alice", "--ring", "default", "--reason", "on call"}},
		{args: []string{"credential", "create", "ci", "--role", "auditor"}, save: map[string]string{"CI": "id"}, saveText: map[string]string{"CI": `(?m)^id: +(\S+)$`}},
		{args: []string{"credential", "revoke", "$CI"}},
		{args: []string{"scim", "token", "create", "--name", "idp"}},
		{args: []string{"ssf", "status", "$STREAM", "paused"}},
		{args: []string{"ssf", "delete", "$STREAM"}},
		{args: []string{"audit", "rotate-key"}},
		{args: []string{"migrate", "--data", "$DATA"}},
		{args: []string{"version"}},
		{args: []string{"healthcheck"}},
		{args: []string{"pending", "reject", "$" + string(mayfly.PendingOffboard)}, env: alice},
		{args: []string{"pending", "approve", "$" + string(mayfly.PendingSuspend)}, env: alice},
	}
	return w, calls, vars
}

// play runs the scenario's calls, with --json if asked, and hands each one
// that exits as it should, with its arguments expanded and what it
// printed, to check.
func (w *world) play(t *testing.T, calls []call, vars map[string]string, asJSON bool, check func(c call, args []string, r result)) {
	t.Helper()
	expand := func(s string) string {
		if v, ok := strings.CutPrefix(s, "$"); ok {
			if x, ok := vars[v]; ok {
				return x
			}
			t.Fatalf("no variable %s", s)
		}
		for k, v := range vars {
			s = strings.ReplaceAll(s, "$"+k, v)
		}
		return s
	}
	covered := map[string]bool{}
	for _, c := range calls {
		var args []string
		for _, a := range c.args {
			args = append(args, expand(a))
		}
		c.path = expand(c.path)
		covered[leafOf(c.args)] = true
		env := w.env
		if c.env != nil {
			env = c.env
		}
		if asJSON {
			args = append(args, "--json")
		}
		r := run(env, args...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d: %s", strings.Join(args, " "), r.code, c.code, r.stderr)
			continue
		}
		for v, member := range c.save {
			if !asJSON {
				break
			}
			var got any
			json.Unmarshal([]byte(r.stdout), &got)
			x, _ := lookup(got, member).(string)
			if x == "" {
				t.Fatalf("%s: no %s in %s", strings.Join(args, " "), member, r.stdout)
			}
			vars[v] = x
		}
		for v, pattern := range c.saveText {
			if asJSON {
				break
			}
			m := regexp.MustCompile(pattern).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("%s: nothing matches %s in\n%s", strings.Join(args, " "), pattern, r.stdout)
			}
			vars[v] = m[1]
		}
		check(c, args, r)
	}
	for _, leaf := range cli.Leaves() {
		name := strings.Join(leaf, " ")
		switch leaf[0] {
		case "serve": // runs the server; what it prints is its log
			continue
		case "help", "completion": // print help and shell scripts, for people and shells
			continue
		}
		if !covered[name] {
			t.Errorf("%s is not run here", name)
		}
	}
}

// alwaysJSON are the commands that print JSON whatever is asked: what
// they show is best read whole.
var alwaysJSON = []string{"audit show", "audit proof", "audit consistency", "audit export", "scope report"}

// TestOutputIsForPeople runs every command over a populated server and
// checks that its text holds no Go value dumps, no braces and no field
// without a value (and that those that always print JSON print valid
// JSON without dumps).
func TestOutputIsForPeople(t *testing.T) {
	w, calls, vars := scenario(t)
	w.play(t, calls, vars, false, func(c call, args []string, r result) {
		name := strings.Join(args, " ")
		if strings.TrimSpace(r.stdout) == "" {
			t.Errorf("%s printed nothing", name)
		}
		// In JSON, [] is an empty list, not a dump.
		if m := goDump.FindString(r.stdout + r.stderr); m != "" && !(m == "[]" && slices.Contains(alwaysJSON, leafOf(c.args))) {
			t.Errorf("%s: output holds %q, a Go value dump:\n%s%s", name, m, r.stdout, r.stderr)
		}
		switch {
		case slices.Contains(alwaysJSON, leafOf(c.args)) || slices.Contains(c.args, "--dry-run"): // reports, as JSON Lines
			if !json.Valid([]byte(r.stdout)) {
				t.Errorf("%s: not valid JSON:\n%s", name, r.stdout)
			}
		case braces.MatchString(r.stdout):
			t.Errorf("%s: text output holds %q:\n%s", name, braces.FindString(r.stdout), r.stdout)
		case emptyField.MatchString(r.stdout):
			t.Errorf("%s: text output has a field without a value, %q:\n%s", name, emptyField.FindString(r.stdout), r.stdout)
		}
	})
}

// TestEveryCommandPrintsJSON: every command in the command table that
// prints something takes --json and prints valid JSON; where it shows what
// an API route answers, it prints that answer whole, not a subset.
func TestEveryCommandPrintsJSON(t *testing.T) {
	w, calls, vars := scenario(t)
	w.play(t, calls, vars, true, func(c call, args []string, r result) {
		name := strings.Join(args, " ")
		var got any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Errorf("%s: not JSON (%v):\n%s", name, err, r.stdout)
			return
		}
		if c.path == "" {
			return
		}
		req, err := http.NewRequest("GET", w.srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+w.srv.Token)
		resp := w.srv.Do(req)
		var want any
		if err := json.Unmarshal(resp.Body, &want); err != nil || resp.Status != 200 {
			t.Fatalf("GET %s: %d %s", c.path, resp.Status, resp.Body)
		}
		if l, ok := want.([]any); ok && c.reverse {
			slices.Reverse(l)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s prints\n%s\nwhile GET %s answers\n%s", name, gb, c.path, wb)
		}
	})
}

// leafOf is the command an argument list runs: the words before the
// first argument that is not a subcommand.
func leafOf(args []string) string {
	best := []string(nil)
	for _, leaf := range cli.Leaves() {
		// The longest: scope diff, not scope.
		if len(leaf) <= len(args) && slices.Equal(leaf, args[:len(leaf)]) && len(leaf) > len(best) {
			best = leaf
		}
	}
	if best != nil {
		return strings.Join(best, " ")
	}
	return strings.Join(args, " ")
}

// lookup follows a dotted path of member names and list indexes.
func lookup(v any, path string) any {
	for _, step := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[step]
		case []any:
			i := 0
			for _, c := range step {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// ledgerReports reports, as the admin, a request of billing's that read
// two customers, and a heartbeat that dropped some, and waits until the
// report is in the ledger.
func ledgerReports(t *testing.T, w *world) {
	t.Helper()
	for _, r := range []struct{ path, ctype, body string }{
		{api.LedgerEventsPath, "application/x-ndjson", `{"time":"2026-01-02T03:04:05Z","service":"billing","source_ip":"10.1.2.3","method":"GET","route":"/customers/{id}","records":{"customer":[17,42]},"jti":"jti-ledger","client_id":"cl_ledger"}`},
		{api.LedgerHeartbeatPath, "application/json", `{"service":"billing","time":"2026-01-02T03:05:00Z","revocation_seq":0,"revocation_age_ms":0,"dropped":3,"dropped_since":"2026-01-02T03:04:00Z"}`},
	} {
		req, err := http.NewRequest("POST", w.srv.URL+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+w.srv.Token)
		req.Header.Set("Content-Type", r.ctype)
		if resp := w.srv.Do(req); resp.Status >= 300 {
			t.Fatalf("POST %s: %d %s", r.path, resp.Status, resp.Body)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := w.srv.Server.Store().LedgerJournalDepth(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger's journal holds %d batches after 20 s", n)
		}
	}
}
