package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/transparency-dev/merkle/compact"
)

// The log is also the unit of work every state change commits through:
// Update runs a change and appends the entries it records in one store
// transaction, so a change is never durable without its entry, nor an
// entry without its change. Concurrent updates share a transaction (group
// commit): each runs in a savepoint of its own, so one that fails takes
// only its own writes and entries with it.

// flushTimeout bounds one group commit's transaction. Writes in it run
// under this, never under a caller's context: a caller that goes away must
// not abort a transaction others share.
const flushTimeout = 2 * time.Minute

// unit is one Update, or one item of UpdateBatch, waiting to commit.
type unit struct {
	ctx   context.Context // the caller's, for its values only
	fn    func(mayfly.Tx) error
	item  mayfly.BatchItem // written with the others of its Batch, if fn is nil
	err   error
	after []func()
}

// Update runs fn in a transaction and commits what it writes together with
// the entries it records (mayfly.Updater). fn must only write through tx:
// it runs while the log is locked, so it must not wait for anything else,
// nor call Update itself. Update waits for the outcome even if ctx ends
// first: once queued, a change may commit, and its caller must not act
// as if it had not (a flush is bounded by flushTimeout).
func (l *Log) Update(ctx context.Context, fn func(mayfly.Tx) error) error {
	u := &unit{ctx: ctx, fn: fn}
	if err := l.committer.Add(context.WithoutCancel(ctx), u); err != nil {
		return mayfly.E("audit.Update", err)
	}
	return u.err
}

// UpdateBatch commits items, each written together with the other items
// of its Batch in the same commit, in the Batches' order
// (mayfly.BatchUpdater). The items of one call commit in one transaction.
func (l *Log) UpdateBatch(ctx context.Context, items ...mayfly.BatchItem) error {
	us := make([]*unit, len(items))
	for i, it := range items {
		us[i] = &unit{ctx: ctx, item: it}
	}
	if err := l.committer.AddAll(context.WithoutCancel(ctx), us); err != nil {
		return mayfly.E("audit.UpdateBatch", err)
	}
	for _, u := range us {
		if u.err != nil {
			return u.err
		}
	}
	return nil
}

// Append records e, a change that is its own entry (such as an admin's
// login), and returns its index once it is durable.
func (l *Log) Append(ctx context.Context, e mayfly.AuditEntry) (uint64, error) {
	var idx uint64
	err := l.Update(ctx, func(tx mayfly.Tx) error {
		var err error
		idx, err = tx.Audit(e)
		return err
	})
	return idx, err
}

// entries are the entries of one group commit, numbered from start.
type entries struct {
	start uint64
	now   time.Time
	recs  []mayfly.AuditRecord
}

// tx is what a unit's fn sees: the shared store transaction, and the
// batch its entries join.
type tx struct {
	b     mayfly.BackendTx
	batch *entries
	u     *unit
	// In a shared transaction, the unit's savepoint is set when it first
	// writes through the store: a unit that only records entries, as most
	// appends do, needs none, since its entries are undone here.
	shared, marked bool
	markErr        error
}

func (t *tx) Backend() mayfly.BackendTx {
	if t.shared && !t.marked {
		t.marked, t.markErr = true, t.b.Savepoint()
	}
	return t.b
}

func (t *tx) AfterCommit(fn func()) { t.u.after = append(t.u.after, fn) }

func (t *tx) Audit(e mayfly.AuditEntry) (uint64, error) {
	if e.Actor == "" {
		e.Actor = Actor(t.u.ctx)
	}
	b := t.batch
	e.V, e.Index, e.Time = 1, b.start+uint64(len(b.recs)), b.now
	body, err := json.Marshal(e)
	if err != nil {
		return 0, mayfly.E("audit.Audit", err)
	}
	b.recs = append(b.recs, mayfly.AuditRecord{Index: e.Index, Body: body, LeafHash: hasher.HashLeaf(body), Entry: e})
	return e.Index, nil
}

// flush commits a group of units in one transaction, then runs what each
// unit that committed asked to run after. Each unit's error is its own; an
// error returned here is every unit's.
func (l *Log) flush(ctx context.Context, units []*unit) error {
	ok, err := l.commit(ctx, units)
	if err != nil {
		return err
	}
	for _, u := range ok {
		for _, fn := range u.after {
			fn()
		}
	}
	return nil
}

// commit runs the units in one transaction and commits it, and returns the
// units that committed.
func (l *Log) commit(ctx context.Context, units []*unit) ([]*unit, error) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := l.cfg.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			b.Rollback()
		}
	}()
	// The append lock first: the entries' indexes are known as they are
	// recorded, and the log continues from where the store holds it.
	head, err := l.cfg.Store.AuditHead(&tx{b: b})
	if err != nil {
		return nil, err
	}
	if head != l.tree.End() {
		if !l.cfg.Replicated {
			return nil, fmt.Errorf("audit: the store holds %d entries, but this log wrote %d: the log was changed behind its back", head, l.tree.End())
		}
		// Other replicas appended: continue after their entries.
		if err := l.catchUpLocked(ctx); err != nil {
			return nil, err
		}
		if head != l.tree.End() {
			return nil, fmt.Errorf("audit: caught up to %d entries, but the store holds %d", l.tree.End(), head)
		}
	}
	// A replica's clock may lag the one that appended last.
	now := l.cfg.Clock.Now().UTC()
	if now.Before(l.last) {
		now = l.last
	}
	bt := &entries{start: head, now: now}
	plain, batches := group(units)
	shared := len(plain)+len(batches) > 1
	for _, u := range plain {
		if err := l.run(b, bt, u, shared); err != nil {
			return nil, err
		}
	}
	for _, g := range batches {
		// A Batch of several items runs in a savepoint, so that if it
		// fails, each item is written again alone: one that cannot be
		// written fails by itself, not every request's of the commit.
		if err := l.run(b, bt, g.unit, shared || len(g.items) > 1); err != nil {
			return nil, err
		}
		if g.unit.err == nil || len(g.items) == 1 {
			for _, u := range g.items {
				u.err = g.unit.err
			}
			plain = append(plain, g.unit)
			continue
		}
		for i, u := range g.items {
			one := writeUnit(g.w, g.items[i:i+1])
			if err := l.run(b, bt, one, true); err != nil {
				return nil, err
			}
			u.err = one.err
			plain = append(plain, one)
		}
	}
	var ok []*unit
	for _, u := range plain {
		if u.err == nil {
			ok = append(ok, u)
		}
	}
	if len(ok) == 0 {
		return nil, nil
	}
	tree, nodes, err := l.grow(bt.recs)
	if err != nil {
		return nil, err
	}
	if len(bt.recs) > 0 {
		if err := l.cfg.Store.AppendAudit(&tx{b: b}, bt.recs, nodes); err != nil {
			return nil, err
		}
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	committed = true
	if len(bt.recs) > 0 {
		l.tree, l.last = tree, now
	}
	return ok, nil
}

// batched is the items of one Batch in a commit, written as one unit.
type batched struct {
	w     mayfly.BatchWriter
	unit  *unit
	items []*unit
}

// group returns the units that are not items of a Batch, and those that
// are, each Batch's items as one unit, in the Batches' order.
func group(units []*unit) (plain []*unit, batches []*batched) {
	byBatch := map[mayfly.BatchWriter]*batched{}
	for _, u := range units {
		if u.fn != nil {
			plain = append(plain, u)
			continue
		}
		g := byBatch[u.item.Batch]
		if g == nil {
			g = &batched{w: u.item.Batch}
			byBatch[g.w] = g
			batches = append(batches, g)
		}
		g.items = append(g.items, u)
	}
	for _, g := range batches {
		g.unit = writeUnit(g.w, g.items)
	}
	slices.SortStableFunc(batches, func(a, b *batched) int { return cmp.Compare(a.w.BatchOrder(), b.w.BatchOrder()) })
	return plain, batches
}

// writeUnit is the unit that writes items, of w, with one call.
func writeUnit(w mayfly.BatchWriter, items []*unit) *unit {
	vs := make([]any, len(items))
	for i, it := range items {
		vs[i] = it.item.Value
	}
	return &unit{ctx: context.Background(), fn: func(tx mayfly.Tx) error { return w.WriteBatch(tx, vs) }}
}

// run runs one unit; in a shared transaction, in a savepoint, so that its
// failure undoes only its own writes and entries. The error returned is
// the transaction's, not the unit's.
func (l *Log) run(b mayfly.BackendTx, bt *entries, u *unit, shared bool) error {
	t := &tx{b: b, batch: bt, u: u, shared: shared}
	mark := len(bt.recs)
	u.err = u.fn(t)
	if t.markErr != nil {
		return t.markErr
	}
	if u.err != nil {
		u.after = nil
		bt.recs = bt.recs[:mark]
		if t.marked {
			if err := b.RollbackToSavepoint(); err != nil {
				return err
			}
		}
	}
	if t.marked {
		return b.ReleaseSavepoint()
	}
	return nil
}

// grow returns the tree with recs appended, and the nodes that completes,
// leaves included.
func (l *Log) grow(recs []mayfly.AuditRecord) (*compact.Range, []mayfly.AuditNode, error) {
	var nodes []mayfly.AuditNode
	visit := func(id compact.NodeID, hash []byte) {
		nodes = append(nodes, mayfly.AuditNode{Level: id.Level, Index: id.Index, Hash: hash})
	}
	next := factory.NewEmptyRange(l.tree.End())
	for _, r := range recs {
		visit(compact.NewNodeID(0, r.Index), r.LeafHash)
		if err := next.Append(r.LeafHash, visit); err != nil {
			return nil, nil, err
		}
	}
	// Merging into the whole tree completes the nodes above the batch.
	merged := factory.NewEmptyRange(0)
	if err := merged.AppendRange(l.tree, nil); err != nil {
		return nil, nil, err
	}
	if err := merged.AppendRange(next, visit); err != nil {
		return nil, nil, err
	}
	return merged, nodes, nil
}
