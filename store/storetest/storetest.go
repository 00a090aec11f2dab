// Package storetest owns the conformance suite for mayfly.Store: the
// behaviour every storage backend must show, checked only through the
// interface. A backend's own tests call Run; a backend that passes it is
// interchangeable with any other that does.
//
// The suite tests the contract, never one backend's schema or SQL. Where the
// contract in store.go leaves a choice open (the order of Clients, Rings and
// AdminCredentials; what reusing an expired but unpruned assertion does;
// whether "oldest" means first saved or earliest time, as the suite saves
// keys, custody records and offboarding runs in time order) it does not pin
// it down. Beyond the comments in store.go it holds backends to:
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
//     name, scopes, audiences, ring or keys.
//   - An admin credential's hash is unique, as it is looked up by hash. One
//     created without a role has mayfly.RoleAdmin.
//   - An offboarding run's Done and Actions round-trip; a store need not
//     tell a nil list from an empty one.
//   - Revocation sequence numbers start above zero and are never reused,
//     even after Prune, and Revocations returns them in ascending order.
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
//   - Lock and Watch coordinate the processes sharing a database. RunShared
//     checks them across two handles, for backends that several processes
//     may share.
package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes it when the subtest that opened it ends.
func Run(t *testing.T, open func(t *testing.T) mayfly.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s mayfly.Store)
	}{
		{"Principals/CreateAndFind", testPrincipalCreateAndFind},
		{"Principals/Duplicate", testPrincipalDuplicate},
		{"Principals/Missing", testPrincipalMissing},
		{"Principals/ListByName", testPrincipalList},
		{"Principals/Owner", testPrincipalOwner},
		{"Principals/Attributes", testPrincipalAttributes},
		{"Principals/Update", testPrincipalUpdate},
		{"Principals/UpdateStale", testPrincipalUpdateStale},
		{"Principals/UpdateRefused", testPrincipalUpdateRefused},
		{"Clients/RoundTrip", testClientRoundTrip},
		{"Clients/Duplicate", testClientDuplicate},
		{"Clients/Missing", testClientMissing},
		{"Clients/List", testClientList},
		{"Clients/References", testClientReferences},
		{"Clients/Update", testClientUpdate},
		{"Clients/UpdateRefused", testClientUpdateRefused},
		{"Rings/CreateAndGet", testRings},
		{"Keys/Insert", testKeysInsert},
		{"Keys/Update", testKeysUpdate},
		{"Keys/AllOrNone", testKeysAllOrNone},
		{"Keys/DestroyKeyMaterial", testKeysDestroy},
		{"Issuances/Filter", testIssuancesFilter},
		{"Issuances/UnknownReference", testIssuancesUnknownReference},
		{"Revocations/Seq", testRevocationSeq},
		{"Revocations/Client", testRevokeClient},
		{"Revocations/Key", testRevokeKey},
		{"Revocations/AfterAndNow", testRevocationsAfterAndNow},
		{"Revocations/Prune", testRevocationsPrune},
		{"UseAssertion", testUseAssertion},
		{"AdminCredentials", testAdminCredentials},
		{"AdminCredentials/RoleAndOwner", testAdminRoleAndOwner},
		{"AdminCredentials/Revoke", testAdminRevoke},
		{"Custody", testCustody},
		{"Custody/UnknownPrincipal", testCustodyUnknownPrincipal},
		{"Offboardings", testOffboardings},
		{"Audit/AppendAndRead", testAuditAppend},
		{"Audit/Gap", testAuditGap},
		{"Audit/Checkpoints", testAuditCheckpoints},
		{"Settings", testSettings},
		{"Lock/Excludes", testLockExcludes},
		{"Lock/Names", testLockNames},
		{"Lock/Cancel", testLockCancel},
		{"Watch", testWatch},
		{"Settings/Replace", testReplaceSetting},
		{"Revocations/Batch", testRevokeBatch},
		{"Watch/Identity", testWatchIdentity},
		{"Revocations/Cause", testRevocationCause},
		{"SSF/Streams/RoundTrip", testSSFStreamRoundTrip},
		{"SSF/Missing", testSSFMissing},
		{"SSF/Streams/Update", testSSFUpdate},
		{"SSF/Streams/Delete", testSSFDelete},
		{"SSF/Queue/Cursor", testSSFQueueCursor},
		{"SSF/Queue/Duplicate", testSSFQueueDuplicate},
		{"SSF/Queue/Pending", testSSFPending},
		{"SSF/Queue/Ack", testSSFAck},
		{"SSF/Queue/Defer", testSSFDefer},
		{"SSF/Queue/CursorRace", testSSFCursorRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
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

// Fixtures.

type world struct {
	alice, svc *mayfly.Principal
	ring       *mayfly.Ring
	kA, kB     *mayfly.Key
	cA, cB     *mayfly.Client
}

// seed creates two principals, a ring with two keys and two clients.
func seed(t *testing.T, s mayfly.Store) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{
		alice: &mayfly.Principal{ID: "prn-alice", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0.Add(fine)},
		svc:   &mayfly.Principal{ID: "prn-svc", Name: "billing", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: "prn-alice", CreatedAt: t0.Add(time.Second)},
		ring:  &mayfly.Ring{Name: "main", Alg: mayfly.ES256, Lifetime: 24 * time.Hour, CreatedAt: t0},
		kA:    newKey("kid-a", "main", t0.Add(fine)),
		kB:    newKey("kid-b", "main", t0.Add(24*time.Hour+fine)),
	}
	w.cA = newClient("cli-a", w.svc.ID, w.ring.Name)
	w.cB = newClient("cli-b", w.alice.ID, w.ring.Name)
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, w.alice))
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, w.svc))
	must(t, "CreateRing", s.CreateRing(ctx, w.ring))
	must(t, "SaveKeys", s.SaveKeys(ctx, []*mayfly.Key{w.kA, w.kB}))
	must(t, "CreateClient", s.CreateClient(ctx, w.cA))
	must(t, "CreateClient", s.CreateClient(ctx, w.cB))
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

func allKeys(t *testing.T, s mayfly.Store) []*mayfly.Key {
	t.Helper()
	keys, err := s.Keys(t.Context())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return keys
}

func mustClient(t *testing.T, s mayfly.Store, id string) *mayfly.Client {
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
	d.eq("KID", got.KID, want.KID)
	d.eq("ClientID", got.ClientID, want.ClientID)
	d.eq("PrincipalID", got.PrincipalID, want.PrincipalID)
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
	role := want.Role
	if role == "" {
		role = mayfly.RoleAdmin
	}
	d.eq("Role", got.Role, role)
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

// Principals.

func testPrincipalCreateAndFind(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	p := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Suspended, CreatedAt: t0.Add(fine).In(zone)}
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, p))
	for _, key := range []string{p.ID, p.Name} {
		got, err := s.Principal(ctx, key)
		if err != nil {
			t.Errorf("Principal(%q): %v", key, err)
			continue
		}
		diffPrincipal(got, p).report(t, fmt.Sprintf("Principal(%q)", key))
	}
}

func testPrincipalDuplicate(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	p := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, p))
	tests := []struct {
		name string
		p    *mayfly.Principal
	}{
		{"same name", &mayfly.Principal{ID: "prn-2", Name: "alice", Kind: mayfly.Service, Status: mayfly.Active, CreatedAt: t0}},
		{"same id", &mayfly.Principal{ID: "prn-1", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}},
	}
	for _, tt := range tests {
		wantErr(t, "CreatePrincipal with the "+tt.name, s.CreatePrincipal(ctx, tt.p), mayfly.ErrConflict)
	}
	got, err := s.Principal(ctx, "alice")
	if err != nil {
		t.Fatalf("Principal(alice): %v", err)
	}
	diffPrincipal(got, p).report(t, "Principal(alice) after rejected duplicates")
	if _, err := s.Principal(ctx, "bob"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("Principal(bob) after its rejected create: got error %v, want ErrNotFound", err)
	}
	all, err := s.Principals(ctx)
	must(t, "Principals", err)
	if len(all) != 1 {
		t.Errorf("Principals: got %d, want 1", len(all))
	}
}

func testPrincipalMissing(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	all, err := s.Principals(ctx)
	must(t, "Principals on an empty store", err)
	if len(all) != 0 {
		t.Errorf("Principals on an empty store: got %d, want 0", len(all))
	}
	_, err = s.Principal(ctx, "nobody")
	wantErr(t, "Principal(nobody) on an empty store", err, mayfly.ErrNotFound)
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}))
	for _, key := range []string{"nobody", "prn-", "alic", ""} {
		_, err := s.Principal(ctx, key)
		wantErr(t, fmt.Sprintf("Principal(%q)", key), err, mayfly.ErrNotFound)
	}
}

func testPrincipalList(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	// IDs and creation order both disagree with name order.
	want := []*mayfly.Principal{
		{ID: "prn-3", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0.Add(2 * time.Hour)},
		{ID: "prn-1", Name: "bob", Kind: mayfly.Human, Status: mayfly.Offboarded, CreatedAt: t0.Add(fine)},
		{ID: "prn-2", Name: "carol", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: "prn-1", CreatedAt: t0.Add(time.Hour)},
	}
	// carol is owned by bob, so she is created after him.
	for _, p := range []*mayfly.Principal{want[1], want[2], want[0]} {
		must(t, "CreatePrincipal "+p.Name, s.CreatePrincipal(ctx, p))
	}
	got, err := s.Principals(ctx)
	must(t, "Principals", err)
	diffList(t, "Principals", got, want, diffPrincipal)
}

func testPrincipalOwner(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	orphan := &mayfly.Principal{ID: "prn-svc", Name: "billing", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: "prn-nobody", CreatedAt: t0}
	if err := s.CreatePrincipal(ctx, orphan); err == nil {
		t.Errorf("CreatePrincipal owned by a missing principal: got nil error, want an error")
	}
	if _, err := s.Principal(ctx, orphan.ID); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("Principal(%q) after its rejected create: got error %v, want ErrNotFound", orphan.ID, err)
	}
	owner := &mayfly.Principal{ID: "prn-alice", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal owner", s.CreatePrincipal(ctx, owner))
	orphan.OwnerID = owner.ID
	must(t, "CreatePrincipal with an existing owner", s.CreatePrincipal(ctx, orphan))
	got, err := s.Principal(ctx, orphan.Name)
	must(t, "Principal", err)
	diffPrincipal(got, orphan).report(t, "Principal(billing)")
}

// Clients.

func testClientRoundTrip(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	full := &mayfly.Client{
		ID: "cli-full", Name: "full client", OwnerID: w.svc.ID,
		Scopes: []string{"b.write", "a.read", "c:admin"}, Audiences: []string{"https://z.example", "https://a.example/api"},
		TokenTTL: 17*time.Minute + 3*time.Second, Ring: w.ring.Name,
		SecretHash:      []byte{0x00, 0xff, 0x10, 0x80, 0x00, 0x7f, 0x01},
		JWKS:            json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`),
		CreatedAt:       t0.Add(fine).In(zone),
		SecretRotatedAt: t0.Add(time.Hour + fine),
		RevokedAt:       t0.Add(2*time.Hour + fine),
	}
	minimal := &mayfly.Client{
		ID: "cli-min", Name: "minimal", OwnerID: w.alice.ID, Scopes: []string{"only"}, Audiences: []string{"https://api.example"},
		TokenTTL: time.Minute, Ring: w.ring.Name, CreatedAt: t0,
	}
	for _, c := range []*mayfly.Client{full, minimal} {
		must(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
	}
	for _, want := range []*mayfly.Client{full, minimal, w.cA} {
		got, err := s.Client(ctx, want.ID)
		if err != nil {
			t.Errorf("Client(%q): %v", want.ID, err)
			continue
		}
		diffClient(got, want).report(t, fmt.Sprintf("Client(%q)", want.ID))
	}
	got := mustClient(t, s, minimal.ID)
	if len(got.SecretHash) != 0 || len(got.JWKS) != 0 || got.Revoked() {
		t.Errorf("Client(%q): got SecretHash %q, JWKS %q, revoked %v, want none of them", minimal.ID, got.SecretHash, got.JWKS, got.Revoked())
	}
}

func testClientDuplicate(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	dup := newClient(w.cA.ID, w.alice.ID, w.ring.Name)
	dup.Name = "impostor"
	wantErr(t, "CreateClient with an existing id", s.CreateClient(ctx, dup), mayfly.ErrConflict)
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "Client after a rejected duplicate")
}

func testClientMissing(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	_, err := s.Client(ctx, "cli-a")
	wantErr(t, "Client on an empty store", err, mayfly.ErrNotFound)
	all, err := s.Clients(ctx)
	must(t, "Clients on an empty store", err)
	if len(all) != 0 {
		t.Errorf("Clients on an empty store: got %d, want 0", len(all))
	}
	seed(t, s)
	for _, id := range []string{"cli-", "cli-c", ""} {
		_, err := s.Client(ctx, id)
		wantErr(t, fmt.Sprintf("Client(%q)", id), err, mayfly.ErrNotFound)
	}
}

func testClientList(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	c := newClient("cli-0", w.alice.ID, w.ring.Name)
	c.JWKS, c.SecretHash = json.RawMessage(`{"keys":[]}`), nil
	must(t, "CreateClient", s.CreateClient(ctx, c))
	got, err := s.Clients(ctx)
	must(t, "Clients", err)
	// The order of Clients is not part of the contract.
	byID := func(c *mayfly.Client) string { return c.ID }
	diffList(t, "Clients sorted by ID", sortedBy(got, byID), sortedBy([]*mayfly.Client{w.cA, w.cB, c}, byID), diffClient)
}

func testClientReferences(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	tests := []struct {
		name string
		c    *mayfly.Client
	}{
		{"a missing owner", newClient("cli-orphan", "prn-nobody", w.ring.Name)},
		{"a missing ring", newClient("cli-ringless", w.alice.ID, "no-such-ring")},
	}
	for _, tt := range tests {
		if err := s.CreateClient(ctx, tt.c); err == nil {
			t.Errorf("CreateClient with %s: got nil error, want an error", tt.name)
		}
		if _, err := s.Client(ctx, tt.c.ID); !errors.Is(err, mayfly.ErrNotFound) {
			t.Errorf("Client(%q) after its rejected create: got error %v, want ErrNotFound", tt.c.ID, err)
		}
	}
}

// Rings and keys.

func testRings(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	_, err := s.Ring(ctx, "main")
	wantErr(t, "Ring on an empty store", err, mayfly.ErrNotFound)
	rings := []*mayfly.Ring{
		{Name: "main", Alg: mayfly.ES256, Lifetime: 24 * time.Hour, CreatedAt: t0.Add(fine).In(zone)},
		{Name: "legacy", Alg: mayfly.RS256, Lifetime: 7*24*time.Hour + 90*time.Minute, CreatedAt: t0.Add(time.Hour)},
		{Name: "edge", Alg: mayfly.EdDSA, Lifetime: 5 * time.Minute, CreatedAt: t0.Add(-time.Hour)},
	}
	for _, r := range rings {
		must(t, "CreateRing "+r.Name, s.CreateRing(ctx, r))
	}
	dup := &mayfly.Ring{Name: "main", Alg: mayfly.RS256, Lifetime: time.Hour, CreatedAt: t0}
	wantErr(t, "CreateRing with an existing name", s.CreateRing(ctx, dup), mayfly.ErrConflict)
	for _, want := range rings {
		got, err := s.Ring(ctx, want.Name)
		if err != nil {
			t.Errorf("Ring(%q): %v", want.Name, err)
			continue
		}
		diffRing(got, want).report(t, fmt.Sprintf("Ring(%q)", want.Name))
	}
	_, err = s.Ring(ctx, "mai")
	wantErr(t, "Ring(mai)", err, mayfly.ErrNotFound)
	got, err := s.Rings(ctx)
	must(t, "Rings", err)
	byName := func(r *mayfly.Ring) string { return r.Name }
	diffList(t, "Rings sorted by name", sortedBy(got, byName), sortedBy(rings, byName), diffRing)
}

func testKeysInsert(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	if keys := allKeys(t, s); len(keys) != 0 {
		t.Errorf("Keys on an empty store: got %d, want 0", len(keys))
	}
	must(t, "CreateRing", s.CreateRing(ctx, &mayfly.Ring{Name: "a", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: t0}))
	must(t, "CreateRing", s.CreateRing(ctx, &mayfly.Ring{Name: "b", Alg: mayfly.EdDSA, Lifetime: time.Hour, CreatedAt: t0}))
	// Oldest first across rings; kids deliberately out of order.
	k1 := newKey("kid-z", "b", t0.Add(fine))
	k1.Alg = mayfly.EdDSA
	k2 := newKey("kid-m", "a", t0.Add(time.Hour+fine).In(zone))
	k2.RevokedAt = t0.Add(90*time.Minute + fine)
	k3 := newKey("kid-a", "a", t0.Add(2*time.Hour))
	k3.Sealed = nil
	must(t, "SaveKeys", s.SaveKeys(ctx, []*mayfly.Key{k1, k2}))
	must(t, "SaveKeys", s.SaveKeys(ctx, []*mayfly.Key{k3}))
	diffList(t, "Keys", allKeys(t, s), []*mayfly.Key{k1, k2, k3}, diffKey)
}

func testKeysUpdate(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	// Update the older key's windows and revoke it, and add a third key, in one call.
	a := *w.kA
	a.ActivateAt = a.ActivateAt.Add(-30 * time.Minute)
	a.DeactivateAt = t0.Add(3*time.Hour + fine)
	a.RetireAt = t0.Add(4*time.Hour + fine)
	a.RevokedAt = t0.Add(2*time.Hour + 7*time.Microsecond)
	kC := newKey("kid-c", w.ring.Name, t0.Add(48*time.Hour))
	must(t, "SaveKeys update", s.SaveKeys(ctx, []*mayfly.Key{&a, kC}))
	revoked := a
	revoked.Sealed = nil // a revoked key keeps no material
	diffList(t, "Keys after update", allKeys(t, s), []*mayfly.Key{&revoked, w.kB, kC}, diffKey)

	// A stale copy cannot undo the revocation or bring the material back.
	stale := *w.kA
	must(t, "SaveKeys stale copy", s.SaveKeys(ctx, []*mayfly.Key{&stale}))
	got := allKeys(t, s)[0]
	if !got.RevokedAt.Equal(revoked.RevokedAt) || len(got.Sealed) != 0 {
		t.Errorf("after saving a stale copy: revoked_at %v, %d bytes of material; want %v and none", got.RevokedAt, len(got.Sealed), revoked.RevokedAt)
	}
	a = *got

	// An update that moves a window back again is applied too: the store
	// keeps what it was given, not the latest time.
	b := *w.kB
	b.DeactivateAt = b.ActivateAt.Add(time.Minute)
	b.RetireAt = b.DeactivateAt.Add(time.Hour)
	must(t, "SaveKeys second update", s.SaveKeys(ctx, []*mayfly.Key{&b}))
	diffList(t, "Keys after second update", allKeys(t, s), []*mayfly.Key{&a, &b, kC}, diffKey)
}

func testKeysAllOrNone(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	a := *w.kA
	a.DeactivateAt = a.DeactivateAt.Add(time.Hour)
	a.RevokedAt = t0.Add(time.Hour)
	fresh := newKey("kid-new", w.ring.Name, t0.Add(48*time.Hour))
	bad := newKey("kid-bad", "no-such-ring", t0.Add(49*time.Hour))
	if err := s.SaveKeys(ctx, []*mayfly.Key{&a, fresh, bad}); err == nil {
		t.Fatalf("SaveKeys with a key of a missing ring: got nil error, want an error")
	}
	diffList(t, "Keys after a failed SaveKeys", allKeys(t, s), []*mayfly.Key{w.kA, w.kB}, diffKey)
	// The same keys without the bad one are accepted: the failure was the bad key's.
	must(t, "SaveKeys without the bad key", s.SaveKeys(ctx, []*mayfly.Key{&a, fresh}))
	a.Sealed = nil // revoked
	diffList(t, "Keys after SaveKeys", allKeys(t, s), []*mayfly.Key{&a, w.kB, fresh}, diffKey)
}

func testKeysDestroy(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	kC := newKey("kid-c", w.ring.Name, t0.Add(48*time.Hour))
	must(t, "SaveKeys", s.SaveKeys(ctx, []*mayfly.Key{kC}))
	must(t, "DestroyKeyMaterial", s.DestroyKeyMaterial(ctx, []string{w.kA.KID, kC.KID}))
	a, c := *w.kA, *kC
	a.Sealed, c.Sealed = nil, nil
	diffList(t, "Keys after DestroyKeyMaterial", allKeys(t, s), []*mayfly.Key{&a, w.kB, &c}, diffKey)
	must(t, "DestroyKeyMaterial again", s.DestroyKeyMaterial(ctx, []string{w.kA.KID}))
	diffList(t, "Keys after destroying again", allKeys(t, s), []*mayfly.Key{&a, w.kB, &c}, diffKey)
}

// Issuance records.

// issuance returns the record the token service writes for a token issued
// at at: a jti carrying the millisecond, IssuedAt and ExpiresAt in seconds.
func issuance(t *testing.T, at time.Time, kid string, c *mayfly.Client, ip string) mayfly.Issuance {
	t.Helper()
	jti, err := mayfly.NewJTI(at, rand.Reader)
	if err != nil {
		t.Fatalf("NewJTI: %v", err)
	}
	iat := at.Truncate(time.Second)
	return mayfly.Issuance{JTI: jti, KID: kid, ClientID: c.ID, PrincipalID: c.OwnerID, SourceIP: ip,
		UserAgent: "agent/" + ip, IssuedAt: iat, ExpiresAt: iat.Add(c.TokenTTL)}
}

func testIssuancesFilter(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	r1 := issuance(t, t0.Add(100*time.Millisecond), w.kA.KID, w.cA, "10.0.0.1")
	r2 := issuance(t, t0.Add(2500*time.Millisecond), w.kA.KID, w.cB, "10.0.0.2")
	r3 := issuance(t, t0.Add(4250*time.Millisecond), w.kB.KID, w.cA, "2001:db8::3")
	r4 := issuance(t, t0.Add(6900*time.Millisecond), w.kB.KID, w.cA, "10.0.0.4")
	r4.UserAgent = ""
	must(t, "RecordIssuances", s.RecordIssuances(ctx, []mayfly.Issuance{r1, r2}))
	must(t, "RecordIssuances", s.RecordIssuances(ctx, []mayfly.Issuance{r3, r4}))

	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name string
		f    mayfly.IssuanceFilter
		want []mayfly.Issuance // newest first
	}{
		{"all", mayfly.IssuanceFilter{}, []mayfly.Issuance{r4, r3, r2, r1}},
		{"client", mayfly.IssuanceFilter{ClientID: w.cA.ID}, []mayfly.Issuance{r4, r3, r1}},
		{"other client", mayfly.IssuanceFilter{ClientID: w.cB.ID}, []mayfly.Issuance{r2}},
		{"unknown client", mayfly.IssuanceFilter{ClientID: "cli-nobody"}, nil},
		{"kid", mayfly.IssuanceFilter{KID: w.kA.KID}, []mayfly.Issuance{r2, r1}},
		{"client and kid", mayfly.IssuanceFilter{ClientID: w.cA.ID, KID: w.kA.KID}, []mayfly.Issuance{r1}},
		{"jti", mayfly.IssuanceFilter{JTI: r3.JTI}, []mayfly.Issuance{r3}},
		{"jti of another client", mayfly.IssuanceFilter{JTI: r3.JTI, ClientID: w.cB.ID}, nil},
		{"unknown jti", mayfly.IssuanceFilter{JTI: "0000000000000000000000000z"}, nil},
		{"since", mayfly.IssuanceFilter{Since: at(3 * time.Second)}, []mayfly.Issuance{r4, r3}},
		{"until", mayfly.IssuanceFilter{Until: at(3 * time.Second)}, []mayfly.Issuance{r2, r1}},
		{"since and until", mayfly.IssuanceFilter{Since: at(time.Second), Until: at(5 * time.Second)}, []mayfly.Issuance{r3, r2}},
		{"since, other zone", mayfly.IssuanceFilter{Since: at(3 * time.Second).In(zone)}, []mayfly.Issuance{r4, r3}},
		// Bounds with a fraction of a second, as "--since 1h" makes: a
		// record issued in the bound's second but before it is before it.
		{"since mid-second", mayfly.IssuanceFilter{Since: at(2700 * time.Millisecond)}, []mayfly.Issuance{r4, r3}},
		{"until mid-second", mayfly.IssuanceFilter{Until: at(2700 * time.Millisecond)}, []mayfly.Issuance{r2, r1}},
		{"until mid-second after the newest", mayfly.IssuanceFilter{Until: at(6950 * time.Millisecond)}, []mayfly.Issuance{r4, r3, r2, r1}},
		{"until before everything", mayfly.IssuanceFilter{Until: at(-time.Hour)}, nil},
		{"since after everything", mayfly.IssuanceFilter{Since: at(time.Hour)}, nil},
		{"limit", mayfly.IssuanceFilter{Limit: 2}, []mayfly.Issuance{r4, r3}},
		{"limit above count", mayfly.IssuanceFilter{Limit: 10}, []mayfly.Issuance{r4, r3, r2, r1}},
		{"limit with filters", mayfly.IssuanceFilter{ClientID: w.cA.ID, Until: at(5 * time.Second), Limit: 1}, []mayfly.Issuance{r3}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			got, err := s.Issuances(ctx, tt.f)
			if err != nil {
				t.Fatalf("Issuances(%s): %v", fmtFilter(tt.f), err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("Issuances(%s): got %v, want %v", fmtFilter(tt.f), jtis(got), jtis(tt.want))
				return
			}
			for i := range got {
				diffIssuance(&got[i], &tt.want[i]).report(t, fmt.Sprintf("Issuances(%s)[%d]", fmtFilter(tt.f), i))
			}
		})
	}
}

func fmtFilter(f mayfly.IssuanceFilter) string {
	var parts []string
	for _, kv := range [][2]string{{"ClientID", f.ClientID}, {"KID", f.KID}, {"JTI", f.JTI}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+":"+kv[1])
		}
	}
	if !f.Since.IsZero() {
		parts = append(parts, "Since:"+fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "Until:"+fmtTime(f.Until))
	}
	if f.Limit != 0 {
		parts = append(parts, fmt.Sprintf("Limit:%d", f.Limit))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func jtis(recs []mayfly.Issuance) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s (issued %s)", r.JTI, r.IssuedAt.UTC().Format(time.TimeOnly)))
	}
	return out
}

func testIssuancesUnknownReference(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	good := issuance(t, t0, w.kA.KID, w.cA, "10.0.0.1")
	badKey := issuance(t, t0.Add(time.Second), "kid-nobody", w.cA, "10.0.0.2")
	badClient := issuance(t, t0.Add(2*time.Second), w.kA.KID, w.cA, "10.0.0.3")
	badClient.ClientID = "cli-nobody"
	tests := []struct {
		name string
		recs []mayfly.Issuance
	}{
		{"unknown key last", []mayfly.Issuance{good, badKey}},
		{"unknown key first", []mayfly.Issuance{badKey, good}},
		{"unknown client", []mayfly.Issuance{good, badClient}},
	}
	for _, tt := range tests {
		if err := s.RecordIssuances(ctx, tt.recs); err == nil {
			t.Errorf("RecordIssuances with an %s: got nil error, want an error", tt.name)
		}
		got, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
		must(t, "Issuances", err)
		if len(got) != 0 {
			t.Errorf("Issuances after a failed batch with an %s: got %v, want none", tt.name, jtis(got))
		}
	}
	must(t, "RecordIssuances of the good record alone", s.RecordIssuances(ctx, []mayfly.Issuance{good}))
	got, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
	must(t, "Issuances", err)
	diffList(t, "Issuances", toPtrs(got), toPtrs([]mayfly.Issuance{good}), diffIssuance)
}

func toPtrs[T any](v []T) []*T {
	out := make([]*T, len(v))
	for i := range v {
		out[i] = &v[i]
	}
	return out
}

// Revocations.

func revoke(t *testing.T, s mayfly.Store, r *mayfly.Revocation) *mayfly.Revocation {
	t.Helper()
	if err := s.Revoke(t.Context(), r); err != nil {
		t.Fatalf("Revoke(%s %s): %v", r.Kind, r.Subject, err)
	}
	return r
}

func revocations(t *testing.T, s mayfly.Store, after int64, now time.Time) []*mayfly.Revocation {
	t.Helper()
	got, err := s.Revocations(t.Context(), after, now)
	if err != nil {
		t.Fatalf("Revocations(%d, %s): %v", after, fmtTime(now), err)
	}
	return got
}

// fiveRevocations revokes a token, a client, a key, a principal and a second
// token, in that order.
func fiveRevocations(t *testing.T, s mayfly.Store, w *world) []*mayfly.Revocation {
	t.Helper()
	return []*mayfly.Revocation{
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-1", Until: t0.Add(time.Minute), At: t0.Add(fine), Reason: "leaked in a log"}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0.Add(time.Second + fine).In(zone), Reason: "decommissioned"}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0.Add(2*time.Second + fine)}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokePrincipal, Subject: w.svc.ID, At: t0.Add(3 * time.Second), Reason: "offboarded"}),
		revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-2", Until: t0.Add(10 * time.Minute), At: t0.Add(4 * time.Second), Reason: "stolen"}),
	}
}

func testRevocationSeq(t *testing.T, s mayfly.Store) {
	if got := revocations(t, s, 0, t0); len(got) != 0 {
		t.Errorf("Revocations on an empty store: got %d, want 0", len(got))
	}
	w := seed(t, s)
	revs := fiveRevocations(t, s, w)
	if revs[0].Seq <= 0 {
		t.Errorf("first Seq: got %d, want > 0", revs[0].Seq)
	}
	for i := 1; i < len(revs); i++ {
		if revs[i].Seq <= revs[i-1].Seq {
			t.Errorf("Seq of revocation %d: got %d, want > %d (revocation %d)", i, revs[i].Seq, revs[i-1].Seq, i-1)
		}
	}
	diffList(t, "Revocations(0, t0)", revocations(t, s, 0, t0), revs, diffRevocation)
}

func testRevokeClient(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	r := revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0.Add(time.Hour + fine), Reason: "compromised"})
	want := *w.cA
	want.RevokedAt = r.At
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "revoked client")
	if got := mustClient(t, s, w.cA.ID); !got.Revoked() {
		t.Errorf("revoked client: Revoked() = false, want true")
	}
	diffClient(mustClient(t, s, w.cB.ID), w.cB).report(t, "other client")
}

func testRevokeKey(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	r := revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0.Add(time.Hour + fine), Reason: "compromised"})
	a := *w.kA
	a.RevokedAt, a.Sealed = r.At, nil
	keys := allKeys(t, s)
	diffList(t, "Keys after revoking "+w.kA.KID, keys, []*mayfly.Key{&a, w.kB}, diffKey)
	if len(keys) > 0 && keys[0].State(t0) != mayfly.KeyRevoked {
		t.Errorf("revoked key state: got %s, want %s", keys[0].State(t0), mayfly.KeyRevoked)
	}
}

func testRevocationsAfterAndNow(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	revs := fiveRevocations(t, s, w)
	tok1, cli, key, prn, tok2 := revs[0], revs[1], revs[2], revs[3], revs[4]
	tests := []struct {
		name  string
		after int64
		now   time.Time
		want  []*mayfly.Revocation
	}{
		{"all", 0, t0, revs},
		{"after the client's", cli.Seq, t0, []*mayfly.Revocation{key, prn, tok2}},
		{"after the last", tok2.Seq, t0, nil},
		{"after a later seq", tok2.Seq + 1000, t0, nil},
		{"just before the first token expires", 0, tok1.Until.Add(-time.Microsecond), revs},
		{"as the first token expires", 0, tok1.Until, []*mayfly.Revocation{cli, key, prn, tok2}},
		{"as the second token expires", 0, tok2.Until, []*mayfly.Revocation{cli, key, prn}},
		{"much later", 0, t0.Add(24 * 365 * time.Hour), []*mayfly.Revocation{cli, key, prn}},
		{"after and now together", key.Seq, tok2.Until, []*mayfly.Revocation{prn}},
		{"now in another zone", 0, tok1.Until.In(zone), []*mayfly.Revocation{cli, key, prn, tok2}},
	}
	for _, tt := range tests {
		got := revocations(t, s, tt.after, tt.now)
		diffList(t, fmt.Sprintf("%s: Revocations(%d, %s)", tt.name, tt.after, fmtTime(tt.now)), got, tt.want, diffRevocation)
	}
}

func testRevocationsPrune(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	revs := fiveRevocations(t, s, w)
	_, cli, key, prn, tok2 := revs[0], revs[1], revs[2], revs[3], revs[4]

	// Pruning before anything expired removes nothing.
	must(t, "Prune(t0)", s.Prune(ctx, t0))
	diffList(t, "Revocations after Prune(t0)", revocations(t, s, 0, t0), revs, diffRevocation)

	// The first token expired: its revocation is gone even to a reader whose
	// clock says it still matters.
	must(t, "Prune(t0+5m)", s.Prune(ctx, t0.Add(5*time.Minute)))
	diffList(t, "Revocations(0, t0) after Prune(t0+5m)", revocations(t, s, 0, t0), []*mayfly.Revocation{cli, key, prn, tok2}, diffRevocation)

	// Long after: only revocations without an end remain.
	must(t, "Prune(t0+10y)", s.Prune(ctx, t0.Add(10*365*24*time.Hour)))
	diffList(t, "Revocations(0, t0) after Prune(t0+10y)", revocations(t, s, 0, t0), []*mayfly.Revocation{cli, key, prn}, diffRevocation)

	// The newest revocation was pruned; its sequence number is not reused,
	// or a reader that has seen it would miss the next one.
	next := revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-3", Until: t0.Add(time.Hour), At: t0.Add(5 * time.Second)})
	if next.Seq <= tok2.Seq {
		t.Errorf("Seq after pruning the newest revocation: got %d, want > %d", next.Seq, tok2.Seq)
	}
	diffList(t, fmt.Sprintf("Revocations(%d, t0)", tok2.Seq), revocations(t, s, tok2.Seq, t0), []*mayfly.Revocation{next}, diffRevocation)
}

// Client assertions.

func testUseAssertion(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	exp := t0.Add(time.Minute)
	steps := []struct {
		name   string
		prune  time.Time // if set, Prune at this time before the step
		client string
		jti    string
		exp    time.Time
		want   error // nil or mayfly.ErrConflict
	}{
		{name: "first use", client: w.cA.ID, jti: "assert-1", exp: exp},
		{name: "reuse", client: w.cA.ID, jti: "assert-1", exp: exp, want: mayfly.ErrConflict},
		{name: "reuse with another exp", client: w.cA.ID, jti: "assert-1", exp: exp.Add(time.Hour), want: mayfly.ErrConflict},
		{name: "same jti, other client", client: w.cB.ID, jti: "assert-1", exp: exp},
		{name: "other jti", client: w.cA.ID, jti: "assert-2", exp: exp.Add(time.Hour)},
		{name: "reuse after a prune before exp", prune: t0.Add(30 * time.Second), client: w.cA.ID, jti: "assert-1", exp: exp, want: mayfly.ErrConflict},
		{name: "reuse after a prune past exp", prune: exp.Add(time.Second), client: w.cA.ID, jti: "assert-1", exp: exp.Add(time.Hour)},
		{name: "other client's after a prune past exp", client: w.cB.ID, jti: "assert-1", exp: exp.Add(time.Hour)},
		{name: "later exp survives that prune", client: w.cA.ID, jti: "assert-2", exp: exp.Add(2 * time.Hour), want: mayfly.ErrConflict},
		{name: "reuse of the reused", client: w.cA.ID, jti: "assert-1", exp: exp.Add(time.Hour), want: mayfly.ErrConflict},
	}
	for _, st := range steps {
		if !st.prune.IsZero() {
			must(t, "Prune", s.Prune(ctx, st.prune))
		}
		err := s.UseAssertion(ctx, st.client, st.jti, st.exp)
		if st.want == nil {
			if err != nil {
				t.Errorf("%s: UseAssertion(%s, %s): got error %v, want nil", st.name, st.client, st.jti, err)
			}
			continue
		}
		wantErr(t, fmt.Sprintf("%s: UseAssertion(%s, %s)", st.name, st.client, st.jti), err, st.want)
	}
}

// Admin credentials.

func testAdminCredentials(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	_, err := s.AdminCredentialByHash(ctx, []byte("nothing"))
	wantErr(t, "AdminCredentialByHash on an empty store", err, mayfly.ErrNotFound)
	all, err := s.AdminCredentials(ctx)
	must(t, "AdminCredentials on an empty store", err)
	if len(all) != 0 {
		t.Errorf("AdminCredentials on an empty store: got %d, want 0", len(all))
	}
	creds := []*mayfly.AdminCredential{
		{ID: "adm-2", Name: "bootstrap", Hash: []byte{0x00, 0x01, 0xfe, 0xff}, CreatedAt: t0.Add(fine).In(zone)},
		{ID: "adm-1", Name: "ci", Hash: []byte{0x00, 0x01, 0xfe, 0xfe}, CreatedAt: t0.Add(time.Hour), RevokedAt: t0.Add(2*time.Hour + fine)},
	}
	for _, a := range creds {
		must(t, "CreateAdminCredential "+a.ID, s.CreateAdminCredential(ctx, a))
	}
	dupID := &mayfly.AdminCredential{ID: "adm-1", Name: "other", Hash: []byte("another hash"), CreatedAt: t0}
	wantErr(t, "CreateAdminCredential with an existing id", s.CreateAdminCredential(ctx, dupID), mayfly.ErrConflict)
	dupHash := &mayfly.AdminCredential{ID: "adm-3", Name: "other", Hash: creds[0].Hash, CreatedAt: t0}
	wantErr(t, "CreateAdminCredential with an existing hash", s.CreateAdminCredential(ctx, dupHash), mayfly.ErrConflict)
	for _, want := range creds {
		got, err := s.AdminCredentialByHash(ctx, want.Hash)
		if err != nil {
			t.Errorf("AdminCredentialByHash(%x): %v", want.Hash, err)
			continue
		}
		diffAdmin(got, want).report(t, fmt.Sprintf("AdminCredentialByHash(%x)", want.Hash))
	}
	for _, h := range [][]byte{[]byte("another hash"), {0x00, 0x01, 0xfe}, {0x00, 0x01, 0xfe, 0xff, 0x00}, nil} {
		_, err := s.AdminCredentialByHash(ctx, h)
		wantErr(t, fmt.Sprintf("AdminCredentialByHash(%x)", h), err, mayfly.ErrNotFound)
	}
	got, err := s.AdminCredentials(ctx)
	must(t, "AdminCredentials", err)
	byID := func(a *mayfly.AdminCredential) string { return a.ID }
	diffList(t, "AdminCredentials sorted by ID", sortedBy(got, byID), sortedBy(creds, byID), diffAdmin)
}
