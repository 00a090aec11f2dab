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
	RoleAdmin Role = "admin" // the admin API
	RoleSCIM  Role = "scim"  // SCIM provisioning only
)

// Store is the storage contract. Backends store and fetch; they make no policy
// decisions, so that two backends cannot disagree on what is allowed. Lookups
// of a missing thing return an error matching ErrNotFound; creating a thing
// that exists returns one matching ErrConflict.
type Store interface {
	// CreatePrincipal stores p, with p.Version (0 is stored, and set, as 1).
	CreatePrincipal(ctx context.Context, p *Principal) error
	// Principal finds a principal by ID or by name.
	Principal(ctx context.Context, idOrName string) (*Principal, error)
	Principals(ctx context.Context) ([]*Principal, error)
	// UpdatePrincipal stores p's name, status, owner and provider
	// attributes if the stored version is still p.Version, then sets
	// p.Version to the new version. A stale version returns ErrConflict.
	UpdatePrincipal(ctx context.Context, p *Principal) error

	CreateClient(ctx context.Context, c *Client) error
	Client(ctx context.Context, id string) (*Client, error)
	Clients(ctx context.Context) ([]*Client, error)
	// UpdateClient stores c's owner, secret hash and secret rotation time
	// if the stored version is still c.Version, then sets c.Version to the
	// new one. A stale version returns ErrConflict. CreateClient stores a
	// client at version 1 and sets c.Version.
	UpdateClient(ctx context.Context, c *Client) error

	CreateRing(ctx context.Context, r *Ring) error
	Ring(ctx context.Context, name string) (*Ring, error)
	Rings(ctx context.Context) ([]*Ring, error)
	// Keys returns every key of every ring, oldest first.
	Keys(ctx context.Context) ([]*Key, error)
	// SaveKeys inserts or updates keys, all or none. An update never undoes
	// a revocation nor restores destroyed material, even from a stale copy.
	SaveKeys(ctx context.Context, keys []*Key) error
	// DestroyKeyMaterial erases the sealed private half of the named keys.
	DestroyKeyMaterial(ctx context.Context, kids []string) error

	// RecordIssuances makes a batch of issuance records durable in one write.
	// Their times are whole seconds, as in the token.
	RecordIssuances(ctx context.Context, recs []Issuance) error
	Issuances(ctx context.Context, f IssuanceFilter) ([]Issuance, error)

	// Revoke makes the revocations durable, assigns each its Seq in order,
	// and marks each revoked client or key as revoked at its At, in one
	// write: all or none. Sequence numbers follow commit
	// order across every process sharing the store: once a reader has seen
	// seq N, no revocation numbered below N can still commit.
	Revoke(ctx context.Context, rs ...*Revocation) error
	// Revocations returns revocations with Seq > after that still matter at now.
	Revocations(ctx context.Context, after int64, now time.Time) ([]*Revocation, error)

	// UseAssertion records a client assertion's jti; reusing one before exp
	// returns an error matching ErrConflict.
	UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) error

	CreateAdminCredential(ctx context.Context, a *AdminCredential) error
	AdminCredentialByHash(ctx context.Context, hash []byte) (*AdminCredential, error)
	AdminCredentials(ctx context.Context) ([]*AdminCredential, error)
	// RevokeAdminCredential marks the credential revoked at at, unless it
	// already is.
	RevokeAdminCredential(ctx context.Context, id string, at time.Time) error

	// AddCustody records custody and sets c.ID. Records are never changed.
	AddCustody(ctx context.Context, c *Custody) error
	// Custody returns the matching records, oldest first.
	Custody(ctx context.Context, f CustodyFilter) ([]*Custody, error)

	// SaveOffboarding inserts or replaces an offboarding run.
	SaveOffboarding(ctx context.Context, o *Offboarding) error
	// Offboardings returns the runs for a principal (all if empty), oldest
	// first; with unfinished, only those not finished.
	Offboardings(ctx context.Context, principalID string, unfinished bool) ([]*Offboarding, error)

	// AppendAudit stores audit records and the tree nodes they complete, in
	// one write. Records must continue the log without a gap.
	AppendAudit(ctx context.Context, recs []AuditRecord, nodes []AuditNode) error
	// AuditEntries returns stored audit records, oldest first unless f.Newest.
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// AuditSize is the number of audit records stored.
	AuditSize(ctx context.Context) (uint64, error)
	// AuditNodes returns the hashes of the named tree nodes, in order.
	AuditNodes(ctx context.Context, ids []AuditNode) ([][]byte, error)
	// SaveCheckpoint stores c unless a checkpoint of its size exists.
	SaveCheckpoint(ctx context.Context, c *Checkpoint) error
	// Checkpoints returns stored checkpoints, smallest first.
	Checkpoints(ctx context.Context) ([]*Checkpoint, error)

	// Setting and PutSetting keep small named values, such as the sealed
	// audit log key. PutSetting on an existing name returns ErrConflict.
	Setting(ctx context.Context, name string) ([]byte, error)
	PutSetting(ctx context.Context, name string, value []byte) error
	DeleteSetting(ctx context.Context, name string) error
	// ReplaceSetting sets name to value whether or not it exists.
	ReplaceSetting(ctx context.Context, name string, value []byte) error

	// CreateSSFStream stores st at version 1 and sets st.Version.
	CreateSSFStream(ctx context.Context, st *SSFStream) error
	SSFStream(ctx context.Context, id string) (*SSFStream, error)
	// SSFStreams returns every stream, oldest first.
	SSFStreams(ctx context.Context) ([]*SSFStream, error)
	// UpdateSSFStream stores everything of st but its cursor if the stored
	// version is still st.Version, then sets st.Version to the new one. A
	// stale version returns ErrConflict.
	UpdateSSFStream(ctx context.Context, st *SSFStream) error
	// DeleteSSFStream deletes a stream and its queue.
	DeleteSSFStream(ctx context.Context, id string) error
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

	// Prune deletes what no longer matters at now: used assertions and
	// revocations of tokens past their expiry.
	Prune(ctx context.Context, now time.Time) error

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

	Close() error
}

// Change names state that services cache in memory and must reload when
// another process sharing the store changes it.
type Change string

const (
	// ChangeRevocations follows Revoke.
	ChangeRevocations Change = "revocations"
	// ChangeKeys follows CreateRing, SaveKeys, DestroyKeyMaterial and the
	// revocation of a key.
	ChangeKeys Change = "keys"
	// ChangeSettings follows PutSetting, ReplaceSetting and DeleteSetting.
	ChangeSettings Change = "settings"
	// ChangeIdentity follows UpdatePrincipal, UpdateClient and
	// RevokeAdminCredential.
	ChangeIdentity Change = "identity"
	// ChangeAll means anything may have changed: reload everything.
	ChangeAll Change = "all"
)
