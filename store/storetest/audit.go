package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// auditRecords makes n consecutive records starting at from, their times a
// second apart.
func auditRecords(from uint64, n int) []mayfly.AuditRecord {
	var out []mayfly.AuditRecord
	for i := range n {
		idx := from + uint64(i)
		e := mayfly.AuditEntry{V: 1, Index: idx, Time: t0.Add(time.Duration(idx) * time.Second), Action: []string{"a.one", "a.two"}[idx%2],
			Principal: fmt.Sprintf("p%d", idx%3), Client: fmt.Sprintf("c%d", idx%4), KID: fmt.Sprintf("k%d", idx%5)}
		out = append(out, mayfly.AuditRecord{Index: idx, Body: fmt.Appendf(nil, `{"index":%d}`, idx), LeafHash: []byte{byte(idx), 1}, Entry: e})
	}
	return out
}

func testAuditAppend(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	if n, err := s.AuditSize(ctx); err != nil || n != 0 {
		t.Fatalf("AuditSize of an empty store: %d, %v", n, err)
	}
	recs := auditRecords(0, 10)
	nodes := []mayfly.AuditNode{{Level: 1, Index: 0, Hash: []byte("n10")}, {Level: 2, Index: 1, Hash: []byte("n21")}, {Level: 0, Index: 3, Hash: recs[3].LeafHash}}
	must(t, "AppendAudit", s.AppendAudit(ctx, recs[:6], nodes))
	must(t, "AppendAudit", s.AppendAudit(ctx, recs[6:], nil))
	if n, err := s.AuditSize(ctx); err != nil || n != 10 {
		t.Fatalf("AuditSize: %d, %v; want 10", n, err)
	}
	got, err := s.AuditEntries(ctx, mayfly.AuditFilter{})
	if err != nil || len(got) != 10 {
		t.Fatalf("AuditEntries: %d, %v", len(got), err)
	}
	for i, r := range got {
		if r.Index != uint64(i) || !bytes.Equal(r.Body, recs[i].Body) || !bytes.Equal(r.LeafHash, recs[i].LeafHash) {
			t.Errorf("record %d: got %+v", i, r)
		}
	}
	hashes, err := s.AuditNodes(ctx, []mayfly.AuditNode{{Level: 2, Index: 1}, {Level: 1, Index: 0}, {Level: 0, Index: 3}})
	if err != nil || string(hashes[0]) != "n21" || string(hashes[1]) != "n10" || !bytes.Equal(hashes[2], recs[3].LeafHash) {
		t.Errorf("AuditNodes: %q, %v", hashes, err)
	}
	if _, err := s.AuditNodes(ctx, []mayfly.AuditNode{{Level: 5, Index: 0}}); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("missing node: got %v, want ErrNotFound", err)
	}
	tests := []struct {
		name string
		f    mayfly.AuditFilter
		want []uint64
	}{
		{"range", mayfly.AuditFilter{From: 3, To: 6}, []uint64{3, 4, 5}},
		{"action", mayfly.AuditFilter{Action: "a.two"}, []uint64{1, 3, 5, 7, 9}},
		{"principal", mayfly.AuditFilter{Principal: "p0"}, []uint64{0, 3, 6, 9}},
		{"client", mayfly.AuditFilter{Client: "c1"}, []uint64{1, 5, 9}},
		{"kid", mayfly.AuditFilter{KID: "k2"}, []uint64{2, 7}},
		{"since", mayfly.AuditFilter{Since: t0.Add(7 * time.Second)}, []uint64{7, 8, 9}},
		{"until", mayfly.AuditFilter{Until: t0.Add(2*time.Second + time.Millisecond)}, []uint64{0, 1, 2}},
		{"newest with limit", mayfly.AuditFilter{Newest: true, Limit: 2}, []uint64{9, 8}},
		{"combined", mayfly.AuditFilter{Action: "a.one", From: 2, Limit: 2}, []uint64{2, 4}},
	}
	for _, tt := range tests {
		got, err := s.AuditEntries(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var idx []uint64
		for _, r := range got {
			idx = append(idx, r.Index)
		}
		if fmt.Sprint(idx) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, idx, tt.want)
		}
	}
}

func testAuditGap(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	must(t, "AppendAudit", s.AppendAudit(ctx, auditRecords(0, 3), nil))
	if err := s.AppendAudit(ctx, auditRecords(4, 1), nil); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("append leaving a gap: got %v, want ErrConflict", err)
	}
	if err := s.AppendAudit(ctx, auditRecords(2, 1), nil); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("append over an entry: got %v, want ErrConflict", err)
	}
	if n, _ := s.AuditSize(ctx); n != 3 {
		t.Errorf("after refused appends: size %d, want 3", n)
	}
}

func testAuditCheckpoints(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	for _, size := range []uint64{5, 2, 9} {
		must(t, "SaveCheckpoint", s.SaveCheckpoint(ctx, &mayfly.Checkpoint{Size: size, Note: fmt.Sprintf("note %d", size), Time: t0}))
	}
	must(t, "SaveCheckpoint again", s.SaveCheckpoint(ctx, &mayfly.Checkpoint{Size: 5, Note: "replacement", Time: t0}))
	cps, err := s.Checkpoints(ctx)
	if err != nil || len(cps) != 3 {
		t.Fatalf("Checkpoints: %d, %v", len(cps), err)
	}
	for i, want := range []uint64{2, 5, 9} {
		if cps[i].Size != want || cps[i].Note != fmt.Sprintf("note %d", want) || !cps[i].Time.Equal(t0) {
			t.Errorf("checkpoint %d: %+v; want size %d, its first note", i, cps[i], want)
		}
	}
}

func testSettings(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	if _, err := s.Setting(ctx, "x"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("missing setting: got %v, want ErrNotFound", err)
	}
	must(t, "PutSetting", s.PutSetting(ctx, "x", []byte("one")))
	if err := s.PutSetting(ctx, "x", []byte("two")); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("PutSetting twice: got %v, want ErrConflict", err)
	}
	if v, err := s.Setting(ctx, "x"); err != nil || string(v) != "one" {
		t.Errorf("Setting: %q, %v; want the first value", v, err)
	}
	must(t, "DeleteSetting", s.DeleteSetting(ctx, "x"))
	if _, err := s.Setting(ctx, "x"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("deleted setting: got %v, want ErrNotFound", err)
	}
}
