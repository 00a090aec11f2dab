package mayfly

import (
	"context"
	"time"
)

// AdminCredential is a bearer credential for the admin API or for SCIM
// provisioning. Only its hash is stored.
type AdminCredential struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	OwnerID   string    `json:"owner_id,omitempty"` // the person it belongs to, if any
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Role says what an admin credential may do.
type Role string

const (
	RoleAdmin Role = "admin" // the whole admin API
	RoleSCIM  Role = "scim"  // SCIM provisioning only
	// RoleAuditor reads everything, the audit log included, and changes
	// nothing.
	RoleAuditor Role = "auditor"
	// RoleResponder contains: revokes, suspends, offboards, and reads what
	// it needs to; it administers no key ring and makes no credential.
	RoleResponder Role = "responder"
	// RoleRingAdmin administers key rings and keys, and nothing else.
	RoleRingAdmin Role = "ring-admin"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleRingAdmin, RoleResponder, RoleAuditor, RoleSCIM}

// Valid reports whether r is a role.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// The storage contract is one interface per concern. A service takes only
// the concerns it uses; a backend implements them all (Store) and passes
// one conformance suite per interface (store/storetest).
//
// Backends store and fetch; they make no policy decisions, so that two
// backends cannot disagree on what is allowed. Lookups of a missing thing
// return an error matching ErrNotFound; creating a thing that exists
// returns one matching ErrConflict.
//
// Reads take a context. Changes take a Tx instead: they are written in
// that transaction, under its context, and commit with it (see Tx). A few
// writes that record no state change of their own (a used assertion, a
// queued SET, a checkpoint, pruning) commit by themselves and say so.

// IdentityStore keeps principals, the OAuth2 clients and admin credentials
// they own, and custody records.
type IdentityStore interface {
	// CreatePrincipal stores p, with p.Version (0 is stored, and set, as 1).
	// A name that another principal has, in any letter case, is a conflict.
	CreatePrincipal(tx Tx, p *Principal) error
	// Principal finds a principal by ID or by name.
	Principal(ctx context.Context, idOrName string) (*Principal, error)
	Principals(ctx context.Context) ([]*Principal, error)
	// UpdatePrincipal stores p's name, status, owner, provider attributes
	// and suspension if the stored version is still p.Version, then sets
	// p.Version to the new version. A stale version, or a name another
	// principal has in any letter case, returns ErrConflict.
	UpdatePrincipal(tx Tx, p *Principal) error

	// CreateClient stores c at version 1 and sets c.Version.
	CreateClient(tx Tx, c *Client) error
	Client(ctx context.Context, id string) (*Client, error)
	Clients(ctx context.Context) ([]*Client, error)
	// Owned returns the principals owner owns (its services) and the
	// clients that owner or those principals own, in no set order: what
	// one person's page lists, without reading every client.
	Owned(ctx context.Context, owner string) ([]*Principal, []*Client, error)
	// UpdateClient stores c's owner, secret hash, secret rotation time and
	// revocation time if the stored version is still c.Version, then sets
	// c.Version to the new one. A stale version returns ErrConflict.
	UpdateClient(tx Tx, c *Client) error
	// UpdateClients is UpdateClient for many clients, in as few round trips
	// as the database allows. If one is stale or missing, it returns that
	// one's error, and tx must not commit.
	UpdateClients(tx Tx, cs []*Client) error

	// CreateAdminCredential stores a, whose Role is set.
	CreateAdminCredential(tx Tx, a *AdminCredential) error
	AdminCredentialByHash(ctx context.Context, hash []byte) (*AdminCredential, error)
	AdminCredentials(ctx context.Context) ([]*AdminCredential, error)
	// RevokeAdminCredential marks the credential revoked at at, unless it
	// already is.
	RevokeAdminCredential(tx Tx, id string, at time.Time) error

	// Names returns the names of the principals, clients and admin
	// credentials whose IDs are among ids, keyed by ID; an ID of none of
	// them is left out. Any number of IDs takes a bounded number of
	// queries, not one per ID.
	Names(ctx context.Context, ids []string) (map[string]string, error)

	// AddCustody records custody and sets c.ID. Records are never changed.
	AddCustody(tx Tx, c *Custody) error
	// Custody returns the matching records, oldest first.
	Custody(ctx context.Context, f CustodyFilter) ([]*Custody, error)
}

// KeyStore keeps key rings and their signing keys.
type KeyStore interface {
	CreateRing(tx Tx, r *Ring) error
	Ring(ctx context.Context, name string) (*Ring, error)
	Rings(ctx context.Context) ([]*Ring, error)
	// Keys returns every key of every ring, oldest first.
	Keys(ctx context.Context) ([]*Key, error)
	// SaveKeys inserts keys, or replaces their windows, revocation time
	// and sealed material, as given.
	SaveKeys(tx Tx, keys []*Key) error
	// DestroyKeyMaterial erases the sealed private half of the named keys,
	// and once the transaction commits, scrubs what the store freed.
	DestroyKeyMaterial(tx Tx, kids []string) error
}

// AssertionUse is a use of a jti of a client's signed assertion (or, under
// a key of its own, of its subject token), remembered until Exp.
type AssertionUse struct {
	ClientID, JTI string
	Exp           time.Time
}

// TokenStore keeps what the token service records: an issuance record per
// minted token, and the client assertions already used.
type TokenStore interface {
	// RecordIssuances stores a batch of issuance records. Their times are
	// whole seconds, as in the token.
	RecordIssuances(tx Tx, recs []Issuance) error
	Issuances(ctx context.Context, f IssuanceFilter) ([]Issuance, error)
	// PruneIssuances takes one step of retention: it deletes records
	// issued before p.Before, either one whole UTC day that ended by then
	// (a store that keeps each day's records apart drops it), or at most
	// p.Batch records, oldest first. It deletes in one transaction of up,
	// in which it calls p.Record with what it deleted, so the deletion
	// and its record commit together or not at all; it returns that, or
	// the zero IssuancesPruned (and no transaction) once nothing is left
	// before p.Before, a UTC midnight.
	// Records are found by time through their jti, which begins with the
	// issue time (NewJTI): one whose jti does not sort by time may outlive
	// its day where records are deleted one by one. Replicas may prune at
	// once: each record is deleted and recorded once.
	PruneIssuances(ctx context.Context, up Updater, p IssuancePrune) (IssuancesPruned, error)
	// UseAssertion records a client assertion's jti, and commits by itself;
	// reusing one before exp returns an error matching ErrConflict.
	UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) error
	// UseAssertions records a batch of jtis: used[i] reports that uses[i]
	// was used already, before exp or earlier in the batch, and so was
	// not recorded.
	UseAssertions(tx Tx, uses []AssertionUse) (used []bool, err error)
	// PruneAssertions deletes the assertions expired at now, and commits
	// by itself.
	PruneAssertions(ctx context.Context, now time.Time) error
}

// RefreshStore keeps refresh token families and their tokens.
type RefreshStore interface {
	// CreateRefreshFamilies stores families, each with its first token,
	// tokens[i] of fams[i]: generation 1 (the family's Current), issued
	// when the family was last used (LastUsed).
	CreateRefreshFamilies(tx Tx, fams []*RefreshFamily, tokens []*RefreshToken) error
	// RefreshToken finds the token of a family's generation, if its hash
	// is hash, and its family; NotFound if there is none or its hash is
	// another.
	RefreshToken(ctx context.Context, familyID string, generation int64, hash []byte) (*RefreshToken, *RefreshFamily, error)
	RefreshFamily(ctx context.Context, id string) (*RefreshFamily, error)
	// RefreshTokens returns a family's tokens, by generation.
	RefreshTokens(ctx context.Context, familyID string) ([]*RefreshToken, error)
	// RotateRefresh applies the rotations, each as one compare-and-swap:
	// if the family is at generation r.From and not revoked, it retires
	// the token of generation From (used at r.Next.IssuedAt from
	// r.Next.Source if r.Used), stores r.Next (the family's LastUsed its
	// IssuedAt, its IdleExpiresAt r.IdleExpiresAt) and sets r.Rotated;
	// otherwise it writes nothing for r. Of the rotations of one family in
	// one call, only the first from the generation it is at may win; in
	// transactions in any process at once, two never both move it from the
	// same generation.
	RotateRefresh(tx Tx, rs []*RefreshRotation) error
	// RevokeRefreshFamily marks the family revoked at at for reason,
	// unless it already is; it reports whether it did.
	RevokeRefreshFamily(tx Tx, id string, at time.Time, reason string) (bool, error)
	// PruneRefresh deletes the families whose absolute expiry is at or
	// before before, with their tokens, and commits by itself; it returns
	// how many families it deleted.
	PruneRefresh(ctx context.Context, before time.Time) (int, error)
}

// RevocationStore keeps revocations: the ordered record of what is
// withdrawn, which verifiers and Shared Signals streams follow.
type RevocationStore interface {
	// Revoke stores the revocations and assigns each its Seq in order.
	// Sequence numbers follow commit order across every process sharing
	// the store: once a reader has seen seq N, no revocation numbered
	// below N can still commit. Seq is set when Revoke returns, but means
	// nothing unless the transaction commits.
	Revoke(tx Tx, rs ...*Revocation) error
	// Revocations returns revocations with Seq > after that still matter at now.
	Revocations(ctx context.Context, after int64, now time.Time) ([]*Revocation, error)
	// PruneRevocations deletes revocations of tokens expired at now, and
	// commits by itself.
	PruneRevocations(ctx context.Context, now time.Time) error
}

// OffboardingStore keeps offboarding runs.
type OffboardingStore interface {
	// SaveOffboarding inserts or replaces an offboarding run.
	SaveOffboarding(tx Tx, o *Offboarding) error
	// Offboardings returns the runs for a principal (all if empty), oldest
	// first; with unfinished, only those not finished.
	Offboardings(ctx context.Context, principalID string, unfinished bool) ([]*Offboarding, error)
}

// AuditStore keeps the audit log: entries, the tree nodes they complete,
// and signed checkpoints.
type AuditStore interface {
	// AuditHead takes the log's append lock, which tx holds until it ends,
	// and returns the number of entries the log holds: the index the next
	// entry must have.
	AuditHead(tx Tx) (uint64, error)
	// AppendAudit stores audit records and the tree nodes they complete.
	// Records must continue the log without a gap; tx must hold the append
	// lock (AuditHead).
	AppendAudit(tx Tx, recs []AuditRecord, nodes []AuditNode) error
	// AuditEntries returns stored audit records, oldest first unless f.Newest.
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// AuditSize is the number of audit records stored.
	AuditSize(ctx context.Context) (uint64, error)
	// AuditNodes returns the hashes of the named tree nodes, in order.
	AuditNodes(ctx context.Context, ids []AuditNode) ([][]byte, error)
	// SaveCheckpoint stores c unless a checkpoint of its size exists, and
	// commits by itself.
	SaveCheckpoint(ctx context.Context, c *Checkpoint) error
	// Checkpoints returns stored checkpoints, smallest first.
	Checkpoints(ctx context.Context) ([]*Checkpoint, error)
}

// SettingStore keeps small named values, such as the sealed audit log key.
type SettingStore interface {
	Setting(ctx context.Context, name string) ([]byte, error)
	// PutSetting on an existing name returns ErrConflict.
	PutSetting(tx Tx, name string, value []byte) error
	// ReplaceSetting sets name to value whether or not it exists, and once
	// the transaction commits, scrubs the old value from what the store
	// freed.
	ReplaceSetting(tx Tx, name string, value []byte) error
	// DeleteSetting deletes name, and scrubs it once the transaction
	// commits.
	DeleteSetting(tx Tx, name string) error
}

// SSFStore keeps Shared Signals streams and the SETs queued on each.
type SSFStore interface {
	// CreateSSFStream stores st at version 1 and sets st.Version.
	CreateSSFStream(tx Tx, st *SSFStream) error
	SSFStream(ctx context.Context, id string) (*SSFStream, error)
	// SSFStreams returns every stream, oldest first.
	SSFStreams(ctx context.Context) ([]*SSFStream, error)
	// UpdateSSFStream stores everything of st but its cursor if the stored
	// version is still st.Version, then sets st.Version to the new one. A
	// stale version returns ErrConflict.
	UpdateSSFStream(tx Tx, st *SSFStream) error
	// DeleteSSFStream deletes a stream and its queue.
	DeleteSSFStream(tx Tx, id string) error

	// The queue's methods commit by themselves: a queued SET is delivery
	// state, not a change the audit log records.

	// QueueSETs adds sets to a stream's queue, all or none. If to > from it
	// also moves the stream's cursor from from to to, and returns
	// ErrConflict, queueing nothing, if the cursor is no longer at from.
	// Queueing a jti the stream already holds returns ErrConflict.
	QueueSETs(ctx context.Context, streamID string, from, to int64, sets []QueuedSET) error
	// PendingSETs returns up to limit of a stream's queued SETs whose
	// NextAttempt is not after now, in the order they were queued.
	PendingSETs(ctx context.Context, streamID string, now time.Time, limit int) ([]QueuedSET, error)
	// AckSETs removes the named SETs from a stream's queue; it returns how
	// many it removed. Names it does not hold are ignored.
	AckSETs(ctx context.Context, streamID string, jtis []string) (int, error)
	// SSFQueueLength is how many SETs a stream's queue holds, due or not.
	SSFQueueLength(ctx context.Context, streamID string) (int, error)
	// DeferSET records a failed delivery: the attempts so far, and when to
	// try again.
	DeferSET(ctx context.Context, streamID, jti string, attempts int, next time.Time) error
}

// PendingStore keeps pending actions.
type PendingStore interface {
	// CreatePending stores p at version 1 and sets p.Version.
	CreatePending(tx Tx, p *PendingAction) error
	PendingAction(ctx context.Context, id string) (*PendingAction, error)
	// PendingActions returns the matching actions, oldest first.
	PendingActions(ctx context.Context, f PendingFilter) ([]*PendingAction, error)
	// UpdatePending stores everything of p but its ID, kind, subject and
	// request if the stored version is still p.Version, then sets
	// p.Version to the new one. A stale version returns ErrConflict.
	UpdatePending(tx Tx, p *PendingAction) error
}

// LedgerStore keeps the access ledger: ledger buckets and gaps. Its
// writes record no state change the audit log holds; they take a Tx so
// that a batch is all or none.
type LedgerStore interface {
	// MergeLedger adds each delta to the bucket of its key, creating it if
	// missing: records are united, counts added, services and sources
	// united within their bounds (BoundedUnion). A token's claims already
	// stored are kept. Deltas may share a key. Merges of one bucket from
	// transactions in any process sharing the store lose nothing. A delta
	// that breaks LedgerBucket's invariants, or whose records do not
	// decode, is Invalid, and tx must not commit.
	MergeLedger(tx Tx, deltas []LedgerBucket) error
	// LedgerBuckets returns the matching buckets, ordered by start, then
	// width, token and namespace. A stored bitmap that does not decode is
	// an error, never a panic.
	LedgerBuckets(ctx context.Context, f LedgerFilter) ([]LedgerBucket, error)
	// ScanLedger calls fn with each bucket LedgerBuckets would return, in
	// its order, without holding them all, and stops at fn's first error,
	// which it returns. Records are as stored, not checked: the caller
	// decodes them defensively. The bucket is fn's to keep.
	ScanLedger(ctx context.Context, f LedgerFilter, fn func(*LedgerBucket) error) error
	// LedgerServices returns the services, sorted, of the buckets that
	// overlap [from, to) (zero times: unbounded), and whether a bucket
	// kept only some of its own (LedgerBucket.ServicesMore).
	LedgerServices(ctx context.Context, from, to time.Time) ([]string, bool, error)
	// LedgerRecords returns the stored records of the bucket of b's key,
	// unchecked, as ScanLedger does; ErrNotFound if there is none.
	LedgerRecords(ctx context.Context, b *LedgerBucket) ([]byte, error)
	// CompactLedger rolls up to limit buckets of width from that end at or
	// before cutoff into the buckets of width to that hold them, merging
	// as MergeLedger does, and deletes them; it returns how many it rolled.
	// to must be a multiple of from. With byCredential, the bucket of a
	// token Mayfly issued (an issuance record has its jti and, where both
	// name one, its digest) rolls into the roll-up bucket of its
	// credential (LedgerToken.RolledUp), so that one credential's tokens
	// share a bucket; any other bucket, such as a forged token's, rolls
	// into its own token's, as it does without byCredential. A bucket is rolled by one transaction only, the one that
	// deletes it: if tx does not commit nothing moved, and transactions
	// compacting at once, in any process, roll each bucket once.
	CompactLedger(tx Tx, from, to time.Duration, cutoff time.Time, limit int, byCredential bool) (int, error)
	// UniteLedgerDay makes the day unions (LedgerUnion) of day, a UTC
	// midnight, with records for the values at least min buckets share,
	// if every bucket that starts in it is a day bucket; it reports
	// whether it did. A merge of a bucket that overlaps the day waits for
	// it, and drops the day's unions.
	UniteLedgerDay(tx Tx, day time.Time, min int) (bool, error)
	// LedgerUnionDays returns the days, in order, whose unions are made
	// and that lie within [from, to) (zero: unbounded).
	LedgerUnionDays(ctx context.Context, from, to time.Time) ([]time.Time, error)
	// LedgerUnions returns the unions f selects, ordered by value and
	// namespace; their records as stored, unchecked, as ScanLedger does.
	// ErrNotFound if the day's unions are not made (LedgerUnionDays), as
	// when a merge has just dropped them.
	LedgerUnions(ctx context.Context, f LedgerUnionFilter) ([]LedgerUnion, error)
	// PruneLedger deletes the buckets and gaps that end at or before
	// before, and returns how many buckets it deleted.
	PruneLedger(tx Tx, before time.Time) (int, error)
	// RecordLedgerGaps stores gaps, and sets their IDs.
	RecordLedgerGaps(tx Tx, gaps []*LedgerGap) error
	// LedgerGaps returns the gaps that overlap [from, to), by start; a zero
	// bound is no bound.
	LedgerGaps(ctx context.Context, from, to time.Time) ([]*LedgerGap, error)

	// The journal of accepted batches (LedgerBatch).

	// AppendLedgerBatches adds batches to the journal, unseen, and sets
	// their IDs.
	AppendLedgerBatches(tx Tx, batches []*LedgerBatch) error
	// LedgerJournal returns up to limit batches of the journal whose IDs
	// are above after, by ID, bodies included.
	LedgerJournal(ctx context.Context, after int64, limit int) ([]*LedgerBatch, error)
	// ClaimLedgerBatches locks, until tx ends, those of the batches ids
	// that are still in the journal (and, if unseen, not yet seen) and
	// that no other transaction holds, passing over the rest; it returns
	// their IDs in order. Transactions claiming at once, in any process
	// sharing the store, never claim one batch both.
	ClaimLedgerBatches(tx Tx, ids []int64, unseen bool) ([]int64, error)
	// MarkLedgerBatchesSeen marks batches seen by detection.
	MarkLedgerBatchesSeen(tx Tx, ids []int64) error
	// DeleteLedgerBatches deletes batches from the journal.
	DeleteLedgerBatches(tx Tx, ids []int64) error
	// LedgerJournalDepth is how many batches the journal holds.
	LedgerJournalDepth(ctx context.Context) (int, error)
}

// Coordinator coordinates the processes that share a store.
type Coordinator interface {
	// Lock takes the named lock and returns the function that releases it.
	// The lock excludes every other holder of the name in any process that
	// shares the database, and is released if its holder's process dies.
	// It waits until the lock is free or ctx ends.
	Lock(ctx context.Context, name string) (unlock func(), err error)
	// Watch calls fn after each change of a cached kind (see Change) that
	// any process sharing the database commits, this one included. It calls
	// fn(ChangeAll) first, and again whenever changes may have been missed,
	// such as after a lost connection. Calls are sequential; fn should not
	// block for long. Watch returns when ctx ends.
	Watch(ctx context.Context, fn func(Change)) error
}

// Store is a whole backend: every concern, transactions across them, and
// coordination. Only assembly holds one; services take their concerns.
type Store interface {
	IdentityStore
	KeyStore
	TokenStore
	RefreshStore
	RevocationStore
	OffboardingStore
	AuditStore
	SettingStore
	SSFStore
	PendingStore
	LedgerStore
	AlertStore
	Coordinator
	TxStore
	Close() error
}

// Change names state that services cache in memory and must reload when
// another process sharing the store changes it. A backend announces a
// change to watchers only once its transaction commits.
type Change string

const (
	// ChangeRevocations follows Revoke.
	ChangeRevocations Change = "revocations"
	// ChangeKeys follows CreateRing, SaveKeys and DestroyKeyMaterial.
	ChangeKeys Change = "keys"
	// ChangeSettings follows PutSetting, ReplaceSetting and DeleteSetting.
	ChangeSettings Change = "settings"
	// ChangeIdentity follows UpdatePrincipal, UpdateClient and
	// RevokeAdminCredential.
	ChangeIdentity Change = "identity"
	// ChangeAlerts follows RaiseAlert and UpdateAlert: alert streams
	// read what changed.
	ChangeAlerts Change = "alerts"
	// ChangeAll means anything may have changed: reload everything.
	ChangeAll Change = "all"
)
