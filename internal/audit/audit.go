// Package audit is Mayfly's tamper-evident audit log: every state change is
// appended as a canonical JSON entry to an RFC 6962 Merkle tree
// (transparency-dev/merkle), and signed checkpoints (C2SP tlog-checkpoint,
// as golang.org/x/mod/sumdb/note signed notes with an Ed25519 log key) commit
// to it, so that anyone with the log's public key can verify entries,
// proofs and exported bundles offline.
//
// # Invariants
//
//   - Append returns only once the entry is durable; concurrent appends
//     share one write (group commit).
//   - Entries are numbered densely from 0 in the order they became durable,
//     and each entry's body carries its own index.
//   - A new checkpoint is signed at most a second after new entries.
//   - The log key is separate from token signing keys, generated here,
//     stored sealed under the root key, and never leaves this package.
package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/batch"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var (
	hasher  = rfc6962.DefaultHasher
	factory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// CheckpointEvery is the longest a new entry waits for a checkpoint.
const CheckpointEvery = time.Second

const logKeySetting = "audit.log_key"

// Config configures a Log.
type Config struct {
	Store  mayfly.Store
	Sealer *seal.Sealer
	Clock  mayfly.Clock
	Rand   io.Reader
	Log    *slog.Logger
	// Origin names the log in its checkpoints, such as "mayfly.example.com/audit".
	Origin string
}

// Log is the audit log. It is safe for concurrent use.
type Log struct {
	cfg      Config
	signer   note.Signer
	verifier note.Verifier
	vkey     string

	mu   sync.Mutex // the tree
	tree *compact.Range

	committer *batch.Committer[*pending]
	stop      chan struct{}
	stopped   chan struct{}
	cpMu      sync.Mutex // one checkpoint at a time
}

type pending struct {
	e   mayfly.AuditEntry
	idx uint64
}

// Open loads the log, creating its key on first use, and starts signing
// checkpoints.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	l := &Log{cfg: cfg, stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := l.loadKey(ctx); err != nil {
		return nil, err
	}
	if err := l.loadTree(ctx); err != nil {
		return nil, err
	}
	l.committer = batch.New(l.flush)
	go l.checkpointLoop()
	return l, nil
}

// loadKey unseals the log's signing key, generating it on first start.
func (l *Log) loadKey(ctx context.Context) error {
	aad := []byte("mayfly audit log key")
	sealed, err := l.cfg.Store.Setting(ctx, logKeySetting)
	if errors.Is(err, mayfly.ErrNotFound) {
		skey, _, gerr := note.GenerateKey(l.cfg.Rand, l.cfg.Origin)
		if gerr != nil {
			return fmt.Errorf("audit: log key: %w", gerr)
		}
		if sealed, err = l.cfg.Sealer.Seal(l.cfg.Rand, []byte(skey), aad); err != nil {
			return err
		}
		if err = l.cfg.Store.PutSetting(ctx, logKeySetting, sealed); errors.Is(err, mayfly.ErrConflict) {
			return l.loadKey(ctx) // another replica made it first
		}
		l.cfg.Log.Info("audit log key created")
	}
	if err != nil {
		return err
	}
	skey, err := l.cfg.Sealer.Open(sealed, aad)
	if err != nil {
		return fmt.Errorf("audit: log key: %w", err)
	}
	defer clear(skey)
	if l.signer, err = note.NewSigner(string(skey)); err != nil {
		return fmt.Errorf("audit: log key: %w", err)
	}
	if l.vkey, err = verifierKey(string(skey), l.signer); err != nil {
		return err
	}
	l.verifier, err = note.NewVerifier(l.vkey)
	return err
}

// verifierKey derives the public verifier key from the signer key string
// ("PRIVATE+KEY+name+hash+base64(0x01||seed)"): the note package keeps the
// public half of a Signer to itself.
func verifierKey(skey string, s note.Signer) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return "", errors.New("audit: malformed log key")
	}
	seed, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(seed) != 33 || seed[0] != 1 {
		return "", errors.New("audit: malformed log key")
	}
	return note.NewEd25519VerifierKey(s.Name(), ed25519Public(seed[1:]))
}

// loadTree rebuilds the compact range of the stored tree from the nodes
// that cover [0, size).
func (l *Log) loadTree(ctx context.Context) error {
	size, err := l.cfg.Store.AuditSize(ctx)
	if err != nil {
		return err
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := l.cfg.Store.AuditNodes(ctx, nodeKeys(ids))
	if err != nil {
		return fmt.Errorf("audit: load tree: %w", err)
	}
	tree, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return fmt.Errorf("audit: load tree: %w", err)
	}
	l.mu.Lock()
	l.tree = tree
	l.mu.Unlock()
	return nil
}

func nodeKeys(ids []compact.NodeID) []mayfly.AuditNode {
	out := make([]mayfly.AuditNode, len(ids))
	for i, id := range ids {
		out[i] = mayfly.AuditNode{Level: id.Level, Index: id.Index}
	}
	return out
}

// Append makes e durable as the log's next entry and returns its index. The
// log sets V, Index and Time.
func (l *Log) Append(ctx context.Context, e mayfly.AuditEntry) (uint64, error) {
	if e.Actor == "" {
		e.Actor = Actor(ctx)
	}
	p := &pending{e: e}
	if err := l.committer.Add(ctx, p); err != nil {
		return 0, mayfly.E("audit.Append", err)
	}
	return p.idx, nil
}

// flush appends a batch: numbers the entries, hashes them into the tree,
// and stores entries and completed nodes in one write.
func (l *Log) flush(ctx context.Context, batch []*pending) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Clock.Now().UTC()
	start := l.tree.End()
	recs := make([]mayfly.AuditRecord, len(batch))
	var nodes []mayfly.AuditNode
	visit := func(id compact.NodeID, hash []byte) {
		nodes = append(nodes, mayfly.AuditNode{Level: id.Level, Index: id.Index, Hash: hash})
	}
	next := factory.NewEmptyRange(start)
	for i, p := range batch {
		p.e.V, p.e.Index, p.e.Time = 1, start+uint64(i), now
		body, err := json.Marshal(p.e)
		if err != nil {
			return err
		}
		leaf := hasher.HashLeaf(body)
		recs[i] = mayfly.AuditRecord{Index: p.e.Index, Body: body, LeafHash: leaf, Entry: p.e}
		visit(compact.NewNodeID(0, p.e.Index), leaf)
		if err := next.Append(leaf, visit); err != nil {
			return err
		}
	}
	// Merging into the whole tree completes the nodes above the batch.
	merged := factory.NewEmptyRange(0)
	if err := merged.AppendRange(l.tree, nil); err != nil {
		return err
	}
	if err := merged.AppendRange(next, visit); err != nil {
		return err
	}
	if err := l.cfg.Store.AppendAudit(ctx, recs, nodes); err != nil {
		return err
	}
	l.tree = merged
	for _, p := range batch {
		p.idx = p.e.Index
	}
	return nil
}

// Size is the number of durable entries.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.End()
}

func (l *Log) checkpointLoop() {
	defer close(l.stopped)
	t := time.NewTicker(CheckpointEvery / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if _, err := l.Checkpoint(context.Background()); err != nil {
			l.cfg.Log.Error("audit checkpoint failed", "err", err)
		}
	}
}

// Checkpoint signs and stores a checkpoint of the current tree if it has
// grown since the last one, and returns the latest checkpoint.
func (l *Log) Checkpoint(ctx context.Context) (*mayfly.Checkpoint, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	cps, err := l.cfg.Store.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	var last *mayfly.Checkpoint
	if len(cps) > 0 {
		last = cps[len(cps)-1]
	}
	l.mu.Lock()
	size := l.tree.End()
	root, err := l.tree.GetRootHash(nil)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if size == 0 || (last != nil && last.Size >= size) {
		return last, nil
	}
	if root == nil {
		root = hasher.EmptyRoot()
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", l.cfg.Origin, size, base64.StdEncoding.EncodeToString(root))
	signed, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		return nil, err
	}
	cp := &mayfly.Checkpoint{Size: size, Note: string(signed), Time: l.cfg.Clock.Now().UTC()}
	return cp, l.cfg.Store.SaveCheckpoint(ctx, cp)
}

// VerifierKey is the log's public key in signed-note verifier-key form.
func (l *Log) VerifierKey() string { return l.vkey }

// Close stops signing checkpoints and flushes queued appends.
func (l *Log) Close() {
	l.committer.Close()
	close(l.stop)
	<-l.stopped
}

// Inclusion returns the inclusion proof of entry index in the tree of size.
func (l *Log) Inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	if index >= size || size > l.Size() {
		return nil, mayfly.Errorf(mayfly.Invalid, "no entry %d in a tree of %d (the log has %d)", index, size, l.Size())
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, mayfly.Errorf(mayfly.Invalid, "inclusion proof: %v", err)
	}
	return l.rehash(ctx, n)
}

// Consistency returns the consistency proof between tree sizes.
func (l *Log) Consistency(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 || size2 > l.Size() {
		return nil, mayfly.Errorf(mayfly.Invalid, "no consistency proof from %d to %d (the log has %d)", size1, size2, l.Size())
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, mayfly.Errorf(mayfly.Invalid, "consistency proof: %v", err)
	}
	return l.rehash(ctx, n)
}

func (l *Log) rehash(ctx context.Context, n proof.Nodes) ([][]byte, error) {
	hashes, err := l.cfg.Store.AuditNodes(ctx, nodeKeys(n.IDs))
	if err != nil {
		return nil, err
	}
	return n.Rehash(hashes, hasher.HashChildren)
}

type actorKey struct{}

// WithActor returns ctx carrying who acts: an admin credential ID, a client ID.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns who acts in ctx; "mayfly" for the service's own schedule.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "mayfly"
}

// Origin is the log's name in its checkpoints.
func (l *Log) Origin() string { return l.cfg.Origin }

// Search returns stored entries.
func (l *Log) Search(ctx context.Context, f mayfly.AuditFilter) ([]mayfly.AuditRecord, error) {
	return l.cfg.Store.AuditEntries(ctx, f)
}
