package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// BundleFormat names the bundle layout.
const BundleFormat = "mayfly-audit-bundle/v1"

// Bundle is a self-contained extract of the log: entries, a signed
// checkpoint, and each entry's inclusion proof against it. A third party
// verifies it offline with nothing but the log's public key.
type Bundle struct {
	Format     string        `json:"format"`
	Origin     string        `json:"origin"`
	Checkpoint string        `json:"checkpoint"` // C2SP signed note
	Entries    []BundleEntry `json:"entries"`
}

// BundleEntry is one entry with its RFC 6962 inclusion proof. The leaf is
// the hash of the entry's canonical JSON, which is what encoding/json makes
// of mayfly.AuditEntry.
type BundleEntry struct {
	Entry mayfly.AuditEntry `json:"entry"`
	Proof [][]byte          `json:"inclusion_proof"` // base64 hashes, leaf to root
}

// Export bundles the entries made in [from, to) with a fresh checkpoint.
func (l *Log) Export(ctx context.Context, from, to time.Time) (*Bundle, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Format: BundleFormat, Origin: l.cfg.Origin, Entries: []BundleEntry{}}
	if cp == nil {
		return nil, mayfly.Errorf(mayfly.NotFound, "the audit log is empty")
	}
	b.Checkpoint = cp.Note
	recs, err := l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{Since: from, Until: to, To: cp.Size})
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		p, err := l.Inclusion(ctx, r.Index, cp.Size)
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, BundleEntry{Entry: r.Entry, Proof: p})
	}
	return b, nil
}

// BundleReport is what VerifyBundle established.
type BundleReport struct {
	Origin  string `json:"origin"`
	Size    uint64 `json:"checkpoint_size"`
	Entries int    `json:"entries_verified"`
}

// VerifyBundle checks a bundle offline against the log's public key
// (signed-note verifier key): the checkpoint's signature, then each entry's
// inclusion in the tree the checkpoint commits to.
func VerifyBundle(raw []byte, vkey string) (*BundleReport, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("log key: %v", err)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("bundle: %v", err)
	}
	if b.Format != BundleFormat {
		return nil, fmt.Errorf("bundle format %q, want %q", b.Format, BundleFormat)
	}
	size, root, err := openCheckpoint(b.Checkpoint, note.VerifierList(v), b.Origin)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %v", err)
	}
	for i, be := range b.Entries {
		body, err := json.Marshal(be.Entry)
		if err != nil {
			return nil, err
		}
		if err := proof.VerifyInclusion(hasher, be.Entry.Index, size, hasher.HashLeaf(body), be.Proof, root); err != nil {
			return nil, fmt.Errorf("entry %d (index %d): not in the checkpointed log: %v", i, be.Entry.Index, err)
		}
	}
	return &BundleReport{Origin: b.Origin, Size: size, Entries: len(b.Entries)}, nil
}
