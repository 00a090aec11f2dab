package bundle_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
	"golang.org/x/mod/sumdb/note"
)

// FuzzVerifyBundle: a bundle is untrusted input. Whatever arrives, Verify
// never panics, and it accepts nothing but a bundle whose every entry the
// log key's checkpoint commits to.
func FuzzVerifyBundle(f *testing.F) {
	l := newTestLog(f, 5)
	b := l.export(f)
	good := mustJSON(f, b)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"mayfly-audit-bundle/v1","origin":"x","checkpoint":"","entries":[]}`))
	f.Add([]byte(`not json`))
	valid := map[string]bool{}
	for _, be := range b.Entries {
		valid[string(mustJSON(f, be.Entry))] = true
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := bundle.Verify(raw, l.vkey)
		if err != nil {
			return
		}
		var got bundle.Bundle
		if json.Unmarshal(raw, &got) != nil {
			t.Fatalf("accepted a bundle that does not decode")
		}
		for _, be := range got.Entries {
			if !valid[string(mustJSON(t, be.Entry))] {
				t.Fatalf("accepted an entry the log never held: %+v", be.Entry)
			}
		}
		_ = rep
	})
}

// FuzzVerifyScopeReport: a scope report is untrusted input. Whatever
// arrives, VerifyScopeReport never panics, and it accepts only the one
// report the log key signed, in whatever JSON layout.
func FuzzVerifyScopeReport(f *testing.F) {
	l := newTestLog(f, 1)
	rep := mayfly.ScopeReport{Format: bundle.ScopeReportFormat, Origin: origin, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "adm_1",
		Scope: mayfly.Scope{Namespaces: []mayfly.ScopeNamespace{{Namespace: "customer", Records: 3, Digest: "00"}}, Tokens: 1}}
	sum, err := bundle.ScopeReportDigest(&rep)
	if err != nil {
		f.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: bundle.ScopeReportText(origin, 7, sum)}, l.signer)
	if err != nil {
		f.Fatal(err)
	}
	good := mustJSON(f, mayfly.SignedScopeReport{Report: rep, AuditIndex: 7, Signature: string(signed)})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"report":{"format":"mayfly-scope-report/v1"},"audit_index":7,"signature":""}`))
	f.Add(bytes.Replace(good, []byte(`"records":3`), []byte(`"records":2`), 1))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := bundle.VerifyScopeReport(raw, l.vkey)
		if err != nil {
			return
		}
		gs, err := bundle.ScopeReportDigest(&got.Report)
		if err != nil || gs != sum || got.AuditIndex != 7 {
			t.Fatalf("accepted a report the log key never signed: %+v", got)
		}
	})
}
