package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Audit runs the suite of mayfly.AuditStore: entries, tree nodes and
// checkpoints of the audit log.
func Audit(t *testing.T, open func(t *testing.T) AuditStore) {
	t.Helper()
	run(t, open, []test[AuditStore]{
		{"AppendAndRead", testAuditAppend},
		{"Gap", testAuditGap},
		{"Head", testAuditHead},
		{"Checkpoints", testAuditCheckpoints},
	})
}

// appendAudit appends in a transaction of its own, which takes the append
// lock first, as the audit log does.
func appendAudit(t *testing.T, s AuditStore, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error {
	return commit(t, s, func(tx mayfly.Tx) error {
		if _, err := s.AuditHead(tx); err != nil {
			return err
		}
		return s.AppendAudit(tx, recs, nodes)
	})
}

// inSavepoint runs fn under a savepoint of tx, rolled back to and released
// after it, and returns fn's error: the transaction goes on whatever fn
// did.
func inSavepoint(tx mayfly.Tx, fn func() error) error {
	b := tx.Backend()
	if err := b.Savepoint(); err != nil {
		return fmt.Errorf("Savepoint: %w", err)
	}
	ferr := fn()
	if err := b.RollbackToSavepoint(); err != nil {
		return fmt.Errorf("RollbackToSavepoint: %w", err)
	}
	if err := b.ReleaseSavepoint(); err != nil {
		return fmt.Errorf("ReleaseSavepoint: %w", err)
	}
	return ferr
}

// auditRecords makes n consecutive records starting at from, their times a
// second apart.
func auditRecords(from uint64, n int) []mayfly.AuditRecord {
	var out []mayfly.AuditRecord
	for i := range n {
		idx := from + uint64(i)
		e := mayfly.AuditEntry{V: 1, Index: idx, Time: t0.Add(time.Duration(idx) * time.Second), Action: []mayfly.Action{"a.one", "a.two"}[idx%2],
			Principal: fmt.Sprintf("p%d", idx%3), Client: fmt.Sprintf("c%d", idx%4), KID: fmt.Sprintf("k%d", idx%5)}
		out = append(out, mayfly.AuditRecord{Index: idx, Body: fmt.Appendf(nil, `{"index":%d}`, idx), LeafHash: []byte{byte(idx), 1}, Entry: e})
	}
	return out
}

func testAuditAppend(t *testing.T, s AuditStore) {
	ctx := t.Context()
	if n, err := s.AuditSize(ctx); err != nil || n != 0 {
		t.Fatalf("AuditSize of an empty store: %d, %v", n, err)
	}
	recs := auditRecords(0, 10)
	nodes := []mayfly.AuditNode{{Level: 1, Index: 0, Hash: []byte("n10")}, {Level: 2, Index: 1, Hash: []byte("n21")}, {Level: 0, Index: 3, Hash: recs[3].LeafHash}}
	must(t, "AppendAudit", appendAudit(t, s, recs[:6], nodes))
	must(t, "AppendAudit", appendAudit(t, s, recs[6:], nil))
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

func testAuditGap(t *testing.T, s AuditStore) {
	ctx := t.Context()
	must(t, "AppendAudit", appendAudit(t, s, auditRecords(0, 3), nil))
	if err := appendAudit(t, s, auditRecords(4, 1), nil); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("append leaving a gap: got %v, want ErrConflict", err)
	}
	if err := appendAudit(t, s, auditRecords(2, 1), nil); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("append over an entry: got %v, want ErrConflict", err)
	}
	if n, _ := s.AuditSize(ctx); n != 3 {
		t.Errorf("after refused appends: size %d, want 3", n)
	}
}

func testAuditCheckpoints(t *testing.T, s AuditStore) {
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

// testAuditHead: AuditHead returns the log's size, and appends in its
// transaction continue from it; what a rollback, whole or to a savepoint,
// undoes is not counted.
func testAuditHead(t *testing.T, s AuditStore) {
	ctx := t.Context()
	head := func(what string, want uint64) {
		t.Helper()
		must(t, what, commit(t, s, func(tx mayfly.Tx) error {
			n, err := s.AuditHead(tx)
			if err == nil && n != want {
				t.Errorf("%s: AuditHead = %d, want %d", what, n, want)
			}
			return err
		}))
	}
	head("AuditHead of an empty log", 0)
	must(t, "appends in one transaction", commit(t, s, func(tx mayfly.Tx) error {
		if n, err := s.AuditHead(tx); err != nil || n != 0 {
			return fmt.Errorf("AuditHead: %d, %v; want 0", n, err)
		}
		if err := s.AppendAudit(tx, auditRecords(0, 3), nil); err != nil {
			return err
		}
		if err := s.AppendAudit(tx, auditRecords(3, 2), nil); err != nil {
			return fmt.Errorf("second AppendAudit in the transaction: %w", err)
		}
		for _, from := range []uint64{6, 4} {
			err := inSavepoint(tx, func() error { return s.AppendAudit(tx, auditRecords(from, 1), nil) })
			wantErr(t, fmt.Sprintf("AppendAudit at %d after 5 entries in the transaction", from), err, mayfly.ErrConflict)
		}
		return s.AppendAudit(tx, auditRecords(5, 1), nil)
	}))
	if n, err := s.AuditSize(ctx); err != nil || n != 6 {
		t.Fatalf("AuditSize: %d, %v; want 6", n, err)
	}
	head("AuditHead after 6 entries", 6)

	rolledBack := errors.New("rolled back")
	err := commit(t, s, func(tx mayfly.Tx) error {
		_, err := s.AuditHead(tx)
		return errors.Join(err, s.AppendAudit(tx, auditRecords(6, 2), nil), rolledBack)
	})
	if !errors.Is(err, rolledBack) {
		t.Fatalf("appends rolled back: %v", err)
	}
	head("AuditHead after appends rolled back", 6)

	must(t, "appends rolled back to a savepoint", commit(t, s, func(tx mayfly.Tx) error {
		if _, err := s.AuditHead(tx); err != nil {
			return err
		}
		if err := inSavepoint(tx, func() error { return s.AppendAudit(tx, auditRecords(6, 2), nil) }); err != nil {
			return err
		}
		err := inSavepoint(tx, func() error { return s.AppendAudit(tx, auditRecords(8, 1), nil) })
		wantErr(t, "AppendAudit after the entries a savepoint undid", err, mayfly.ErrConflict)
		return s.AppendAudit(tx, auditRecords(6, 1), nil)
	}))
	got, err := s.AuditEntries(ctx, mayfly.AuditFilter{})
	must(t, "AuditEntries", err)
	if len(got) != 7 || got[6].Index != 6 || !bytes.Equal(got[6].Body, auditRecords(6, 1)[0].Body) {
		t.Errorf("AuditEntries after the savepoint: %d entries; want 7, the last at index 6", len(got))
	}
}
