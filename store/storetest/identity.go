package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Identity runs the suite of mayfly.IdentityStore: principals, clients,
// admin credentials and custody records.
func Identity(t *testing.T, open func(t *testing.T) IdentityStore) {
	t.Helper()
	run(t, open, []test[IdentityStore]{
		{"Principals/CreateAndFind", testPrincipalCreateAndFind},
		{"Principals/Duplicate", testPrincipalDuplicate},
		{"Principals/Missing", testPrincipalMissing},
		{"Principals/ListByName", testPrincipalList},
		{"Principals/Owner", testPrincipalOwner},
		{"Principals/Attributes", testPrincipalAttributes},
		{"Principals/Update", testPrincipalUpdate},
		{"Principals/UpdateStale", testPrincipalUpdateStale},
		{"Principals/UpdateRefused", testPrincipalUpdateRefused},
		{"Principals/NameCase", testPrincipalNameCase},
		{"Principals/NameCaseRace", testPrincipalNameCaseRace},
		{"Clients/RoundTrip", testClientRoundTrip},
		{"Clients/Duplicate", testClientDuplicate},
		{"Clients/Missing", testClientMissing},
		{"Clients/List", testClientList},
		{"Clients/Owned", testClientOwned},
		{"Clients/References", testClientReferences},
		{"Clients/Update", testClientUpdate},
		{"Clients/UpdateRefused", testClientUpdateRefused},
		{"Clients/UpdateMany", testClientUpdateMany},
		{"Clients/Revoke", testClientRevoke},
		{"AdminCredentials", testAdminCredentials},
		{"AdminCredentials/RoleAndOwner", testAdminRoleAndOwner},
		{"AdminCredentials/Revoke", testAdminRevoke},
		{"Custody", testCustody},
		{"Custody/UnknownPrincipal", testCustodyUnknownPrincipal},
		{"Names", testNames},
	})
}

func testPrincipalCreateAndFind(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	p := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Suspended, CreatedAt: t0.Add(fine).In(zone)}
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, p))
	for _, key := range []string{p.ID, p.Name} {
		got, err := s.Principal(ctx, key)
		if err != nil {
			t.Errorf("Principal(%q): %v", key, err)
			continue
		}
		diffPrincipal(got, p).report(t, fmt.Sprintf("Principal(%q)", key))
	}
}

func testPrincipalDuplicate(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	p := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, p))
	tests := []struct {
		name string
		p    *mayfly.Principal
	}{
		{"same name", &mayfly.Principal{ID: "prn-2", Name: "alice", Kind: mayfly.Service, Status: mayfly.Active, CreatedAt: t0}},
		{"same id", &mayfly.Principal{ID: "prn-1", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}},
	}
	for _, tt := range tests {
		wantErr(t, "CreatePrincipal with the "+tt.name, do(t, s, s.CreatePrincipal, tt.p), mayfly.ErrConflict)
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

func testPrincipalMissing(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	all, err := s.Principals(ctx)
	must(t, "Principals on an empty store", err)
	if len(all) != 0 {
		t.Errorf("Principals on an empty store: got %d, want 0", len(all))
	}
	_, err = s.Principal(ctx, "nobody")
	wantErr(t, "Principal(nobody) on an empty store", err, mayfly.ErrNotFound)
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}))
	for _, key := range []string{"nobody", "prn-", "alic", ""} {
		_, err := s.Principal(ctx, key)
		wantErr(t, fmt.Sprintf("Principal(%q)", key), err, mayfly.ErrNotFound)
	}
}

func testPrincipalList(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	// IDs and creation order both disagree with name order.
	want := []*mayfly.Principal{
		{ID: "prn-3", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0.Add(2 * time.Hour)},
		{ID: "prn-1", Name: "bob", Kind: mayfly.Human, Status: mayfly.Offboarded, CreatedAt: t0.Add(fine)},
		{ID: "prn-2", Name: "carol", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: "prn-1", CreatedAt: t0.Add(time.Hour)},
	}
	// carol is owned by bob, so she is created after him.
	for _, p := range []*mayfly.Principal{want[1], want[2], want[0]} {
		must(t, "CreatePrincipal "+p.Name, do(t, s, s.CreatePrincipal, p))
	}
	got, err := s.Principals(ctx)
	must(t, "Principals", err)
	diffList(t, "Principals", got, want, diffPrincipal)
}

func testPrincipalOwner(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	orphan := &mayfly.Principal{ID: "prn-svc", Name: "billing", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: "prn-nobody", CreatedAt: t0}
	if err := do(t, s, s.CreatePrincipal, orphan); err == nil {
		t.Errorf("CreatePrincipal owned by a missing principal: got nil error, want an error")
	}
	if _, err := s.Principal(ctx, orphan.ID); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("Principal(%q) after its rejected create: got error %v, want ErrNotFound", orphan.ID, err)
	}
	owner := &mayfly.Principal{ID: "prn-alice", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal owner", do(t, s, s.CreatePrincipal, owner))
	orphan.OwnerID = owner.ID
	must(t, "CreatePrincipal with an existing owner", do(t, s, s.CreatePrincipal, orphan))
	got, err := s.Principal(ctx, orphan.Name)
	must(t, "Principal", err)
	diffPrincipal(got, orphan).report(t, "Principal(billing)")
}

func testPrincipalAttributes(t *testing.T, s IdentityStore) {
	full := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Suspended, CreatedAt: t0.Add(fine).In(zone),
		ExternalID: "00u1a2b3c4D5e6F7", DisplayName: "Zoë Ünal-Liddell", Email: "alice@example.com",
		SuspendedBy: "adm-scim", SuspendedAt: t0.Add(30*time.Minute + fine).In(zone), UpdatedAt: t0.Add(time.Hour + fine).In(zone)}
	bare := &mayfly.Principal{ID: "prn-2", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	// A principal carried over from elsewhere keeps the version it has.
	carried := &mayfly.Principal{ID: "prn-3", Name: "carol", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: full.ID, CreatedAt: t0, Version: 7}
	tests := []struct {
		p       *mayfly.Principal
		version int64
	}{
		{full, 1},
		{bare, 1},
		{carried, 7},
	}
	for _, tt := range tests {
		must(t, "CreatePrincipal "+tt.p.Name, do(t, s, s.CreatePrincipal, tt.p))
		if tt.p.Version != tt.version {
			t.Errorf("CreatePrincipal %s: Version set to %d, want %d", tt.p.Name, tt.p.Version, tt.version)
		}
	}
	for _, tt := range tests {
		for _, key := range []string{tt.p.ID, tt.p.Name} {
			diffPrincipal(mustPrincipal(t, s, key), tt.p).report(t, fmt.Sprintf("Principal(%q)", key))
		}
	}
	diffList(t, "Principals", allPrincipals(t, s), []*mayfly.Principal{full, bare, carried}, diffPrincipal)
}

func testPrincipalUpdate(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	bob := &mayfly.Principal{ID: "prn-bob", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, bob))

	p := mustPrincipal(t, s, w.svc.ID)
	if p.Version != 1 {
		t.Fatalf("Principal(%q) as created: Version %d, want 1", w.svc.ID, p.Version)
	}
	p.Name, p.Status, p.OwnerID = "billing-v2", mayfly.Suspended, bob.ID
	p.ExternalID, p.DisplayName, p.Email = "ext-billing", "Billing", "billing@example.com"
	p.SuspendedBy, p.SuspendedAt = "adm-1", t0.Add(90*time.Minute+fine).In(zone)
	p.UpdatedAt = t0.Add(2*time.Hour + fine).In(zone)
	want := *p
	want.Version = 2
	// An update changes neither the kind nor the creation time.
	p.Kind, p.CreatedAt = mayfly.Human, t0.Add(48*time.Hour)
	must(t, "UpdatePrincipal", do(t, s, s.UpdatePrincipal, p))
	if p.Version != 2 {
		t.Errorf("UpdatePrincipal: Version set to %d, want 2", p.Version)
	}
	for _, key := range []string{want.ID, want.Name} {
		diffPrincipal(mustPrincipal(t, s, key), &want).report(t, fmt.Sprintf("Principal(%q) after UpdatePrincipal", key))
	}
	_, err := s.Principal(ctx, w.svc.Name)
	wantErr(t, fmt.Sprintf("Principal(%q), the name before the update", w.svc.Name), err, mayfly.ErrNotFound)

	// Attributes, the owner and the suspension can be cleared, and every
	// update counts.
	q := want
	q.OwnerID, q.ExternalID, q.DisplayName, q.Email = "", "", "", ""
	q.SuspendedBy, q.SuspendedAt = "", time.Time{}
	q.Status, q.UpdatedAt = mayfly.Offboarded, t0.Add(3*time.Hour)
	must(t, "UpdatePrincipal clearing attributes", do(t, s, s.UpdatePrincipal, &q))
	if q.Version != 3 {
		t.Errorf("second UpdatePrincipal: Version set to %d, want 3", q.Version)
	}
	diffPrincipal(mustPrincipal(t, s, q.ID), &q).report(t, "Principal after clearing attributes")

	// The name the update gave up is free again.
	again := &mayfly.Principal{ID: "prn-billing", Name: w.svc.Name, Kind: mayfly.Service, Status: mayfly.Active, OwnerID: w.alice.ID, CreatedAt: t0}
	must(t, "CreatePrincipal with the name given up", do(t, s, s.CreatePrincipal, again))
	diffList(t, "Principals", allPrincipals(t, s), []*mayfly.Principal{w.alice, again, &q, bob}, diffPrincipal)
}

func testPrincipalUpdateStale(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	// Two readers of the same version.
	a, b := mustPrincipal(t, s, w.alice.ID), mustPrincipal(t, s, w.alice.ID)
	a.DisplayName, a.UpdatedAt = "Alice A", t0.Add(time.Hour)
	must(t, "UpdatePrincipal of the first reader", do(t, s, s.UpdatePrincipal, a))

	b.Name, b.DisplayName, b.Email, b.Status, b.UpdatedAt = "alice-b", "Alice B", "b@example.com", mayfly.Suspended, t0.Add(2*time.Hour)
	wantErr(t, "UpdatePrincipal of the second reader, at version 1", do(t, s, s.UpdatePrincipal, b), mayfly.ErrConflict)
	if b.Version != 1 {
		t.Errorf("refused UpdatePrincipal: Version set to %d, want it left at 1", b.Version)
	}
	diffPrincipal(mustPrincipal(t, s, w.alice.ID), a).report(t, "Principal after a stale update")
	_, err := s.Principal(ctx, "alice-b")
	wantErr(t, "Principal(alice-b), the name of a refused update", err, mayfly.ErrNotFound)

	// A version from the future is as wrong as one from the past.
	c := *a
	c.Version, c.Name = a.Version+5, "alice-c"
	wantErr(t, "UpdatePrincipal at a version not yet reached", do(t, s, s.UpdatePrincipal, &c), mayfly.ErrConflict)
	diffPrincipal(mustPrincipal(t, s, w.alice.ID), a).report(t, "Principal after an update at a future version")

	// Reading again gives the current version, and the update goes through.
	b = mustPrincipal(t, s, w.alice.ID)
	b.Email = "b@example.com"
	must(t, "UpdatePrincipal after reading again", do(t, s, s.UpdatePrincipal, b))
	if b.Version != 3 {
		t.Errorf("UpdatePrincipal after reading again: Version set to %d, want 3", b.Version)
	}
	diffPrincipal(mustPrincipal(t, s, w.alice.ID), b).report(t, "Principal after reading again and updating")
	diffPrincipal(mustPrincipal(t, s, w.svc.ID), w.svc).report(t, "other principal")
}

func testPrincipalUpdateRefused(t *testing.T, s IdentityStore) {
	w := seedIdentity(t, s)
	missing := &mayfly.Principal{ID: "prn-nobody", Name: "nobody", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0, Version: 1}
	taken := *w.alice
	taken.Name, taken.DisplayName = w.svc.Name, "renamed"
	orphaned := *w.svc
	orphaned.OwnerID, orphaned.DisplayName = "prn-nobody", "orphaned"
	tests := []struct {
		name string
		p    *mayfly.Principal
		want error // nil: any error
	}{
		{"a missing principal", missing, mayfly.ErrNotFound},
		{"a name another principal has", &taken, mayfly.ErrConflict},
		{"a missing owner", &orphaned, nil},
	}
	for _, tt := range tests {
		err := do(t, s, s.UpdatePrincipal, tt.p)
		switch {
		case tt.want != nil:
			wantErr(t, "UpdatePrincipal of "+tt.name, err, tt.want)
		case err == nil:
			t.Errorf("UpdatePrincipal of %s: got nil error, want an error", tt.name)
		}
		if tt.p.Version != 1 {
			t.Errorf("refused UpdatePrincipal of %s: Version set to %d, want it left at 1", tt.name, tt.p.Version)
		}
	}
	diffList(t, "Principals after refused updates", allPrincipals(t, s), []*mayfly.Principal{w.alice, w.svc}, diffPrincipal)
}

func testClientRoundTrip(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	full := &mayfly.Client{
		ID: "cli-full", Name: "full client", OwnerID: w.svc.ID,
		Scopes: []string{"b.write", "a.read", "c:admin"}, Audiences: []string{"https://z.example", "https://a.example/api"},
		TokenTTL: 17*time.Minute + 3*time.Second, Ring: w.ring.Name,
		SecretHash:      []byte{0x00, 0xff, 0x10, 0x80, 0x00, 0x7f, 0x01},
		JWKS:            json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`),
		CreatedAt:       t0.Add(fine).In(zone),
		SecretRotatedAt: t0.Add(time.Hour + fine),
		RevokedAt:       t0.Add(2*time.Hour + fine),
		Exchange:        []string{"customer", "partner"},
		Refresh:         true, RefreshIdle: 36*time.Hour + time.Second, RefreshAbsolute: 30 * 24 * time.Hour,
		DPoP: mayfly.DPoPRequired, Public: true,
	}
	minimal := &mayfly.Client{
		ID: "cli-min", Name: "minimal", OwnerID: w.alice.ID, Scopes: []string{"only"}, Audiences: []string{"https://api.example"},
		TokenTTL: time.Minute, Ring: w.ring.Name, CreatedAt: t0,
	}
	for _, c := range []*mayfly.Client{full, minimal} {
		must(t, "CreateClient "+c.ID, do(t, s, s.CreateClient, c))
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

func testClientDuplicate(t *testing.T, s IdentityStore) {
	w := seedIdentity(t, s)
	dup := newClient(w.cA.ID, w.alice.ID, w.ring.Name)
	dup.Name = "impostor"
	wantErr(t, "CreateClient with an existing id", do(t, s, s.CreateClient, dup), mayfly.ErrConflict)
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "Client after a rejected duplicate")
}

func testClientMissing(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	_, err := s.Client(ctx, "cli-a")
	wantErr(t, "Client on an empty store", err, mayfly.ErrNotFound)
	all, err := s.Clients(ctx)
	must(t, "Clients on an empty store", err)
	if len(all) != 0 {
		t.Errorf("Clients on an empty store: got %d, want 0", len(all))
	}
	seedIdentity(t, s)
	for _, id := range []string{"cli-", "cli-c", ""} {
		_, err := s.Client(ctx, id)
		wantErr(t, fmt.Sprintf("Client(%q)", id), err, mayfly.ErrNotFound)
	}
}

func testClientList(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	c := newClient("cli-0", w.alice.ID, w.ring.Name)
	c.JWKS, c.SecretHash = json.RawMessage(`{"keys":[]}`), nil
	must(t, "CreateClient", do(t, s, s.CreateClient, c))
	got, err := s.Clients(ctx)
	must(t, "Clients", err)
	// The order of Clients is not part of the contract.
	byID := func(c *mayfly.Client) string { return c.ID }
	diffList(t, "Clients sorted by ID", sortedBy(got, byID), sortedBy([]*mayfly.Client{w.cA, w.cB, c}, byID), diffClient)
}

func testClientOwned(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	bob := &mayfly.Principal{ID: "prn-bob", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, bob))
	must(t, "CreateClient", do(t, s, s.CreateClient, newClient("cli-bob", bob.ID, w.ring.Name)))
	byID := func(c *mayfly.Client) string { return c.ID }
	ps, cs, err := s.Owned(ctx, w.alice.ID)
	must(t, "Owned(alice)", err)
	diffList(t, "Owned(alice) principals", ps, []*mayfly.Principal{w.svc}, diffPrincipal)
	// Her own client and her service's; not bob's.
	diffList(t, "Owned(alice) clients", sortedBy(cs, byID), []*mayfly.Client{w.cA, w.cB}, diffClient)
	ps, cs, err = s.Owned(ctx, w.svc.ID)
	must(t, "Owned(billing)", err)
	diffList(t, "Owned(billing) principals", ps, nil, diffPrincipal)
	diffList(t, "Owned(billing) clients", cs, []*mayfly.Client{w.cA}, diffClient)
	if ps, cs, err := s.Owned(ctx, "prn-nobody"); err != nil || len(ps) != 0 || len(cs) != 0 {
		t.Errorf("Owned of an unknown principal: %v, %d, %d; want nothing", err, len(ps), len(cs))
	}
}

func testClientReferences(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	tests := []struct {
		name string
		c    *mayfly.Client
	}{
		{"a missing owner", newClient("cli-orphan", "prn-nobody", w.ring.Name)},
		{"a missing ring", newClient("cli-ringless", w.alice.ID, "no-such-ring")},
	}
	for _, tt := range tests {
		if err := do(t, s, s.CreateClient, tt.c); err == nil {
			t.Errorf("CreateClient with %s: got nil error, want an error", tt.name)
		}
		if _, err := s.Client(ctx, tt.c.ID); !errors.Is(err, mayfly.ErrNotFound) {
			t.Errorf("Client(%q) after its rejected create: got error %v, want ErrNotFound", tt.c.ID, err)
		}
	}
}

func testClientUpdate(t *testing.T, s IdentityStore) {
	w := seedIdentity(t, s)
	c := *w.cA
	c.OwnerID = w.alice.ID
	c.SecretHash = []byte{0x00, 0xff, 0x7f, 0x80, 0x00}
	c.SecretRotatedAt = t0.Add(time.Hour + fine).In(zone)
	want := c
	// An update stores only the owner, the secret and the revocation time.
	c.Name, c.Scopes, c.Audiences = "renamed", []string{"everything"}, []string{"https://elsewhere.example"}
	c.TokenTTL, c.JWKS, c.CreatedAt = time.Hour, json.RawMessage(`{"keys":[]}`), t0.Add(48*time.Hour)
	must(t, "UpdateClient", do(t, s, s.UpdateClient, &c))
	if c.Version != w.cA.Version+1 || mustClient(t, s, w.cA.ID).Version != c.Version {
		t.Errorf("versions after UpdateClient: caller's %d, stored %d; want %d", c.Version, mustClient(t, s, w.cA.ID).Version, w.cA.Version+1)
	}
	want.Version = c.Version
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "Client after UpdateClient")

	// An update from a copy read before that one is refused and changes nothing.
	stale := *w.cA
	stale.SecretHash = []byte("stale hash")
	wantErr(t, "UpdateClient from a stale copy", do(t, s, s.UpdateClient, &stale), mayfly.ErrConflict)
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "Client after a stale update")
	diffClient(mustClient(t, s, w.cB.ID), w.cB).report(t, "other client")

	// The secret can be taken away.
	want.SecretHash, want.SecretRotatedAt = nil, t0.Add(2*time.Hour)
	c = want
	must(t, "UpdateClient removing the secret", do(t, s, s.UpdateClient, &c))
	want.Version = c.Version
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "Client after removing its secret")

	// An update stores the revocation time it is given too (see
	// testClientRevoke).
	diffClient(mustClient(t, s, w.cB.ID), w.cB).report(t, "other client after the updates")
}

// testClientUpdateMany: UpdateClients updates each client as UpdateClient
// would; one stale or missing fails it with that one's error, and its
// transaction then commits nothing.
func testClientUpdateMany(t *testing.T, s IdentityStore) {
	w := seedIdentity(t, s)
	a, b := *w.cA, *w.cB
	a.SecretHash, b.SecretHash = []byte("new a"), []byte("new b")
	a.RevokedAt = t0.Add(time.Hour)
	must(t, "UpdateClients", do(t, s, s.UpdateClients, []*mayfly.Client{&a, &b}))
	if a.Version != w.cA.Version+1 || b.Version != w.cB.Version+1 {
		t.Errorf("versions after UpdateClients: %d, %d; want %d, %d", a.Version, b.Version, w.cA.Version+1, w.cB.Version+1)
	}
	diffClient(mustClient(t, s, w.cA.ID), &a).report(t, "first client after UpdateClients")
	diffClient(mustClient(t, s, w.cB.ID), &b).report(t, "second client after UpdateClients")

	// The second is stale: the first's update is not kept either.
	a2, stale := a, *w.cB
	a2.SecretHash, stale.SecretHash = []byte("newer a"), []byte("stale b")
	wantErr(t, "UpdateClients with a stale copy", do(t, s, s.UpdateClients, []*mayfly.Client{&a2, &stale}), mayfly.ErrConflict)
	diffClient(mustClient(t, s, w.cA.ID), &a).report(t, "first client after a refused UpdateClients")
	diffClient(mustClient(t, s, w.cB.ID), &b).report(t, "second client after a refused UpdateClients")

	missing := newClient("cli-nobody", w.alice.ID, w.ring.Name)
	wantErr(t, "UpdateClients with a missing client", do(t, s, s.UpdateClients, []*mayfly.Client{missing}), mayfly.ErrNotFound)
	must(t, "UpdateClients of none", do(t, s, s.UpdateClients, nil))
}

func testClientUpdateRefused(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	missing := newClient("cli-nobody", w.alice.ID, w.ring.Name)
	wantErr(t, "UpdateClient of a missing client", do(t, s, s.UpdateClient, missing), mayfly.ErrNotFound)
	_, err := s.Client(ctx, missing.ID)
	wantErr(t, "Client(cli-nobody) after its refused update", err, mayfly.ErrNotFound)

	orphaned := *w.cA
	orphaned.OwnerID, orphaned.SecretHash = "prn-nobody", []byte("orphan hash")
	wantErr(t, "UpdateClient with a missing owner", do(t, s, s.UpdateClient, &orphaned), mayfly.ErrNotFound)
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "Client after an update with a missing owner")
}

func testAdminCredentials(t *testing.T, s IdentityStore) {
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
		must(t, "CreateAdminCredential "+a.ID, do(t, s, s.CreateAdminCredential, a))
	}
	dupID := &mayfly.AdminCredential{ID: "adm-1", Name: "other", Hash: []byte("another hash"), CreatedAt: t0}
	wantErr(t, "CreateAdminCredential with an existing id", do(t, s, s.CreateAdminCredential, dupID), mayfly.ErrConflict)
	dupHash := &mayfly.AdminCredential{ID: "adm-3", Name: "other", Hash: creds[0].Hash, CreatedAt: t0}
	wantErr(t, "CreateAdminCredential with an existing hash", do(t, s, s.CreateAdminCredential, dupHash), mayfly.ErrConflict)
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

func testAdminRoleAndOwner(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	alice := &mayfly.Principal{ID: "prn-alice", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, alice))
	creds := []*mayfly.AdminCredential{
		{ID: "adm-1", Name: "bootstrap", Hash: []byte("hash 1"), CreatedAt: t0}, // no role: the store keeps none; choosing one is the service's
		{ID: "adm-2", Name: "okta", Role: mayfly.RoleSCIM, Hash: []byte("hash 2"), CreatedAt: t0.Add(time.Hour)},
		{ID: "adm-3", Name: "alice's", Role: mayfly.RoleAdmin, OwnerID: alice.ID, Hash: []byte("hash 3"), CreatedAt: t0.Add(2*time.Hour + fine).In(zone)},
		{ID: "adm-4", Name: "alice's scim", Role: mayfly.RoleSCIM, OwnerID: alice.ID, Hash: []byte("hash 4"), CreatedAt: t0.Add(3 * time.Hour)},
	}
	for _, a := range creds {
		must(t, "CreateAdminCredential "+a.ID, do(t, s, s.CreateAdminCredential, a))
	}
	orphan := &mayfly.AdminCredential{ID: "adm-5", Name: "orphan", OwnerID: "prn-nobody", Hash: []byte("hash 5"), CreatedAt: t0}
	wantErr(t, "CreateAdminCredential owned by a missing principal", do(t, s, s.CreateAdminCredential, orphan), mayfly.ErrNotFound)
	_, err := s.AdminCredentialByHash(ctx, orphan.Hash)
	wantErr(t, "AdminCredentialByHash of the refused credential", err, mayfly.ErrNotFound)

	for _, want := range creds {
		got, err := s.AdminCredentialByHash(ctx, want.Hash)
		if err != nil {
			t.Errorf("AdminCredentialByHash(%q): %v", want.Hash, err)
			continue
		}
		diffAdmin(got, want).report(t, fmt.Sprintf("AdminCredentialByHash(%q)", want.Hash))
	}
	diffList(t, "AdminCredentials sorted by ID", allAdmins(t, s), creds, diffAdmin)
}

func testAdminRevoke(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	a1 := &mayfly.AdminCredential{ID: "adm-1", Name: "one", Hash: []byte("hash 1"), CreatedAt: t0}
	a2 := &mayfly.AdminCredential{ID: "adm-2", Name: "two", Role: mayfly.RoleSCIM, Hash: []byte("hash 2"), CreatedAt: t0}
	a3 := &mayfly.AdminCredential{ID: "adm-3", Name: "three", Hash: []byte("hash 3"), CreatedAt: t0, RevokedAt: t0.Add(30 * time.Minute)}
	for _, a := range []*mayfly.AdminCredential{a1, a2, a3} {
		must(t, "CreateAdminCredential "+a.ID, do(t, s, s.CreateAdminCredential, a))
	}
	at := t0.Add(time.Hour + fine).In(zone)
	must(t, "RevokeAdminCredential", revokeAdmin(t, s, a1.ID, at))
	want := *a1
	want.RevokedAt = at
	diffList(t, "AdminCredentials after a revocation", allAdmins(t, s), []*mayfly.AdminCredential{&want, a2, a3}, diffAdmin)

	// Revoking again, later or earlier, keeps the first time.
	must(t, "RevokeAdminCredential again, later", revokeAdmin(t, s, a1.ID, at.Add(time.Hour)))
	must(t, "RevokeAdminCredential again, earlier", revokeAdmin(t, s, a1.ID, t0))
	must(t, "RevokeAdminCredential of one created revoked", revokeAdmin(t, s, a3.ID, at))
	wantErr(t, "RevokeAdminCredential of a missing credential", revokeAdmin(t, s, "adm-nobody", at), mayfly.ErrNotFound)
	diffList(t, "AdminCredentials after revoking again", allAdmins(t, s), []*mayfly.AdminCredential{&want, a2, a3}, diffAdmin)
	got, err := s.AdminCredentialByHash(ctx, a1.Hash)
	must(t, "AdminCredentialByHash", err)
	diffAdmin(got, &want).report(t, "AdminCredentialByHash of the revoked credential")
}

func diffCustody(got, want *mayfly.Custody) diff {
	var d diff
	if got.ID != want.ID {
		d.add("ID", got.ID, want.ID)
	}
	d.eq("PrincipalID", got.PrincipalID, want.PrincipalID)
	d.eq("Asset", got.Asset, want.Asset)
	d.eq("AssetID", got.AssetID, want.AssetID)
	d.eq("Kind", got.Kind, want.Kind)
	d.eq("Reason", got.Reason, want.Reason)
	d.eq("Actor", got.Actor, want.Actor)
	d.time("At", got.At, want.At)
	return d
}

func custody(t *testing.T, s mayfly.IdentityStore, f mayfly.CustodyFilter) []*mayfly.Custody {
	t.Helper()
	got, err := s.Custody(t.Context(), f)
	if err != nil {
		t.Fatalf("Custody(%+v): %v", f, err)
	}
	return got
}

func testCustody(t *testing.T, s IdentityStore) {
	if got := custody(t, s, mayfly.CustodyFilter{}); len(got) != 0 {
		t.Errorf("Custody on an empty store: got %d records, want 0", len(got))
	}
	w := seedIdentity(t, s)
	alice, svc := w.alice.ID, w.svc.ID
	// Added in time order.
	recs := []*mayfly.Custody{
		{PrincipalID: alice, Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyCreated, Actor: "mayfly", At: t0.Add(fine).In(zone)},
		{PrincipalID: svc, Asset: mayfly.AssetClientSecret, AssetID: w.cA.ID, Kind: mayfly.CustodyShown, Reason: "created the client", Actor: "adm-1", At: t0.Add(time.Second)},
		{PrincipalID: alice, Asset: mayfly.AssetClientSecret, AssetID: w.cA.ID, Kind: mayfly.CustodyShown, Actor: "adm-1", At: t0.Add(2*time.Second + fine)},
		{PrincipalID: alice, Asset: mayfly.AssetRootKey, AssetID: mayfly.RootKeyAsset, Kind: mayfly.CustodyOperator, Actor: "mayfly", At: t0.Add(3 * time.Second)},
		{PrincipalID: svc, Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyAdmin, Actor: "adm-1", At: t0.Add(4 * time.Second)},
		{PrincipalID: alice, Asset: mayfly.AssetClientSecret, AssetID: w.cB.ID, Kind: mayfly.CustodyGranted, Reason: "kept in a vault", Actor: "adm-2", At: t0.Add(5 * time.Second)},
		{PrincipalID: alice, Asset: mayfly.AssetRing, AssetID: "other", Kind: mayfly.CustodyBreakGlass, Reason: "incident 42", Actor: "adm-1", At: t0.Add(6 * time.Second)},
	}
	for i, c := range recs {
		must(t, "AddCustody", do(t, s, s.AddCustody, c))
		switch {
		case i == 0 && c.ID <= 0:
			t.Errorf("AddCustody: first ID %d, want > 0", c.ID)
		case i > 0 && c.ID <= recs[i-1].ID:
			t.Errorf("AddCustody: ID %d after %d, want it greater", c.ID, recs[i-1].ID)
		}
	}
	r := recs
	tests := []struct {
		name string
		f    mayfly.CustodyFilter
		want []*mayfly.Custody
	}{
		{"all", mayfly.CustodyFilter{}, r},
		{"principal", mayfly.CustodyFilter{PrincipalID: alice}, []*mayfly.Custody{r[0], r[2], r[3], r[5], r[6]}},
		{"other principal", mayfly.CustodyFilter{PrincipalID: svc}, []*mayfly.Custody{r[1], r[4]}},
		{"unknown principal", mayfly.CustodyFilter{PrincipalID: "prn-nobody"}, nil},
		{"asset", mayfly.CustodyFilter{Asset: mayfly.AssetRing}, []*mayfly.Custody{r[0], r[4], r[6]}},
		{"asset and id", mayfly.CustodyFilter{Asset: mayfly.AssetRing, AssetID: w.ring.Name}, []*mayfly.Custody{r[0], r[4]}},
		{"client secret", mayfly.CustodyFilter{Asset: mayfly.AssetClientSecret, AssetID: w.cA.ID}, []*mayfly.Custody{r[1], r[2]}},
		{"root key", mayfly.CustodyFilter{Asset: mayfly.AssetRootKey, AssetID: mayfly.RootKeyAsset}, []*mayfly.Custody{r[3]}},
		{"asset id alone", mayfly.CustodyFilter{AssetID: w.cA.ID}, []*mayfly.Custody{r[1], r[2]}},
		{"asset and unknown id", mayfly.CustodyFilter{Asset: mayfly.AssetRing, AssetID: "nothing"}, nil},
		{"asset id of another asset", mayfly.CustodyFilter{Asset: mayfly.AssetRing, AssetID: w.cA.ID}, nil},
		{"principal and asset", mayfly.CustodyFilter{PrincipalID: alice, Asset: mayfly.AssetClientSecret}, []*mayfly.Custody{r[2], r[5]}},
		{"principal, asset and id", mayfly.CustodyFilter{PrincipalID: alice, Asset: mayfly.AssetRing, AssetID: w.ring.Name}, []*mayfly.Custody{r[0]}},
		{"principal without that asset", mayfly.CustodyFilter{PrincipalID: svc, Asset: mayfly.AssetRootKey}, nil},
	}
	for _, tt := range tests {
		diffList(t, fmt.Sprintf("%s: Custody(%+v)", tt.name, tt.f), custody(t, s, tt.f), tt.want, diffCustody)
	}
}

func testCustodyUnknownPrincipal(t *testing.T, s IdentityStore) {
	w := seedIdentity(t, s)
	bad := &mayfly.Custody{PrincipalID: "prn-nobody", Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyGranted, Actor: "adm-1", At: t0}
	wantErr(t, "AddCustody for a missing principal", do(t, s, s.AddCustody, bad), mayfly.ErrNotFound)
	if got := custody(t, s, mayfly.CustodyFilter{}); len(got) != 0 {
		t.Errorf("Custody after a refused AddCustody: got %d records, want 0", len(got))
	}
	good := &mayfly.Custody{PrincipalID: w.alice.ID, Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyGranted, Actor: "adm-1", At: t0}
	must(t, "AddCustody", do(t, s, s.AddCustody, good))
	diffList(t, "Custody", custody(t, s, mayfly.CustodyFilter{}), []*mayfly.Custody{good}, diffCustody)
}

func mustPrincipal(t *testing.T, s mayfly.IdentityStore, idOrName string) *mayfly.Principal {
	t.Helper()
	p, err := s.Principal(t.Context(), idOrName)
	if err != nil {
		t.Fatalf("Principal(%q): %v", idOrName, err)
	}
	return p
}

func allPrincipals(t *testing.T, s IdentityStore) []*mayfly.Principal {
	t.Helper()
	all, err := s.Principals(t.Context())
	if err != nil {
		t.Fatalf("Principals: %v", err)
	}
	return all
}

func allAdmins(t *testing.T, s IdentityStore) []*mayfly.AdminCredential {
	t.Helper()
	all, err := s.AdminCredentials(t.Context())
	if err != nil {
		t.Fatalf("AdminCredentials: %v", err)
	}
	byID := func(a *mayfly.AdminCredential) string { return a.ID }
	return sortedBy(all, byID)
}

func revokeAdmin(t *testing.T, s IdentityStore, id string, at time.Time) error {
	return commit(t, s, func(tx mayfly.Tx) error { return s.RevokeAdminCredential(tx, id, at) })
}

// testPrincipalNameCase: a name is taken whatever its letter case, by a
// create or by a rename, but a principal may change the case of its own.
func testPrincipalNameCase(t *testing.T, s IdentityStore) {
	alice := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	bob := &mayfly.Principal{ID: "prn-2", Name: "bob.smith@example.com", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, alice))
	must(t, "CreatePrincipal", do(t, s, s.CreatePrincipal, bob))
	for i, name := range []string{"Alice", "ALICE", "aLiCe", "Bob.Smith@Example.COM"} {
		p := &mayfly.Principal{ID: fmt.Sprintf("prn-x%d", i), Name: name, Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
		wantErr(t, "CreatePrincipal "+name, do(t, s, s.CreatePrincipal, p), mayfly.ErrConflict)
		if _, err := s.Principal(t.Context(), p.ID); !errors.Is(err, mayfly.ErrNotFound) {
			t.Errorf("Principal(%q) after its refused create: got error %v, want ErrNotFound", p.ID, err)
		}
	}

	b := mustPrincipal(t, s, bob.ID)
	b.Name = "ALICE"
	wantErr(t, "UpdatePrincipal renaming bob to ALICE", do(t, s, s.UpdatePrincipal, b), mayfly.ErrConflict)
	if b.Version != 1 {
		t.Errorf("refused UpdatePrincipal: Version set to %d, want it left at 1", b.Version)
	}
	a := mustPrincipal(t, s, alice.ID)
	a.Name = "Alice"
	must(t, "UpdatePrincipal renaming alice to Alice", do(t, s, s.UpdatePrincipal, a))
	diffPrincipal(mustPrincipal(t, s, "Alice"), a).report(t, "Principal(Alice) after the rename")

	// Names that differ in more than case are distinct.
	other := &mayfly.Principal{ID: "prn-3", Name: "alice.2", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: alice.ID, CreatedAt: t0}
	must(t, "CreatePrincipal alice.2", do(t, s, s.CreatePrincipal, other))
	diffList(t, "Principals", allPrincipals(t, s), []*mayfly.Principal{a, other, bob}, diffPrincipal)
}

func testPrincipalNameCaseRace(t *testing.T, s IdentityStore) {
	testPrincipalNameRace(t, []IdentityStore{s, s})
}

// testPrincipalNameRace has transactions on the handles given create, and
// rename to, names that differ only in letter case, all at once and each
// held open a moment after its write: exactly one of each round commits,
// and the others get ErrConflict.
func testPrincipalNameRace(t *testing.T, stores []IdentityStore) {
	const writers = 4
	race := func(what string, write func(i int, s IdentityStore, tx mayfly.Tx) error) {
		t.Helper()
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			s := stores[i%len(stores)]
			wg.Go(func() {
				<-start
				errs[i] = commit(t, s, func(tx mayfly.Tx) error {
					if err := write(i, s, tx); err != nil {
						return err
					}
					time.Sleep(20 * time.Millisecond) // keep the name taken but not committed
					return nil
				})
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, mayfly.ErrConflict):
				t.Errorf("%s: writer %d: %v; want nil or ErrConflict", what, i, err)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d writers committed; want exactly 1", what, won)
		}
	}
	cases := []string{"carol", "Carol", "CAROL", "cArOl"}
	race("creates", func(i int, s IdentityStore, tx mayfly.Tx) error {
		return s.CreatePrincipal(tx, &mayfly.Principal{ID: fmt.Sprintf("prn-c%d", i), Name: cases[i], Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0})
	})
	var ps []*mayfly.Principal
	for i := range writers {
		p := &mayfly.Principal{ID: fmt.Sprintf("prn-d%d", i), Name: fmt.Sprintf("dave-%d", i), Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
		must(t, "CreatePrincipal", do(t, stores[0], stores[0].CreatePrincipal, p))
		ps = append(ps, p)
	}
	race("renames", func(i int, s IdentityStore, tx mayfly.Tx) error {
		p := *ps[i]
		p.Name = []string{"dave", "Dave", "DAVE", "dAvE"}[i]
		return s.UpdatePrincipal(tx, &p)
	})
	all := allPrincipals(t, stores[len(stores)-1])
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	if len(all) != 1+writers {
		t.Errorf("Principals after the races: %q; want one carol and %d daves, one of them renamed", names, writers)
	}
}

// testClientRevoke: UpdateClient stores the revocation time it is given,
// as it stores a secret, and a copy read before the revocation cannot
// undo it. Revoke does not mark a client (see testRevokeLeavesClient): the
// service revokes it with UpdateClient in the same transaction.
func testClientRevoke(t *testing.T, s IdentityStore) {
	w := seedIdentity(t, s)
	before := *mustClient(t, s, w.cB.ID)
	c := before
	c.RevokedAt = t0.Add(3*time.Hour + fine).In(zone)
	must(t, "UpdateClient revoking", do(t, s, s.UpdateClient, &c))
	want := c
	diffClient(mustClient(t, s, w.cB.ID), &want).report(t, "revoked Client")
	if !mustClient(t, s, w.cB.ID).Revoked() {
		t.Errorf("revoked client: Revoked() = false, want true")
	}

	stale := before
	stale.SecretHash, stale.SecretRotatedAt = []byte("new hash"), t0.Add(4*time.Hour)
	wantErr(t, "UpdateClient from a copy read before the revocation", do(t, s, s.UpdateClient, &stale), mayfly.ErrConflict)
	diffClient(mustClient(t, s, w.cB.ID), &want).report(t, "revoked Client after a stale update")

	// An update made from the revoked client keeps its revocation.
	c.SecretHash, c.SecretRotatedAt = []byte("new hash"), t0.Add(4*time.Hour)
	must(t, "UpdateClient of a revoked client", do(t, s, s.UpdateClient, &c))
	want = c
	diffClient(mustClient(t, s, w.cB.ID), &want).report(t, "revoked Client after UpdateClient")

	// The store keeps what it is given: whether a revocation may be
	// cleared is the service's to decide.
	c.RevokedAt = time.Time{}
	must(t, "UpdateClient clearing the revocation", do(t, s, s.UpdateClient, &c))
	diffClient(mustClient(t, s, w.cB.ID), &c).report(t, "Client after clearing its revocation")
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "other client")
}

// SuspensionBackfilled checks what a backend's migration 0006 makes of a
// database from before principals recorded who suspended them, seeded with
// prn_a (name a, suspended, its principal.suspended entries by adm_old and
// then, at at, by adm_scim) and prn_b (name b, active, with a stray
// principal.suspended entry by adm_x): a records its latest suspension,
// and b none.
func SuspensionBackfilled(t *testing.T, s mayfly.IdentityStore, at time.Time) {
	t.Helper()
	ctx := context.Background()
	a, err := s.Principal(ctx, "a")
	if err != nil || a.SuspendedBy != "adm_scim" || !a.SuspendedAt.Equal(at) {
		t.Errorf("suspended principal after the migration: %+v, %v; want suspended by adm_scim at %s, its latest suspension", a, err, at)
	}
	b, err := s.Principal(ctx, "b")
	if err != nil || b.SuspendedBy != "" || !b.SuspendedAt.IsZero() {
		t.Errorf("active principal after the migration: %+v, %v; want no suspension recorded", b, err)
	}
}

// testNames: principals, clients and admin credentials are named by ID in
// one call, IDs of nothing are left out, and more IDs than one query takes
// are all answered.
func testNames(t *testing.T, s IdentityStore) {
	ctx := t.Context()
	w := seedIdentity(t, s)
	cred := &mayfly.AdminCredential{ID: "adm-ops", Name: "Zoë's laptop", Hash: []byte("names hash"), CreatedAt: t0}
	must(t, "CreateAdminCredential", do(t, s, s.CreateAdminCredential, cred))
	got, err := s.Names(ctx, nil)
	must(t, "Names(nil)", err)
	if len(got) != 0 {
		t.Errorf("Names(nil): got %v, want none", got)
	}
	ids := []string{w.alice.ID, w.cA.ID, "prn-nobody", cred.ID, w.svc.ID, w.alice.ID, "", "mayfly"}
	// Enough unknown IDs in front that the known ones fall past the
	// first few hundred.
	var many []string
	for i := range 450 {
		many = append(many, fmt.Sprintf("prn-unknown-%d", i))
	}
	for _, in := range [][]string{ids, append(many, ids...)} {
		got, err := s.Names(ctx, in)
		must(t, "Names", err)
		want := map[string]string{w.alice.ID: "alice", w.svc.ID: "billing", w.cA.ID: w.cA.Name, cred.ID: "Zoë's laptop"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Names of %d IDs: got %v, want %v", len(in), got, want)
		}
	}
}
