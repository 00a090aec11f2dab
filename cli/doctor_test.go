package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestDoctor: the report exits 0 when clean and 1 when anything is found,
// for cron and CI; --json prints the report; bad flags are usage errors.
func TestDoctor(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	report := func(r result) mayfly.DoctorReport {
		t.Helper()
		var rep mayfly.DoctorReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("doctor --json: not a report: %v\n%s", err, r.stdout)
		}
		return rep
	}

	if r := run(env, "doctor"); r.code != 0 || strings.TrimSpace(r.stdout) != "no findings" || r.stderr != "" {
		t.Errorf("clean: exit %d, stdout %q, stderr %q; want 0 and \"no findings\"", r.code, r.stdout, r.stderr)
	}
	r := run(env, "doctor", "--json", "--max-secret-age", "30d", "--idle-days", "7")
	if rep := report(r); r.code != 0 || rep.Total != 0 || rep.Findings == nil || rep.MaxSecretAge != "720h0m0s" || rep.IdleDays != 7 {
		t.Errorf("clean --json: exit %d, report %+v; want 0, no findings, and the options given", r.code, rep)
	}

	for _, args := range [][]string{
		{"principal", "create", "alice", "--kind", "human"},
		{"client", "create", "tool", "--owner", "alice"},
		{"client", "create", "other", "--owner", "alice"},
		{"principal", "suspend", "alice"},
	} {
		if r := run(env, args...); r.code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	r = run(env, "doctor")
	if r.code != 1 || strings.TrimSpace(r.stderr) != "mayfly: 2 findings" {
		t.Errorf("findings: exit %d, stderr %q; want 1 and \"mayfly: 2 findings\"", r.code, r.stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "KIND") ||
		!strings.HasPrefix(lines[1], "owner-not-active  client ") || !strings.Contains(lines[1], " (mfc_") || !strings.Contains(lines[2], "alice is suspended") {
		t.Errorf("table:\n%s\nwant a header and two owner-not-active lines naming the clients", r.stdout)
	}
	r = run(env, "doctor", "--json")
	if rep := report(r); r.code != 1 || rep.Total != 2 || len(rep.Findings) != 2 || rep.Findings[0].Kind != mayfly.FindingOwnerNotActive {
		t.Errorf("--json: exit %d, report %+v; want 1 and two owner-not-active findings", r.code, rep)
	}

	if r := run(env, "principal", "reactivate", "alice"); r.code != 0 {
		t.Fatalf("reactivate: exit %d: %s", r.code, r.stderr)
	}
	if r := run(env, "doctor"); r.code != 0 {
		t.Errorf("after reactivating: exit %d, stdout %q, stderr %q; want 0", r.code, r.stdout, r.stderr)
	}

	for _, args := range [][]string{
		{"doctor", "--max-secret-age", "ninety"},
		{"doctor", "--max-secret-age", "0d"},
		{"doctor", "--idle-days", "x"},
		{"doctor", "--idle-days", "-3"},
		{"doctor", "extra"},
	} {
		if r := run(env, args...); r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want a one-line usage error, exit 2", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
