package mayfly

import "context"

// Tx is a unit of work: one transaction on a store, across every concern.
// What is written through it, the audit entries recorded in it, the
// revocations it numbers and the change notices it makes commit together,
// or none of them does. Writes through a Tx run under the transaction's
// own context, never a caller's, so that a caller going away cannot cut a
// transaction that others share short.
//
// A Tx is not safe for concurrent use, and is valid only inside the
// function it was given to.
type Tx interface {
	// Audit records e as an entry of the audit log, written in this
	// transaction, and returns the index it will have. The log sets V,
	// Index and Time, and Actor unless it is set.
	Audit(e AuditEntry) (uint64, error)
	// AfterCommit queues fn to run once the transaction has committed; it
	// never runs if the transaction does not commit.
	AfterCommit(fn func())
	// Backend is the store's own transaction: only the backend that began
	// it knows what it holds.
	Backend() BackendTx
}

// BackendTx is a store backend's open transaction.
type BackendTx interface {
	// Savepoint marks the transaction's state; RollbackToSavepoint returns
	// to the last mark, which stays; ReleaseSavepoint forgets it.
	Savepoint() error
	RollbackToSavepoint() error
	ReleaseSavepoint() error
	// Commit makes the transaction's writes durable and then announces
	// its changes to watchers. Rollback discards them; after Commit it
	// does nothing.
	Commit() error
	Rollback() error
}

// TxStore begins transactions. The context given to Begin is the one
// every write of the transaction runs under.
type TxStore interface {
	Begin(ctx context.Context) (BackendTx, error)
}

// Updater commits changes together with the audit entries that record
// them: the audit log. Update calls fn with a transaction, and returns
// once what fn wrote, and every entry it recorded, is durable, or once
// nothing of it will be. If fn returns an error, nothing fn wrote commits
// and Update returns that error. Concurrent calls may share one
// transaction (group commit); a call whose fn fails does not affect the
// others. fn may be called on another goroutine than Update's.
type Updater interface {
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// BatchUpdater is an Updater that also writes the items of a kind that
// many requests make at once, such as issuance records: every item of one
// Batch in a commit is written by one call of its Write.
type BatchUpdater interface {
	Updater
	// UpdateBatch commits items in one transaction, each written by its
	// Batch together with the other items of that Batch in the commit,
	// and returns once they are durable, or with the first error of an
	// item that failed. Each Batch's items commit or fail apart from the
	// other Batches': an item that depends on another checks, in its
	// Write, that the other was written.
	UpdateBatch(ctx context.Context, items ...BatchItem) error
}

// Batch is a kind of item written many at once.
type Batch[T any] struct {
	// Order ranks the batches of a commit: lower ones are written first,
	// so that an item written only once another item's outcome is known
	// (a token's record once its subject token's jti is spent) comes
	// after that one (see the Order constants).
	Order int
	// Write writes items in tx. If it fails, it leaves the items as if it
	// had not run (what it set in them for those of a higher Order to
	// read included), and each item is written again alone, so that the
	// one that cannot be written fails by itself.
	Write func(tx Tx, items []T) error
}

// The orders of the batches whose items depend on each other.
const (
	OrderSpend   = iota // one-time values, such as the jtis of assertions and subject tokens
	OrderSession        // refresh token families and their rotations
	OrderIssue          // issuance records
)

// Item is v, to be written by b.
func (b *Batch[T]) Item(v T) BatchItem { return BatchItem{b, v} }

func (b *Batch[T]) BatchOrder() int { return b.Order }

func (b *Batch[T]) WriteBatch(tx Tx, vs []any) error {
	items := make([]T, len(vs))
	for i, v := range vs {
		items[i] = v.(T)
	}
	return b.Write(tx, items)
}

// BatchWriter is a Batch of any type of item.
type BatchWriter interface {
	BatchOrder() int
	// WriteBatch calls Write with vs, items of this Batch.
	WriteBatch(tx Tx, vs []any) error
}

// BatchItem is an item with the Batch that writes it.
type BatchItem struct {
	Batch BatchWriter
	Value any
}

// ErrNoAudit is what Audit returns in a transaction that records no
// audit entries (see Transact).
var ErrNoAudit = &Error{Op: "mayfly.Tx", Code: Internal, Msg: "this transaction records no audit entries"}

// Transact runs fn in one transaction of st and commits it, for changes
// that the audit log does not record, such as the settings the audit log
// itself starts from. Everything else changes through an Updater.
func Transact(ctx context.Context, st TxStore, fn func(tx Tx) error) error {
	b, err := st.Begin(ctx)
	if err != nil {
		return err
	}
	tx := &plainTx{b: b}
	if err := fn(tx); err != nil {
		b.Rollback() // fn's error says what went wrong
		return err
	}
	if err := b.Commit(); err != nil {
		return err
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

type plainTx struct {
	b     BackendTx
	after []func()
}

func (t *plainTx) Audit(AuditEntry) (uint64, error) { return 0, ErrNoAudit }
func (t *plainTx) AfterCommit(fn func())            { t.after = append(t.after, fn) }
func (t *plainTx) Backend() BackendTx               { return t.b }
