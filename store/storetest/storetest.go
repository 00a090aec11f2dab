// Package storetest owns the conformance suites for the storage contract:
// the behaviour every storage backend must show, checked only through the
// interfaces of store.go. There is one suite per interface (Identity, Keys,
// Tokens, Refresh, Revocations, Offboardings, Audit, Settings, SSF, Pending, Ledger,
// Alerts, Coordination) and one for the unit of work across them (Tx);
// CoordinationShared, TxShared and LedgerShared check what two handles on
// one database, as two processes have, must see.
// Each suite takes a function that opens a new, empty store, typed as the
// interface it checks plus what its fixtures write through. A backend's own
// tests call Run and, if several processes may share its database,
// RunShared, which run every suite; a backend that passes them is
// interchangeable with any other that does.
//
// The suites test the contract, never one backend's schema or SQL. Every
// change is written through mayfly.Transact. Where the contract in store.go
// leaves a choice open (the order of Clients, Rings and AdminCredentials;
// what reusing an expired but unpruned assertion does; whether "oldest"
// means first saved or earliest time, as the suites save keys, custody
// records and offboarding runs in time order) they do not pin it down.
// Beyond the comments in store.go and tx.go they hold backends to:
//
//   - Times round-trip to within a microsecond (PostgreSQL's precision), in
//     whatever location, and a zero time stays zero. Issuance IssuedAt and
//     ExpiresAt are whole seconds, as in the token's iat and exp claims; the
//     suite only writes whole seconds there.
//   - References hold: a principal's owner, a client's owner and ring, a
//     key's ring, an issuance's key and client, an admin credential's owner
//     and a custody record's principal must exist.
//   - CreatePrincipal stores Version, 0 meaning 1, and sets it; each
//     UpdatePrincipal adds one. Updates store only the fields store.go
//     names: never a principal's kind or creation time, nor a client's
//     name, scopes, audiences, ring or keys. Principal names differ in more
//     than letter case, also when two transactions race to take one.
//   - The store keeps what it is given and decides nothing: an admin
//     credential's role as given, even none; a key's revocation time and
//     material as SaveKeys gives them, even from a stale copy; Revoke
//     stores revocations only, leaving clients and keys as they are.
//   - An admin credential's hash is unique, as it is looked up by hash.
//   - An offboarding run's Done and Actions round-trip; a store need not
//     tell a nil list from an empty one.
//   - Revocation sequence numbers start above zero and are never reused,
//     even after PruneRevocations, and Revocations returns them in
//     ascending order.
//   - Issuances bounds the issue time with Since and Until. Records carry
//     jtis from mayfly.NewJTI at the issue time, as the token service writes
//     them (the jti carries the millisecond, IssuedAt the second), so a store
//     may filter through the jti. No bound falls on a record's issue time,
//     so the suite fixes neither bound's inclusiveness, but a bound with a
//     fraction of a second must still order records issued in its second.
//   - A Shared Signals stream's EventsRequested and Excluded round-trip,
//     an empty list reading back as nil. QueueSETs does not change a
//     stream's Version: moving the cursor makes no copy stale. PendingSETs
//     and AckSETs of a stream that does not exist find nothing, without an
//     error; the other SSF methods return ErrNotFound for it, and DeferSET
//     also for a SET the stream does not hold. PendingSETs with a limit of
//     0 or less returns every due SET. After DeleteSSFStream, a stream
//     made again under the same id starts with an empty queue.
//   - A pending action's Params and Material round-trip, empty ones
//     reading back as nil; PendingActions lists the oldest request first.
//   - A ledger bucket's records round-trip as a set, whatever bytes
//     encoded it: a store may re-encode a bitmap. Services and Sources
//     read back as nil when empty. A ledger gap's times keep a microsecond.
//   - A transaction is all or nothing across concerns; a savepoint rolled
//     back undoes only what came after it, and the transaction goes on; a
//     change notice is delivered once its transaction commits, never
//     before and never for one rolled back; a transaction another store
//     began is refused with an error, not a panic; a transaction's writes
//     run under the context it began with.
//   - Lock and Watch coordinate the processes sharing a database, as do
//     Revoke's sequence numbers and AuditHead's append lock across
//     transactions: a later Revoke, or AuditHead, waits for the
//     transaction holding them to end.
package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// The stores each suite runs on: the interface it checks, with
// mayfly.TxStore to write, and what its fixtures need.
type (
	// IdentityStore creates rings too: a client names its key ring.
	IdentityStore interface {
		mayfly.IdentityStore
		mayfly.TxStore
		CreateRing(tx mayfly.Tx, r *mayfly.Ring) error
	}
	KeyStore interface {
		mayfly.KeyStore
		mayfly.TxStore
	}
	// TokenStore keeps identities and keys too: an issuance record
	// references its key, client and principal.
	TokenStore interface {
		mayfly.TokenStore
		mayfly.IdentityStore
		mayfly.KeyStore
		mayfly.TxStore
	}
	RevocationStore interface {
		mayfly.RevocationStore
		mayfly.TxStore
	}
	OffboardingStore interface {
		mayfly.OffboardingStore
		mayfly.TxStore
	}
	AuditStore interface {
		mayfly.AuditStore
		mayfly.TxStore
	}
	SettingStore interface {
		mayfly.SettingStore
		mayfly.TxStore
	}
	SSFStore interface {
		mayfly.SSFStore
		mayfly.TxStore
	}
	PendingStore interface {
		mayfly.PendingStore
		mayfly.TxStore
	}
)

// Run runs every suite on the stores open returns. open must return a new,
// empty store each time it is called; the suites close it when the subtest
// that opened it ends.
func Run(t *testing.T, open func(t *testing.T) mayfly.Store) {
	t.Helper()
	t.Run("Identity", func(t *testing.T) { Identity(t, func(t *testing.T) IdentityStore { return open(t) }) })
	t.Run("Keys", func(t *testing.T) { Keys(t, func(t *testing.T) KeyStore { return open(t) }) })
	t.Run("Tokens", func(t *testing.T) { Tokens(t, func(t *testing.T) TokenStore { return open(t) }) })
	t.Run("Refresh", func(t *testing.T) { Refresh(t, func(t *testing.T) RefreshStore { return open(t) }) })
	t.Run("Revocations", func(t *testing.T) { Revocations(t, func(t *testing.T) RevocationStore { return open(t) }) })
	t.Run("Offboardings", func(t *testing.T) { Offboardings(t, func(t *testing.T) OffboardingStore { return open(t) }) })
	t.Run("Audit", func(t *testing.T) { Audit(t, func(t *testing.T) AuditStore { return open(t) }) })
	t.Run("Settings", func(t *testing.T) { Settings(t, func(t *testing.T) SettingStore { return open(t) }) })
	t.Run("SSF", func(t *testing.T) { SSF(t, func(t *testing.T) SSFStore { return open(t) }) })
	t.Run("Pending", func(t *testing.T) { Pending(t, func(t *testing.T) PendingStore { return open(t) }) })
	t.Run("Ledger", func(t *testing.T) { Ledger(t, func(t *testing.T) LedgerStore { return open(t) }) })
	t.Run("Alerts", func(t *testing.T) { Alerts(t, func(t *testing.T) AlertStore { return open(t) }) })
	t.Run("Coordination", func(t *testing.T) { Coordination(t, open) })
	t.Run("Tx", func(t *testing.T) { Tx(t, open) })
}

// RunShared runs the checks that need two handles on one database, as two
// processes (replicas) have. open returns both handles; RunShared closes
// them.
func RunShared(t *testing.T, open func(t *testing.T) (mayfly.Store, mayfly.Store)) {
	t.Helper()
	t.Run("Coordination", func(t *testing.T) { CoordinationShared(t, open) })
	t.Run("Tx", func(t *testing.T) { TxShared(t, open) })
	t.Run("Ledger", func(t *testing.T) {
		LedgerShared(t, func(t *testing.T) (LedgerStore, LedgerStore) {
			a, b := open(t)
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		})
	})
	t.Run("Issuances", func(t *testing.T) {
		IssuancesShared(t, func(t *testing.T) (TokenStore, TokenStore) {
			a, b := open(t)
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		})
	})
	t.Run("Alerts", func(t *testing.T) {
		AlertsShared(t, func(t *testing.T) (AlertStore, AlertStore) {
			a, b := open(t)
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		})
	})
}

// test is one case of a suite on stores of type S.
type test[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// run runs each test on a store of its own, which it closes when the
// test ends if it can.
func run[S any](t *testing.T, open func(t *testing.T) S, tests []test[S]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if c, ok := any(s).(io.Closer); ok {
				t.Cleanup(func() {
					if err := c.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			tt.fn(t, s)
		})
	}
}

// runShared runs each test on two handles of one database, which it closes
// when the test ends.
func runShared(t *testing.T, open func(t *testing.T) (mayfly.Store, mayfly.Store), tests []test[[2]mayfly.Store]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() {
				a.Close() // some tests close a early; a second Close must be harmless
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, [2]mayfly.Store{a, b})
		})
	}
}

// t0 is the suite's reference time: whole microseconds, so that boundary
// comparisons are exact in every backend.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// fine is a sub-microsecond offset: times carrying it check that a store
// keeps at least microsecond precision, whether it truncates or rounds.
const fine = 123456789 * time.Nanosecond

// zone is a non-UTC location: a store must keep the instant, not the zone.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// Writing.

// commit runs fn in a transaction of s and commits it (mayfly.Transact).
func commit(t *testing.T, s mayfly.TxStore, fn func(tx mayfly.Tx) error) error {
	return mayfly.Transact(t.Context(), s, fn)
}

// do runs write(tx, v) in a transaction of its own and commits it.
func do[T any](t *testing.T, s mayfly.TxStore, write func(mayfly.Tx, T) error, v T) error {
	return commit(t, s, func(tx mayfly.Tx) error { return write(tx, v) })
}

// Fixtures.

type world struct {
	alice, svc *mayfly.Principal
	ring       *mayfly.Ring
	kA, kB     *mayfly.Key
	cA, cB     *mayfly.Client
}

// newWorld returns two principals, a ring with two keys and two clients,
// not yet stored.
func newWorld() *world {
	w := &world{
		alice: &mayfly.Principal{ID: "prn-alice", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0.Add(fine)},
		svc:   &mayfly.Principal{ID: "prn-svc", Name: "billing", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: "prn-alice", CreatedAt: t0.Add(time.Second)},
		ring:  &mayfly.Ring{Name: "main", Alg: mayfly.ES256, Lifetime: 24 * time.Hour, CreatedAt: t0},
		kA:    newKey("kid-a", "main", t0.Add(fine)),
		kB:    newKey("kid-b", "main", t0.Add(24*time.Hour+fine)),
	}
	w.cA = newClient("cli-a", w.svc.ID, w.ring.Name)
	w.cB = newClient("cli-b", w.alice.ID, w.ring.Name)
	return w
}

// seedIdentity stores the world's principals, ring and clients.
func seedIdentity(t *testing.T, s IdentityStore) *world {
	t.Helper()
	w := newWorld()
	must(t, "seed identities", commit(t, s, func(tx mayfly.Tx) error {
		return errors.Join(s.CreatePrincipal(tx, w.alice), s.CreatePrincipal(tx, w.svc), s.CreateRing(tx, w.ring),
			s.CreateClient(tx, w.cA), s.CreateClient(tx, w.cB))
	}))
	return w
}

// seedKeys stores the world's ring and keys.
func seedKeys(t *testing.T, s KeyStore) *world {
	t.Helper()
	w := newWorld()
	must(t, "seed keys", commit(t, s, func(tx mayfly.Tx) error {
		return errors.Join(s.CreateRing(tx, w.ring), s.SaveKeys(tx, []*mayfly.Key{w.kA, w.kB}))
	}))
	return w
}

// seed stores the whole world.
func seed(t *testing.T, s TokenStore) *world {
	t.Helper()
	w := newWorld()
	must(t, "seed", commit(t, s, func(tx mayfly.Tx) error {
		return errors.Join(s.CreatePrincipal(tx, w.alice), s.CreatePrincipal(tx, w.svc), s.CreateRing(tx, w.ring),
			s.SaveKeys(tx, []*mayfly.Key{w.kA, w.kB}), s.CreateClient(tx, w.cA), s.CreateClient(tx, w.cB))
	}))
	return w
}

func newKey(kid, ring string, created time.Time) *mayfly.Key {
	return &mayfly.Key{
		KID: kid, Ring: ring, Alg: mayfly.ES256,
		Public: []byte("public " + kid), Sealed: []byte("sealed " + kid),
		CreatedAt: created, ActivateAt: created.Add(time.Hour),
		DeactivateAt: created.Add(25 * time.Hour), RetireAt: created.Add(26 * time.Hour),
	}
}

func newClient(id, owner, ring string) *mayfly.Client {
	return &mayfly.Client{
		ID: id, Name: "client " + id, OwnerID: owner,
		Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{"https://api.example", "https://other.example"},
		TokenTTL: 5 * time.Minute, Ring: ring, SecretHash: []byte("hash of " + id), CreatedAt: t0.Add(fine),
	}
}

func allKeys(t *testing.T, s mayfly.KeyStore) []*mayfly.Key {
	t.Helper()
	keys, err := s.Keys(t.Context())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return keys
}

func mustClient(t *testing.T, s mayfly.IdentityStore, id string) *mayfly.Client {
	t.Helper()
	c, err := s.Client(t.Context(), id)
	if err != nil {
		t.Fatalf("Client(%q): %v", id, err)
	}
	return c
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails unless err matches target (mayfly.ErrNotFound or mayfly.ErrConflict).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one matching %v", what, err, target)
	}
}

// Comparison. A diff collects "field: got X, want Y" lines.

type diff []string

func (d *diff) add(field string, got, want any) {
	*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
}

func (d *diff) eq(field string, got, want any) {
	if got != want {
		d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
	}
}

func (d *diff) time(field string, got, want time.Time) {
	if !sameTime(got, want) {
		d.add(field, fmtTime(got), fmtTime(want))
	}
}

func (d *diff) bytes(field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
	}
}

func (d *diff) strings(field string, got, want []string) {
	if len(got) != 0 || len(want) != 0 {
		if !slices.Equal(got, want) {
			d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
		}
	}
}

func (d *diff) json(field string, got, want json.RawMessage) {
	if !jsonEqual(got, want) {
		d.add(field, string(got), string(want))
	}
}

func (d diff) report(t *testing.T, what string) {
	t.Helper()
	if len(d) > 0 {
		t.Errorf("%s:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// sameTime reports whether got is want to within a microsecond, a zero time
// matching only a zero time.
func sameTime(got, want time.Time) bool {
	if got.IsZero() || want.IsZero() {
		return got.IsZero() == want.IsZero()
	}
	d := got.Sub(want)
	return -time.Microsecond < d && d < time.Microsecond
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero time"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jsonEqual compares JSON documents by value, so a store may normalise them.
func jsonEqual(got, want json.RawMessage) bool {
	if len(got) == 0 || len(want) == 0 {
		return len(got) == len(want)
	}
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil {
		return bytes.Equal(got, want)
	}
	return reflect.DeepEqual(g, w)
}

func diffPrincipal(got, want *mayfly.Principal) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("Name", got.Name, want.Name)
	d.eq("Kind", got.Kind, want.Kind)
	d.eq("Status", got.Status, want.Status)
	d.eq("OwnerID", got.OwnerID, want.OwnerID)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.eq("ExternalID", got.ExternalID, want.ExternalID)
	d.eq("DisplayName", got.DisplayName, want.DisplayName)
	d.eq("Email", got.Email, want.Email)
	d.eq("SuspendedBy", got.SuspendedBy, want.SuspendedBy)
	d.time("SuspendedAt", got.SuspendedAt, want.SuspendedAt)
	if got.Version != want.Version {
		d.add("Version", got.Version, want.Version)
	}
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func diffClient(got, want *mayfly.Client) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("Name", got.Name, want.Name)
	d.eq("OwnerID", got.OwnerID, want.OwnerID)
	d.strings("Scopes", got.Scopes, want.Scopes)
	d.strings("Audiences", got.Audiences, want.Audiences)
	if got.TokenTTL != want.TokenTTL {
		d.add("TokenTTL", got.TokenTTL, want.TokenTTL)
	}
	d.eq("Ring", got.Ring, want.Ring)
	d.bytes("SecretHash", got.SecretHash, want.SecretHash)
	d.json("JWKS", got.JWKS, want.JWKS)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("SecretRotatedAt", got.SecretRotatedAt, want.SecretRotatedAt)
	d.time("RevokedAt", got.RevokedAt, want.RevokedAt)
	d.strings("Exchange", got.Exchange, want.Exchange)
	if got.Refresh != want.Refresh || got.RefreshIdle != want.RefreshIdle || got.RefreshAbsolute != want.RefreshAbsolute {
		d.add("Refresh", fmt.Sprint(got.Refresh, got.RefreshIdle, got.RefreshAbsolute), fmt.Sprint(want.Refresh, want.RefreshIdle, want.RefreshAbsolute))
	}
	d.eq("DPoP", string(got.DPoP), string(want.DPoP))
	if got.Public != want.Public {
		d.add("Public", got.Public, want.Public)
	}
	if got.Version != want.Version {
		d.add("Version", got.Version, want.Version)
	}
	return d
}

func diffRing(got, want *mayfly.Ring) diff {
	var d diff
	d.eq("Name", got.Name, want.Name)
	d.eq("Alg", got.Alg, want.Alg)
	if got.Lifetime != want.Lifetime {
		d.add("Lifetime", got.Lifetime, want.Lifetime)
	}
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	return d
}

func diffKey(got, want *mayfly.Key) diff {
	var d diff
	d.eq("KID", got.KID, want.KID)
	d.eq("Ring", got.Ring, want.Ring)
	d.eq("Alg", got.Alg, want.Alg)
	d.bytes("Public", got.Public, want.Public)
	d.bytes("Sealed", got.Sealed, want.Sealed)
	if want.Sealed == nil && got.Sealed != nil {
		d.add("Sealed", fmt.Sprintf("%q (non-nil)", got.Sealed), "nil")
	}
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ActivateAt", got.ActivateAt, want.ActivateAt)
	d.time("DeactivateAt", got.DeactivateAt, want.DeactivateAt)
	d.time("RetireAt", got.RetireAt, want.RetireAt)
	d.time("RevokedAt", got.RevokedAt, want.RevokedAt)
	return d
}

func diffIssuance(got, want *mayfly.Issuance) diff {
	var d diff
	d.eq("JTI", got.JTI, want.JTI)
	d.eq("Digest", got.Digest, want.Digest)
	d.eq("KID", got.KID, want.KID)
	d.eq("ClientID", got.ClientID, want.ClientID)
	d.eq("PrincipalID", got.PrincipalID, want.PrincipalID)
	d.eq("Subject", got.Subject, want.Subject)
	d.eq("Actor", got.Actor, want.Actor)
	d.eq("SessionID", got.SessionID, want.SessionID)
	d.eq("SourceIP", got.SourceIP, want.SourceIP)
	d.eq("UserAgent", got.UserAgent, want.UserAgent)
	d.time("IssuedAt", got.IssuedAt, want.IssuedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return d
}

func diffRevocation(got, want *mayfly.Revocation) diff {
	var d diff
	if got.Seq != want.Seq {
		d.add("Seq", got.Seq, want.Seq)
	}
	d.eq("Kind", got.Kind, want.Kind)
	d.eq("Subject", got.Subject, want.Subject)
	d.time("Until", got.Until, want.Until)
	d.time("At", got.At, want.At)
	d.eq("Reason", got.Reason, want.Reason)
	d.eq("Cause", got.Cause, want.Cause)
	return d
}

func diffAdmin(got, want *mayfly.AdminCredential) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("Name", got.Name, want.Name)
	d.eq("Role", got.Role, want.Role)
	d.eq("OwnerID", got.OwnerID, want.OwnerID)
	d.bytes("Hash", got.Hash, want.Hash)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("RevokedAt", got.RevokedAt, want.RevokedAt)
	return d
}

// diffList compares lists element by element with each, after the length.
func diffList[T any](t *testing.T, what string, got, want []T, each func(got, want T) diff) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d items, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		each(got[i], want[i]).report(t, fmt.Sprintf("%s[%d]", what, i))
	}
}

func sortedBy[T any](items []T, key func(T) string) []T {
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}
