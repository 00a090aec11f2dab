// Package bundle is the format of exported audit bundles and their offline
// verification, which investigators run with nothing but the log's public
// key. A bundle is a self-contained extract of Mayfly's audit log: entries,
// a signed checkpoint (a C2SP tlog-checkpoint in a golang.org/x/mod/sumdb/note
// signed note), and each entry's RFC 6962 inclusion proof against it
// (transparency-dev/merkle).
//
// # Invariants
//
//   - Verify accepts a bundle only if its checkpoint is signed under the key
//     given and every entry is included in the tree the checkpoint commits
//     to; whatever else arrives, it returns an error and never panics.
//   - A bundle's leaf is the RFC 6962 leaf hash of the entry's canonical JSON,
//     which is what encoding/json makes of mayfly.AuditEntry.
//   - This package imports the standard library, the domain package,
//     transparency-dev/merkle and sumdb/note only: verifying needs no store,
//     no network and nothing of the server.
package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var hasher = rfc6962.DefaultHasher

// Format names the bundle layout.
const Format = "mayfly-audit-bundle/v1"

// Bundle is a self-contained extract of the log: entries, a signed
// checkpoint, and each entry's inclusion proof against it. A third party
// verifies it offline with nothing but the log's public key.
type Bundle struct {
	Format     string  `json:"format"`
	Origin     string  `json:"origin"`
	Checkpoint string  `json:"checkpoint"` // C2SP signed note
	Entries    []Entry `json:"entries"`
}

// Entry is one entry with its RFC 6962 inclusion proof. The leaf is the
// hash of the entry's canonical JSON, which is what encoding/json makes of
// mayfly.AuditEntry.
type Entry struct {
	Entry mayfly.AuditEntry `json:"entry"`
	Proof [][]byte          `json:"inclusion_proof"` // base64 hashes, leaf to root
}

// Report is what Verify established.
type Report struct {
	Origin  string `json:"origin"`
	Size    uint64 `json:"checkpoint_size"`
	Entries int    `json:"entries_verified"`
	// Root is the root hash the checkpoint commits to, which every
	// entry's proof led to; base64 in JSON, as in the checkpoint's note.
	Root []byte `json:"root_hash"`
}

// Verify checks a bundle offline against the log's public key (signed-note
// verifier key): the checkpoint's signature, then each entry's inclusion in
// the tree the checkpoint commits to.
func Verify(raw []byte, vkey string) (*Report, error) {
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
	if b.Format != Format {
		return nil, fmt.Errorf("bundle format %q, want %q", b.Format, Format)
	}
	size, root, err := OpenCheckpoint(b.Checkpoint, note.VerifierList(v), b.Origin)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %v", err)
	}
	for i, be := range b.Entries {
		body, err := json.Marshal(be.Entry)
		if err != nil {
			return nil, err
		}
		if err := proof.VerifyInclusion(hasher, be.Entry.Index, size, hasher.HashLeaf(body), be.Proof, root); err != nil {
			return nil, fmt.Errorf("entry %d (index %d): not in the checkpointed log: %s", i, be.Entry.Index, proofError(err))
		}
	}
	return &Report{Origin: b.Origin, Size: size, Entries: len(b.Entries), Root: root}, nil
}

// proofError says why a proof failed. The merkle package prints the roots
// of a mismatch as Go byte slices, on lines of their own; they are shown
// here in base64, as the checkpoint writes its root.
func proofError(err error) string {
	var m proof.RootMismatchError
	if errors.As(err, &m) {
		return fmt.Sprintf("its proof leads to root %s, but the checkpoint's root is %s",
			base64.StdEncoding.EncodeToString(m.CalculatedRoot), base64.StdEncoding.EncodeToString(m.ExpectedRoot))
	}
	return err.Error()
}

// OpenCheckpoint verifies a C2SP signed-note checkpoint of the log named
// origin under the known keys, and returns the size of the tree it commits
// to and the tree's root hash.
func OpenCheckpoint(signed string, known note.Verifiers, origin string) (size uint64, root []byte, err error) {
	n, err := note.Open([]byte(signed), known)
	if err != nil {
		return 0, nil, fmt.Errorf("signature does not verify under the log key: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != origin {
		return 0, nil, fmt.Errorf("not a checkpoint of log %q", origin)
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("malformed size %q", lines[1])
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != hasher.Size() {
		return 0, nil, fmt.Errorf("malformed root hash")
	}
	return size, root, nil
}
