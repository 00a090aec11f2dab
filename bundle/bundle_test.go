package bundle_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

const origin = "mayfly.test/audit"

// testLog is an audit log built with transparency-dev/merkle and sumdb/note
// alone, as an investigator's own tooling could build one: bundles need
// nothing of Mayfly's server to make or to verify.
type testLog struct {
	signer  note.Signer
	vkey    string
	tree    *testonly.Tree
	entries []mayfly.AuditEntry
}

func newTestLog(t testing.TB, n int) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		e := mayfly.AuditEntry{V: 1, Index: uint64(i), Time: at.Add(time.Duration(i) * time.Second), Action: "fuzz.seed", Actor: "mayfly", Principal: fmt.Sprintf("p%d", i)}
		l.entries = append(l.entries, e)
		l.tree.AppendData(mustJSON(t, e))
	}
	return l
}

// export bundles every entry with a signed checkpoint of the whole tree,
// as the audit log's Export does.
func (l *testLog) export(t testing.TB) *bundle.Bundle {
	t.Helper()
	size := l.tree.Size()
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(l.tree.Hash()))
	signed, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{Format: bundle.Format, Origin: origin, Checkpoint: string(signed), Entries: []bundle.Entry{}}
	for _, e := range l.entries {
		p, err := l.tree.InclusionProof(e.Index, size)
		if err != nil {
			t.Fatal(err)
		}
		b.Entries = append(b.Entries, bundle.Entry{Entry: e, Proof: p})
	}
	return b
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerify: a bundle verifies whole or in part under its log's key, and
// any change to an entry, the checkpoint or the key is refused.
func TestVerify(t *testing.T) {
	l := newTestLog(t, 7)
	_, otherKey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(b *bundle.Bundle)
		key     string
		entries int    // verified, if it verifies
		want    string // in the error, if it does not
	}{
		{name: "whole", entries: 7},
		{name: "some entries", edit: func(b *bundle.Bundle) { b.Entries = b.Entries[2:5] }, entries: 3},
		{name: "no entries", edit: func(b *bundle.Bundle) { b.Entries = nil }, entries: 0},
		{name: "entry altered", edit: func(b *bundle.Bundle) { b.Entries[3].Entry.Principal = "mallory" }, want: "entry 3 (index 3): not in the checkpointed log"},
		{name: "entry moved", edit: func(b *bundle.Bundle) { b.Entries[3].Entry.Index = 4 }, want: "entry 3 (index 4)"},
		{name: "proof of another entry", edit: func(b *bundle.Bundle) { b.Entries[3].Proof = b.Entries[4].Proof }, want: "entry 3"},
		{name: "another log's key", key: otherKey, want: "checkpoint: signature does not verify"},
		{name: "another origin", edit: func(b *bundle.Bundle) { b.Origin = "elsewhere.test/audit" }, want: "not a checkpoint of log"},
		{name: "checkpoint altered", edit: func(b *bundle.Bundle) { b.Checkpoint = strings.Replace(b.Checkpoint, "\n7\n", "\n8\n", 1) }, want: "checkpoint: signature does not verify"},
		{name: "unknown format", edit: func(b *bundle.Bundle) { b.Format = "mayfly-audit-bundle/v0" }, want: "bundle format"},
		{name: "malformed key", key: "not a key", want: "log key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := l.export(t)
			if tt.edit != nil {
				tt.edit(b)
			}
			key := l.vkey
			if tt.key != "" {
				key = tt.key
			}
			rep, err := bundle.Verify(mustJSON(t, b), key)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v; want it to verify", err)
			case tt.want == "" && (rep.Entries != tt.entries || rep.Size != 7 || rep.Origin != origin):
				t.Errorf("got %+v; want %d entries of a checkpoint of 7 by %s", rep, tt.entries, origin)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v; want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestVerifyRefusesUnknownFields: a bundle is read strictly, so that what an
// investigator is shown is all that was verified.
func TestVerifyRefusesUnknownFields(t *testing.T) {
	l := newTestLog(t, 2)
	raw := mustJSON(t, l.export(t))
	raw = append(raw[:len(raw)-1], []byte(`,"note":"trust me"}`)...)
	if rep, err := bundle.Verify(raw, l.vkey); err == nil {
		t.Errorf("got %+v; want an unknown field refused", rep)
	}
}
