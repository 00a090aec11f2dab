package bundle_test

import (
	"encoding/json"
	"testing"

	"github.com/mayflyhq/mayfly/bundle"
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
