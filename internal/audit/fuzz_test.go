package audit_test

import (
	"context"
	"testing"

	"github.com/mayflyhq/mayfly/internal/audit"
)

// FuzzVerifyBundle: a bundle is untrusted input. Whatever arrives, VerifyBundle
// never panics, and it accepts nothing but a bundle whose every entry the
// log key's checkpoint commits to.
func FuzzVerifyBundle(f *testing.F) {
	fx := newFixtureF(f)
	b, err := fx.log.Export(context.Background(), zeroTime, zeroTime)
	if err != nil {
		f.Fatal(err)
	}
	good := mustJSON(f, b)
	vkey := fx.log.VerifierKey()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"mayfly-audit-bundle/v1","origin":"x","checkpoint":"","entries":[]}`))
	f.Add([]byte(`not json`))
	valid := map[string]bool{}
	for _, be := range b.Entries {
		valid[string(mustJSON(f, be.Entry))] = true
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := audit.VerifyBundle(raw, vkey)
		if err != nil {
			return
		}
		var got audit.Bundle
		if jsonUnmarshal(raw, &got) != nil {
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
