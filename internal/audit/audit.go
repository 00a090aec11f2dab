// Package audit is Mayfly's tamper-evident audit log: every state change is
// appended as a canonical JSON entry to an RFC 6962 Merkle tree
// (transparency-dev/merkle), and signed checkpoints (C2SP tlog-checkpoint,
// as golang.org/x/mod/sumdb/note signed notes with an Ed25519 log key) commit
// to it, so that anyone with the log's public key can verify entries,
// proofs and exported bundles offline (package bundle holds the bundle
// format and its verification).
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
//   - Replicas sharing a store keep one log: an append that loses the race
//     for the next index (the store answers ErrConflict) catches up on the
//     entries others appended and tries again; entry times never decrease
//     along the log; checkpoints are signed under the store's
//     "audit.checkpoint" lock, so a key rotation's transition checkpoint
//     cannot be skipped by another replica.
package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
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

// The log key has generations: "audit.log_key.N" holds generation N's
// sealed private key until it is replaced, "audit.log_vkey.N" its public
// verifier key for good.
func keySetting(gen int) string  { return fmt.Sprintf("audit.log_key.%d", gen) }
func vkeySetting(gen int) string { return fmt.Sprintf("audit.log_vkey.%d", gen) }

// Store is what the log keeps in the store: its entries and checkpoints,
// its key among the settings, and the transactions it commits changes in.
type Store interface {
	mayfly.AuditStore
	mayfly.SettingStore
	mayfly.TxStore
	mayfly.Coordinator
}

// Config configures a Log.
type Config struct {
	Store  Store
	Sealer *seal.Sealer
	Clock  mayfly.Clock
	Rand   io.Reader
	Log    *slog.Logger
	// Origin names the log in its checkpoints, such as "mayfly.example.com/audit".
	Origin string
	// Replicated says other processes append to the same store. Without
	// it, entries in the store beyond this log's own are tampering.
	Replicated bool
}

// Log is the audit log. It is safe for concurrent use.
type Log struct {
	cfg       Config
	signer    note.Signer     // the newest generation's
	vkey      string          // its verifier key
	verifiers []note.Verifier // every generation's
	gen       int

	mu   sync.Mutex // the tree
	tree *compact.Range
	last time.Time // the newest entry's time

	committer *batch.Committer[*unit]
	stop      chan struct{}
	stopped   chan struct{}
	cpMu      sync.Mutex // one checkpoint at a time
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

// loadKey loads every generation's verifier key and unseals the newest
// generation's signing key, generating the first on first start.
func (l *Log) loadKey(ctx context.Context) error {
	l.verifiers, l.gen = nil, 0
	for gen := 1; ; gen++ {
		vkey, err := l.cfg.Store.Setting(ctx, vkeySetting(gen))
		if errors.Is(err, mayfly.ErrNotFound) {
			break
		}
		if err != nil {
			return err
		}
		v, err := note.NewVerifier(string(vkey))
		if err != nil {
			return fmt.Errorf("audit: log key %d: %w", gen, err)
		}
		l.verifiers, l.gen, l.vkey = append(l.verifiers, v), gen, string(vkey)
	}
	if l.gen == 0 {
		// The log cannot record its own first key: nothing is signed yet.
		err := mayfly.Transact(ctx, l.cfg.Store, func(tx mayfly.Tx) error {
			_, err := l.newKey(tx, 1)
			return err
		})
		if err != nil && !errors.Is(err, mayfly.ErrConflict) {
			return err
		}
		l.cfg.Log.Info("audit log key created")
		return l.loadKey(ctx) // another replica may have made it first
	}
	sealed, err := l.cfg.Store.Setting(ctx, keySetting(l.gen))
	if err != nil {
		return fmt.Errorf("audit: log key %d: %w", l.gen, err)
	}
	skey, err := l.cfg.Sealer.Open(sealed, keyAAD(l.gen))
	if err != nil {
		return fmt.Errorf("audit: log key %d: %w", l.gen, err)
	}
	defer clear(skey)
	l.signer, err = note.NewSigner(string(skey))
	return err
}

func keyAAD(gen int) []byte { return fmt.Appendf(nil, "mayfly audit log key %d", gen) }

// newKey generates generation gen of the log key and stores it in tx. It
// returns the new verifier key.
func (l *Log) newKey(tx mayfly.Tx, gen int) (string, error) {
	skey, _, err := note.GenerateKey(l.cfg.Rand, l.cfg.Origin)
	if err != nil {
		return "", fmt.Errorf("audit: log key: %w", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return "", err
	}
	vkey, err := verifierKey(skey, signer)
	if err != nil {
		return "", err
	}
	sealed, err := l.cfg.Sealer.Seal(l.cfg.Rand, []byte(skey), keyAAD(gen))
	if err != nil {
		return "", err
	}
	// Both halves in one transaction: a generation whose verifier key
	// exists always has a signing key too.
	if err := l.cfg.Store.PutSetting(tx, keySetting(gen), sealed); err != nil {
		return "", err
	}
	return vkey, l.cfg.Store.PutSetting(tx, vkeySetting(gen), []byte(vkey))
}

// RotateKey replaces the log key. The next checkpoint, which covers an
// "audit.key_rotated" entry naming both keys, is signed by the old and the
// new key, so that a verifier holding either can follow; the old private
// key is then destroyed. Checkpoints signed before stay verifiable with the
// old public key. also, if not nil, runs in the transaction that stores
// the new key and records the rotation, with the new verifier key.
func (l *Log) RotateKey(ctx context.Context, also func(tx mayfly.Tx, vkey string) error) (string, error) {
	unlock, err := l.cfg.Store.Lock(ctx, checkpointLock)
	if err != nil {
		return "", mayfly.E("audit.RotateKey", err)
	}
	defer unlock()
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	// Rotate from the newest generation, which another replica may have made.
	if err := l.loadKey(ctx); err != nil {
		return "", err
	}
	old, oldV := l.signer, l.vkey
	gen := l.gen + 1
	err = l.Update(ctx, func(tx mayfly.Tx) error {
		newV, err := l.newKey(tx, gen)
		if err != nil {
			return err
		}
		_, err = tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionAuditKeyRotated, Details: map[string]string{
			"old_log_key": oldV, "new_log_key": newV, "generation": fmt.Sprint(gen)}})
		if err != nil || also == nil {
			return err
		}
		return also(tx, newV)
	})
	if err != nil {
		return "", err
	}
	if err := l.loadKey(ctx); err != nil {
		return "", err
	}
	if _, err := l.checkpointLocked(ctx, old); err != nil {
		return "", err
	}
	// The old private key goes once a checkpoint it co-signed is stored:
	// part of the rotation its entry records.
	err = l.Update(ctx, func(tx mayfly.Tx) error { return l.cfg.Store.DeleteSetting(tx, keySetting(gen-1)) })
	if err != nil {
		return "", err
	}
	l.cfg.Log.Info("audit log key rotated", "generation", gen)
	return l.vkey, nil
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
	var last time.Time
	if size > 0 {
		recs, err := l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{From: size - 1, To: size})
		if err != nil || len(recs) != 1 {
			return fmt.Errorf("audit: load tree: newest entry: %d, %v", len(recs), err)
		}
		last = recs[0].Entry.Time
	}
	l.mu.Lock()
	l.tree, l.last = tree, last
	l.mu.Unlock()
	return nil
}

// catchUpLocked adds the entries other replicas appended since this log's
// tree ends, hashing their bodies itself. l.mu must be held.
func (l *Log) catchUpLocked(ctx context.Context) error {
	for {
		from := l.tree.End()
		recs, err := l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{From: from, Limit: 10000})
		if err != nil || len(recs) == 0 {
			return err
		}
		for i, r := range recs {
			if r.Index != from+uint64(i) || r.Entry.Index != r.Index {
				return fmt.Errorf("audit: catching up: entry at %d claims index %d", from+uint64(i), r.Entry.Index)
			}
			if err := l.tree.Append(hasher.HashLeaf(r.Body), nil); err != nil {
				return err
			}
			l.last = r.Entry.Time
		}
	}
}

// CatchUp adds to this log the entries other replicas appended. It does
// nothing unless the log is replicated.
func (l *Log) CatchUp(ctx context.Context) error {
	if !l.cfg.Replicated {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.catchUpLocked(ctx)
}

func nodeKeys(ids []compact.NodeID) []mayfly.AuditNode {
	out := make([]mayfly.AuditNode, len(ids))
	for i, id := range ids {
		out[i] = mayfly.AuditNode{Level: id.Level, Index: id.Index}
	}
	return out
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

// checkpointLock is the store lock under which checkpoints are signed.
const checkpointLock = "audit.checkpoint"

// Checkpoint signs and stores a checkpoint of the current tree if it has
// grown since the last one, and returns the latest checkpoint.
func (l *Log) Checkpoint(ctx context.Context) (*mayfly.Checkpoint, error) {
	if err := l.CatchUp(ctx); err != nil {
		return nil, err
	}
	if last, grown, err := l.grown(ctx); err != nil || !grown {
		return last, err
	}
	// The store lock first: waiting for another replica must not hold
	// cpMu, which ReloadKey needs.
	unlock, err := l.cfg.Store.Lock(ctx, checkpointLock)
	if err != nil {
		return nil, mayfly.E("audit.Checkpoint", err)
	}
	defer unlock()
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	// Another replica may have rotated the log key: sign with the newest.
	if _, err := l.cfg.Store.Setting(ctx, vkeySetting(l.gen+1)); err == nil {
		if err := l.loadKey(ctx); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, mayfly.ErrNotFound) {
		return nil, err
	}
	return l.checkpointLocked(ctx)
}

// Reseal seals the log key again under the sealer's current root key, for
// a root key rotation.
func (l *Log) Reseal(ctx context.Context) error {
	unlock, err := l.cfg.Store.Lock(ctx, checkpointLock)
	if err != nil {
		return mayfly.E("audit.Reseal", err)
	}
	defer unlock()
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	if err := l.loadKey(ctx); err != nil {
		return err
	}
	sealed, err := l.cfg.Store.Setting(ctx, keySetting(l.gen))
	if err != nil || l.cfg.Sealer.Current(sealed) {
		return err
	}
	skey, err := l.cfg.Sealer.Open(sealed, keyAAD(l.gen))
	if err != nil {
		return fmt.Errorf("audit: log key %d: %w", l.gen, err)
	}
	defer clear(skey)
	if sealed, err = l.cfg.Sealer.Seal(l.cfg.Rand, skey, keyAAD(l.gen)); err != nil {
		return err
	}
	// The same key, wrapped anew: no change for the log to record.
	return mayfly.Transact(ctx, l.cfg.Store, func(tx mayfly.Tx) error {
		return l.cfg.Store.ReplaceSetting(tx, keySetting(l.gen), sealed)
	})
}

// KeyMadeAt is when the log key in use was made: its rotation's entry, or
// for the first key, the log's first entry.
func (l *Log) KeyMadeAt(ctx context.Context) (time.Time, error) {
	recs, err := l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{Action: mayfly.ActionAuditKeyRotated, Newest: true, Limit: 1})
	if err == nil && len(recs) == 0 {
		recs, err = l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{Limit: 1})
	}
	if err != nil || len(recs) == 0 {
		return time.Time{}, err
	}
	return recs[0].Entry.Time, nil
}

// ReloadKey loads the newest log key generation, after another replica
// rotated it.
func (l *Log) ReloadKey(ctx context.Context) error {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.loadKey(ctx)
}

// grown returns the latest stored checkpoint and whether the tree has grown
// past it.
func (l *Log) grown(ctx context.Context) (*mayfly.Checkpoint, bool, error) {
	cps, err := l.cfg.Store.Checkpoints(ctx)
	if err != nil {
		return nil, false, err
	}
	var last *mayfly.Checkpoint
	if len(cps) > 0 {
		last = cps[len(cps)-1]
	}
	size := l.Size()
	return last, size > 0 && (last == nil || last.Size < size), nil
}

// checkpointLocked signs with the current key and any extra signers. The
// checkpoint lock must be held.
func (l *Log) checkpointLocked(ctx context.Context, extra ...note.Signer) (*mayfly.Checkpoint, error) {
	last, grown, err := l.grown(ctx)
	if err != nil || !grown {
		return last, err
	}
	l.mu.Lock()
	size := l.tree.End()
	root, err := l.tree.GetRootHash(nil)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if root == nil {
		root = hasher.EmptyRoot()
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", l.cfg.Origin, size, base64.StdEncoding.EncodeToString(root))
	signed, err := note.Sign(&note.Note{Text: text}, append(extra, l.signer)...)
	if err != nil {
		return nil, err
	}
	cp := &mayfly.Checkpoint{Size: size, Note: string(signed), Time: l.cfg.Clock.Now().UTC()}
	return cp, l.cfg.Store.SaveCheckpoint(ctx, cp)
}

// VerifierKey is the log's current public key in signed-note verifier-key form.
func (l *Log) VerifierKey() string {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.vkey
}

// known returns the verifiers of every key generation.
func (l *Log) known() note.Verifiers {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return note.VerifierList(l.verifiers...)
}

// Close stops signing checkpoints and flushes queued appends.
func (l *Log) Close() {
	l.committer.Close()
	close(l.stop)
	<-l.stopped
}

// Inclusion returns the inclusion proof of entry index in the tree of size.
func (l *Log) Inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	if size > l.Size() {
		if err := l.CatchUp(ctx); err != nil {
			return nil, err
		}
	}
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
	if size2 > l.Size() {
		if err := l.CatchUp(ctx); err != nil {
			return nil, err
		}
	}
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

// SignScopeReport signs, with the log's current key, the text that binds
// a scope report (its digest) to the entry at index that records it.
// Only that text: a note of any other text signed by the log key could
// pass for a checkpoint.
func (l *Log) SignScopeReport(index uint64, sum [32]byte) (string, error) {
	l.cpMu.Lock()
	s := l.signer
	l.cpMu.Unlock()
	b, err := note.Sign(&note.Note{Text: bundle.ScopeReportText(l.cfg.Origin, index, sum)}, s)
	return string(b), err
}
