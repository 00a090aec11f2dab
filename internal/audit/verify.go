package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// fail records the first problem found in rep and returns it.
func fail(rep *mayfly.AuditReport, idx int64, format string, args ...any) *mayfly.AuditReport {
	rep.OK, rep.FirstBad, rep.Problem = false, idx, fmt.Sprintf(format, args...)
	return rep
}

// Verify recomputes the tree from the stored entries and checks every
// entry's position and hash and every stored checkpoint's signature and
// root. It stops at the first failure and names it.
func (l *Log) Verify(ctx context.Context) (*mayfly.AuditReport, error) {
	if err := l.CatchUp(ctx); err != nil {
		return nil, err
	}
	size := l.Size()
	cps, err := l.cfg.Store.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	rep := &mayfly.AuditReport{OK: true, FirstBad: -1, Checkpoints: len(cps)}
	known := l.known()
	tree := factory.NewEmptyRange(0)
	var pos uint64
	const chunk = 10000
	for {
		recs, err := l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{From: pos, Limit: chunk})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Index != pos {
				return fail(rep, int64(pos), "entry %d is missing: the next stored entry is %d", pos, r.Index), nil
			}
			var e mayfly.AuditEntry
			dec := json.NewDecoder(bytes.NewReader(r.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				return fail(rep, int64(pos), "entry %d does not decode: %v", pos, err), nil
			}
			if e.Index != pos {
				return fail(rep, int64(pos), "entry %d claims index %d: entries were reordered or moved", pos, e.Index), nil
			}
			leaf := hasher.HashLeaf(r.Body)
			if !bytes.Equal(leaf, r.LeafHash) {
				return fail(rep, int64(pos), "entry %d was altered: its body does not hash to its recorded leaf", pos), nil
			}
			if err := tree.Append(leaf, nil); err != nil {
				return nil, err
			}
			pos++
			for len(cps) > 0 && cps[0].Size == pos {
				if msg := l.checkCheckpoint(cps[0], tree, known); msg != "" {
					return fail(rep, int64(pos-1), "checkpoint of size %d: %s", cps[0].Size, msg), nil
				}
				cps = cps[1:]
			}
		}
		if len(recs) < chunk {
			break
		}
	}
	rep.Entries = pos
	if len(cps) > 0 {
		return fail(rep, int64(pos), "checkpoint of size %d covers entries that are not stored (the log holds %d)", cps[0].Size, pos), nil
	}
	// Replicas may append while this runs; none may remove.
	if !l.cfg.Replicated {
		size = l.Size()
	}
	if pos < size || (pos > size && !l.cfg.Replicated) {
		return fail(rep, int64(min(pos, size)), "the store holds %d entries but %d were appended: entries were inserted or removed behind the log", pos, size), nil
	}
	return rep, nil
}

// checkCheckpoint checks a stored checkpoint's signature, origin and root
// against the tree recomputed from the entries.
func (l *Log) checkCheckpoint(cp *mayfly.Checkpoint, tree *compact.Range, known note.Verifiers) string {
	size, root, err := bundle.OpenCheckpoint(cp.Note, known, l.cfg.Origin)
	if err != nil {
		return err.Error()
	}
	if size != cp.Size {
		return fmt.Sprintf("its note says size %d", size)
	}
	want, err := tree.GetRootHash(nil)
	if err != nil {
		return err.Error()
	}
	if !bytes.Equal(root, want) {
		return "its signed root does not match the entries: an entry before it was altered, removed or inserted"
	}
	return ""
}
