package scope_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/scope"
	"golang.org/x/mod/sumdb/note"
)

// TestReport: a report is signed by the log's key and recorded by an
// audit entry of its digest; offline verification accepts it as made,
// and refuses it once anything in it is edited, under another key, or
// pointing at another entry.
func TestReport(t *testing.T) {
	w := newWorld(t, 5, 3, 300)
	log := apptest.AuditLog(t, w.st, apptest.NewClock(w.now))
	s := scope.New(scope.Config{Store: w.st, Evidence: log, Clock: apptest.NewClock(w.now)})
	rep, err := s.Report(t.Context(), mayfly.ScopeQuery{KIDs: []string{"kid-a1"}, AfterOffboarding: []string{"dev"}, IDs: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range rep.Report.Scope.Namespaces {
		if ns.Bitmap != nil {
			t.Errorf("a report holds the IDs of %s; the digest stands for them", ns.Namespace)
		}
	}
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	vkey := log.VerifierKey()
	got, err := bundle.VerifyScopeReport(raw, vkey)
	if err != nil {
		t.Fatalf("the report as made: %v", err)
	}
	if got.AuditIndex != rep.AuditIndex || len(got.Report.Scope.Namespaces) == 0 {
		t.Errorf("verified %+v, want the report made", got)
	}
	recs, err := w.st.AuditEntries(t.Context(), mayfly.AuditFilter{Action: mayfly.ActionScopeReported})
	if err != nil || len(recs) != 1 || recs[0].Index != rep.AuditIndex {
		t.Fatalf("audit entries of scope reports: %v %v, want one at %d", recs, err, rep.AuditIndex)
	}
	sum, _ := bundle.ScopeReportDigest(&rep.Report)
	if recs[0].Entry.Details["report_sha256"] != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("the audit entry records digest %s, want the report's", recs[0].Entry.Details["report_sha256"])
	}

	_, otherKey, _ := note.GenerateKey(rand.Reader, "mayfly.test/audit")
	edits := map[string]func(r *mayfly.SignedScopeReport){
		"a count":       func(r *mayfly.SignedScopeReport) { r.Report.Scope.Namespaces[0].Records-- },
		"a digest":      func(r *mayfly.SignedScopeReport) { r.Report.Scope.Namespaces[0].Digest = strings.Repeat("0", 64) },
		"the query":     func(r *mayfly.SignedScopeReport) { r.Report.Scope.Query.KIDs = []string{"kid-b1"} },
		"the window":    func(r *mayfly.SignedScopeReport) { r.Report.Scope.From = r.Report.Scope.From.Add(time.Hour) },
		"a gap removed": func(r *mayfly.SignedScopeReport) { r.Report.Scope.Completeness.Gaps = nil },
		"the entry":     func(r *mayfly.SignedScopeReport) { r.AuditIndex++ },
		"the origin":    func(r *mayfly.SignedScopeReport) { r.Report.Origin = "evil.example/audit" },
	}
	for name, edit := range edits {
		var r mayfly.SignedScopeReport
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		edit(&r)
		b, _ := json.Marshal(&r)
		if _, err := bundle.VerifyScopeReport(b, vkey); err == nil {
			t.Errorf("edited %s: verifies, want refused", name)
		}
	}
	if _, err := bundle.VerifyScopeReport(raw, otherKey); err == nil {
		t.Errorf("under another key: verifies, want refused")
	}
	extra := bytes.Replace(raw, []byte(`"audit_index"`), []byte(`"note":"x","audit_index"`), 1)
	if _, err := bundle.VerifyScopeReport(extra, vkey); err == nil {
		t.Errorf("with a member added: verifies, want refused")
	}
	// A checkpoint of the same log is no report, nor the other way round.
	cp, err := log.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var r mayfly.SignedScopeReport
	json.Unmarshal(raw, &r)
	r.Signature = cp.Note
	b, _ := json.Marshal(&r)
	if _, err := bundle.VerifyScopeReport(b, vkey); err == nil {
		t.Errorf("a checkpoint as the signature: verifies, want refused")
	}
	if _, _, err := bundle.OpenCheckpoint(rep.Signature, note.VerifierList(mustVerifier(t, vkey)), "mayfly.test/audit"); err == nil {
		t.Errorf("the report's signature opens as a checkpoint")
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
