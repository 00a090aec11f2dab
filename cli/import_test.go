package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
)

const importAdmin = "mfa_importtestcredential"

// ledgerEvents is a server of POST /v1/ledger/events as the ingest answers
// it: each batch parsed whole by ledger.ParseReports, 200 {"accepted": N}
// or 400 naming the line. A report whose route is /refuse is refused, as
// the ingest refuses what only it can judge.
type ledgerEvents struct {
	mu      sync.Mutex
	batches [][]mayfly.LedgerReport
}

func (s *ledgerEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
	}
	if r.Method != "POST" || r.URL.Path != "/v1/ledger/events" {
		fail(404, "not_found", "no such route")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+importAdmin {
		fail(401, "unauthenticated", "no admin credential")
		return
	}
	reps, err := ledger.ParseReports(r.Body, ledger.Limits{})
	if err != nil {
		fail(400, "invalid_request", mayfly.ErrorMessage(err))
		return
	}
	for i, rep := range reps {
		if rep.Route == "/refuse" {
			fail(400, "invalid_request", fmt.Sprintf("line %d: route: refused", i+1))
			return
		}
	}
	s.mu.Lock()
	s.batches = append(s.batches, reps)
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]int{"accepted": len(reps)})
}

func (s *ledgerEvents) reports() []mayfly.LedgerReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []mayfly.LedgerReport
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

// nginxLog writes n lines of an nginx JSON access log, line i (from 1)
// read by the customer i; bad maps a line to what it holds instead.
func nginxLog(t *testing.T, n int, bad map[int]string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if s, ok := bad[i]; ok {
			b.WriteString(s + "\n")
			continue
		}
		fmt.Fprintf(&b, `{"time_local":"02/Jan/2026:03:%02d:05 +0000","remote_addr":"10.1.2.%d","request_method":"GET","uri":"/customers","http_authorization":"Bearer %s","customer_ids":"%d"}`+"\n",
			i%60, i%250, testJWS(fmt.Sprint("j", i)), i)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runImport(t *testing.T, addr string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"MAYFLY_ADDR": addr, "MAYFLY_TOKEN": importAdmin}
	code = Run(context.Background(), append([]string{"ledger", "import"}, args...), Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	if strings.Contains(out.String()+errb.String(), importAdmin) {
		t.Errorf("the admin credential was printed")
	}
	return code, out.String(), errb.String()
}

func TestLedgerImportPostsBatches(t *testing.T) {
	srv := &ledgerEvents{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	log := nginxLog(t, 25, nil)
	flags := []string{"--format", "jsonl", "--preset", "nginx", "--map", "records.customer=customer_ids", "--service", "orders", "--batch", "10"}
	code, out, stderr := runImport(t, hs.URL, append([]string{log}, flags...)...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if want := "read 25 lines of " + log + " (skipped 0); 25 reports accepted in 3 batches\n"; out != want {
		t.Errorf("stdout %q; want %q", out, want)
	}
	if len(srv.batches) != 3 || len(srv.batches[2]) != 5 {
		t.Fatalf("the server took %d batches; want 10, 10 and 5 reports", len(srv.batches))
	}
	reps := srv.reports()
	for i, rep := range reps {
		want := uint64(i + 1)
		if rep.Service != "orders" || rep.Token == "" || rep.Digest == "" || len(rep.Records["customer"]) != 1 || rep.Records["customer"][0] != want ||
			rep.SourceIP.String() != fmt.Sprintf("10.1.2.%d", want) || rep.Time.Minute() != int(want%60) {
			t.Errorf("report %d: %+v; want line %d's", i, rep, want)
		}
	}

	code, out, _ = runImport(t, hs.URL, append([]string{log, "--json", "--skip", "20"}, flags...)...)
	var sum importSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 0 {
		t.Fatalf("exit %d, %q: %v", code, out, err)
	}
	if want := (importSummary{Lines: 25, Skipped: 20, Accepted: 5, Batches: 1}); sum != want {
		t.Errorf("--json summary %+v; want %+v", sum, want)
	}
}

// A line that cannot be mapped stops the import: nothing of its batch is
// posted, and the error says where to resume.
func TestLedgerImportStopsAtABadLine(t *testing.T) {
	srv := &ledgerEvents{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	log := nginxLog(t, 25, map[int]string{17: `{"time_local":"tomorrow","remote_addr":"10.0.0.1"}`})
	flags := []string{"--format", "jsonl", "--preset", "nginx", "--service", "orders", "--batch", "10"}
	code, out, stderr := runImport(t, hs.URL, append([]string{log}, flags...)...)
	want := "mayfly: " + log + " line 17: time (field time_local): not a time (RFC 3339, nginx's $time_local, or Unix seconds or milliseconds); " +
		"nothing of its batch was posted; 1 batches (10 reports) were accepted before it, through line 10: resume with --skip 10\n"
	if code != 1 || out != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr\n%s\nwant\n%s", code, out, stderr, want)
	}
	if n := len(srv.reports()); n != 10 {
		t.Errorf("the server took %d reports; want the first batch's 10", n)
	}
	// Resumed past the bad line, the rest goes in.
	if code, _, stderr := runImport(t, hs.URL, append([]string{log, "--skip", "17"}, flags...)...); code != 0 {
		t.Fatalf("resumed: exit %d, %s", code, stderr)
	}
	if n := len(srv.reports()); n != 18 {
		t.Errorf("the server holds %d reports; want 10 + 8", n)
	}
}

// A batch the server refuses stops the import at the file's line the
// server names.
func TestLedgerImportServerRefusal(t *testing.T) {
	srv := &ledgerEvents{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	refused := fmt.Sprintf(`{"time_local":"02/Jan/2026:03:04:05 +0000","remote_addr":"10.0.0.1","uri":"/refuse","http_authorization":"Bearer %s"}`, testJWS("x"))
	log := nginxLog(t, 30, map[int]string{14: "", 23: refused}) // a blank line is skipped
	code, _, stderr := runImport(t, hs.URL, log, "--format", "jsonl", "--preset", "nginx", "--service", "orders", "--batch", "10")
	want := "mayfly: " + log + " line 23: route: refused; nothing of its batch was posted; 2 batches (20 reports) were accepted before it, through line 21: resume with --skip 21\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr\n%s\nwant\n%s", code, stderr, want)
	}

	// A server that does not know the admin credential.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"unauthenticated","message":"the credential is not valid"}`))
	}))
	defer other.Close()
	code, _, stderr = runImport(t, other.URL, log, "--format", "jsonl", "--preset", "nginx", "--service", "orders")
	if want := "mayfly: the credential is not valid; no batch was accepted before it\n"; code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want %q", code, stderr, want)
	}
}

func TestLedgerImportDryRun(t *testing.T) {
	log := nginxLog(t, 3, nil)
	// No server, no credential: nothing is posted.
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"ledger", "import", log, "--format", "jsonl", "--preset", "nginx", "--map", "records.customer=customer_ids", "--service", "orders", "--dry-run"},
		Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != 0 || errb.String() != "" {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed %d lines; want 3:\n%s", len(lines), out.String())
	}
	want := `{"time":"2026-01-02T03:01:05Z","service":"orders","source_ip":"10.1.2.1","method":"GET","route":"/customers","records":{"customer":[1]},"token":"[token]"}`
	if lines[0] != want {
		t.Errorf("got  %s\nwant %s", lines[0], want)
	}
	if strings.Contains(out.String(), testJWS("j1")) {
		t.Error("--dry-run printed a token")
	}
}

func TestLedgerImportUsage(t *testing.T) {
	log := nginxLog(t, 1, nil)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{log, "--preset", "nginx", "--service", "s"}, "mayfly: --format: expected jsonl, the one format known; see 'mayfly ledger import --help'\n"},
		{[]string{log, "--format", "jsonl", "--preset", "nginx"}, "mayfly: no service: map service=FIELD or name one with --service\n"},
		{[]string{log, "--format", "jsonl", "--preset", "nginx", "--service", "s", "--batch", "10001"}, "mayfly: --batch: at most 10000 reports a request\n"},
		{[]string{"--format", "jsonl", "--preset", "nginx", "--service", "s"}, "mayfly: ledger import takes one FILE; see 'mayfly ledger import --help'\n"},
	} {
		if code, _, stderr := runImport(t, "127.0.0.1:1", tt.args...); code != 2 || stderr != tt.want {
			t.Errorf("%q: exit %d, stderr %q; want 2, %q", tt.args, code, stderr, tt.want)
		}
	}
	code, _, stderr := runImport(t, "127.0.0.1:1", filepath.Join(t.TempDir(), "none.log"), "--format", "jsonl", "--preset", "nginx", "--service", "s")
	if code != 1 || !strings.Contains(stderr, "none.log: no such file or directory") {
		t.Errorf("a missing file: exit %d, stderr %q", code, stderr)
	}
}
