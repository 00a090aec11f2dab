package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Principal versions and provider attributes, client and admin credential
// updates, custody records and offboarding runs.

func mustPrincipal(t *testing.T, s mayfly.Store, idOrName string) *mayfly.Principal {
	t.Helper()
	p, err := s.Principal(t.Context(), idOrName)
	if err != nil {
		t.Fatalf("Principal(%q): %v", idOrName, err)
	}
	return p
}

func allPrincipals(t *testing.T, s mayfly.Store) []*mayfly.Principal {
	t.Helper()
	all, err := s.Principals(t.Context())
	if err != nil {
		t.Fatalf("Principals: %v", err)
	}
	return all
}

func allAdmins(t *testing.T, s mayfly.Store) []*mayfly.AdminCredential {
	t.Helper()
	all, err := s.AdminCredentials(t.Context())
	if err != nil {
		t.Fatalf("AdminCredentials: %v", err)
	}
	byID := func(a *mayfly.AdminCredential) string { return a.ID }
	return sortedBy(all, byID)
}

// Principals.

func testPrincipalAttributes(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	full := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0.Add(fine).In(zone),
		ExternalID: "00u1a2b3c4D5e6F7", DisplayName: "Zoë Ünal-Liddell", Email: "alice@example.com", UpdatedAt: t0.Add(time.Hour + fine).In(zone)}
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
		must(t, "CreatePrincipal "+tt.p.Name, s.CreatePrincipal(ctx, tt.p))
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

func testPrincipalUpdate(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	bob := &mayfly.Principal{ID: "prn-bob", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, bob))

	p := mustPrincipal(t, s, w.svc.ID)
	if p.Version != 1 {
		t.Fatalf("Principal(%q) as created: Version %d, want 1", w.svc.ID, p.Version)
	}
	p.Name, p.Status, p.OwnerID = "billing-v2", mayfly.Suspended, bob.ID
	p.ExternalID, p.DisplayName, p.Email = "ext-billing", "Billing", "billing@example.com"
	p.UpdatedAt = t0.Add(2*time.Hour + fine).In(zone)
	want := *p
	want.Version = 2
	// An update changes neither the kind nor the creation time.
	p.Kind, p.CreatedAt = mayfly.Human, t0.Add(48*time.Hour)
	must(t, "UpdatePrincipal", s.UpdatePrincipal(ctx, p))
	if p.Version != 2 {
		t.Errorf("UpdatePrincipal: Version set to %d, want 2", p.Version)
	}
	for _, key := range []string{want.ID, want.Name} {
		diffPrincipal(mustPrincipal(t, s, key), &want).report(t, fmt.Sprintf("Principal(%q) after UpdatePrincipal", key))
	}
	_, err := s.Principal(ctx, w.svc.Name)
	wantErr(t, fmt.Sprintf("Principal(%q), the name before the update", w.svc.Name), err, mayfly.ErrNotFound)

	// Attributes and the owner can be cleared, and every update counts.
	q := want
	q.OwnerID, q.ExternalID, q.DisplayName, q.Email = "", "", "", ""
	q.Status, q.UpdatedAt = mayfly.Offboarded, t0.Add(3*time.Hour)
	must(t, "UpdatePrincipal clearing attributes", s.UpdatePrincipal(ctx, &q))
	if q.Version != 3 {
		t.Errorf("second UpdatePrincipal: Version set to %d, want 3", q.Version)
	}
	diffPrincipal(mustPrincipal(t, s, q.ID), &q).report(t, "Principal after clearing attributes")

	// The name the update gave up is free again.
	again := &mayfly.Principal{ID: "prn-billing", Name: w.svc.Name, Kind: mayfly.Service, Status: mayfly.Active, OwnerID: w.alice.ID, CreatedAt: t0}
	must(t, "CreatePrincipal with the name given up", s.CreatePrincipal(ctx, again))
	diffList(t, "Principals", allPrincipals(t, s), []*mayfly.Principal{w.alice, again, &q, bob}, diffPrincipal)
}

func testPrincipalUpdateStale(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	// Two readers of the same version.
	a, b := mustPrincipal(t, s, w.alice.ID), mustPrincipal(t, s, w.alice.ID)
	a.DisplayName, a.UpdatedAt = "Alice A", t0.Add(time.Hour)
	must(t, "UpdatePrincipal of the first reader", s.UpdatePrincipal(ctx, a))

	b.Name, b.DisplayName, b.Email, b.Status, b.UpdatedAt = "alice-b", "Alice B", "b@example.com", mayfly.Suspended, t0.Add(2*time.Hour)
	wantErr(t, "UpdatePrincipal of the second reader, at version 1", s.UpdatePrincipal(ctx, b), mayfly.ErrConflict)
	if b.Version != 1 {
		t.Errorf("refused UpdatePrincipal: Version set to %d, want it left at 1", b.Version)
	}
	diffPrincipal(mustPrincipal(t, s, w.alice.ID), a).report(t, "Principal after a stale update")
	_, err := s.Principal(ctx, "alice-b")
	wantErr(t, "Principal(alice-b), the name of a refused update", err, mayfly.ErrNotFound)

	// A version from the future is as wrong as one from the past.
	c := *a
	c.Version, c.Name = a.Version+5, "alice-c"
	wantErr(t, "UpdatePrincipal at a version not yet reached", s.UpdatePrincipal(ctx, &c), mayfly.ErrConflict)
	diffPrincipal(mustPrincipal(t, s, w.alice.ID), a).report(t, "Principal after an update at a future version")

	// Reading again gives the current version, and the update goes through.
	b = mustPrincipal(t, s, w.alice.ID)
	b.Email = "b@example.com"
	must(t, "UpdatePrincipal after reading again", s.UpdatePrincipal(ctx, b))
	if b.Version != 3 {
		t.Errorf("UpdatePrincipal after reading again: Version set to %d, want 3", b.Version)
	}
	diffPrincipal(mustPrincipal(t, s, w.alice.ID), b).report(t, "Principal after reading again and updating")
	diffPrincipal(mustPrincipal(t, s, w.svc.ID), w.svc).report(t, "other principal")
}

func testPrincipalUpdateRefused(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
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
		err := s.UpdatePrincipal(ctx, tt.p)
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

// Clients.

func testClientUpdate(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	c := *w.cA
	c.OwnerID = w.alice.ID
	c.SecretHash = []byte{0x00, 0xff, 0x7f, 0x80, 0x00}
	c.SecretRotatedAt = t0.Add(time.Hour + fine).In(zone)
	want := c
	// An update stores only the owner and the secret.
	c.Name, c.Scopes, c.Audiences = "renamed", []string{"everything"}, []string{"https://elsewhere.example"}
	c.TokenTTL, c.JWKS, c.CreatedAt = time.Hour, json.RawMessage(`{"keys":[]}`), t0.Add(48*time.Hour)
	must(t, "UpdateClient", s.UpdateClient(ctx, &c))
	if c.Version != w.cA.Version+1 || mustClient(t, s, w.cA.ID).Version != c.Version {
		t.Errorf("versions after UpdateClient: caller's %d, stored %d; want %d", c.Version, mustClient(t, s, w.cA.ID).Version, w.cA.Version+1)
	}
	want.Version = c.Version
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "Client after UpdateClient")

	// An update from a copy read before that one is refused and changes nothing.
	stale := *w.cA
	stale.SecretHash = []byte("stale hash")
	wantErr(t, "UpdateClient from a stale copy", s.UpdateClient(ctx, &stale), mayfly.ErrConflict)
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "Client after a stale update")
	diffClient(mustClient(t, s, w.cB.ID), w.cB).report(t, "other client")

	// The secret can be taken away.
	want.SecretHash, want.SecretRotatedAt = nil, t0.Add(2*time.Hour)
	c = want
	must(t, "UpdateClient removing the secret", s.UpdateClient(ctx, &c))
	want.Version = c.Version
	diffClient(mustClient(t, s, w.cA.ID), &want).report(t, "Client after removing its secret")

	// An update from a copy read before a revocation does not undo it.
	r := revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cB.ID, At: t0.Add(3*time.Hour + fine)})
	b := *w.cB
	b.SecretHash, b.SecretRotatedAt = []byte("new hash"), t0.Add(4*time.Hour)
	must(t, "UpdateClient of a revoked client", s.UpdateClient(ctx, &b))
	wantB := b
	wantB.Version = b.Version
	wantB.RevokedAt = r.At
	diffClient(mustClient(t, s, w.cB.ID), &wantB).report(t, "revoked Client after UpdateClient")
}

func testClientUpdateRefused(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	missing := newClient("cli-nobody", w.alice.ID, w.ring.Name)
	wantErr(t, "UpdateClient of a missing client", s.UpdateClient(ctx, missing), mayfly.ErrNotFound)
	_, err := s.Client(ctx, missing.ID)
	wantErr(t, "Client(cli-nobody) after its refused update", err, mayfly.ErrNotFound)

	orphaned := *w.cA
	orphaned.OwnerID, orphaned.SecretHash = "prn-nobody", []byte("orphan hash")
	wantErr(t, "UpdateClient with a missing owner", s.UpdateClient(ctx, &orphaned), mayfly.ErrNotFound)
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "Client after an update with a missing owner")
}

// Admin credentials.

func testAdminRoleAndOwner(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	alice := &mayfly.Principal{ID: "prn-alice", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, alice))
	creds := []*mayfly.AdminCredential{
		{ID: "adm-1", Name: "bootstrap", Hash: []byte("hash 1"), CreatedAt: t0}, // no role: admin
		{ID: "adm-2", Name: "okta", Role: mayfly.RoleSCIM, Hash: []byte("hash 2"), CreatedAt: t0.Add(time.Hour)},
		{ID: "adm-3", Name: "alice's", Role: mayfly.RoleAdmin, OwnerID: alice.ID, Hash: []byte("hash 3"), CreatedAt: t0.Add(2*time.Hour + fine).In(zone)},
		{ID: "adm-4", Name: "alice's scim", Role: mayfly.RoleSCIM, OwnerID: alice.ID, Hash: []byte("hash 4"), CreatedAt: t0.Add(3 * time.Hour)},
	}
	for _, a := range creds {
		must(t, "CreateAdminCredential "+a.ID, s.CreateAdminCredential(ctx, a))
	}
	orphan := &mayfly.AdminCredential{ID: "adm-5", Name: "orphan", OwnerID: "prn-nobody", Hash: []byte("hash 5"), CreatedAt: t0}
	wantErr(t, "CreateAdminCredential owned by a missing principal", s.CreateAdminCredential(ctx, orphan), mayfly.ErrNotFound)
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

func testAdminRevoke(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	a1 := &mayfly.AdminCredential{ID: "adm-1", Name: "one", Hash: []byte("hash 1"), CreatedAt: t0}
	a2 := &mayfly.AdminCredential{ID: "adm-2", Name: "two", Role: mayfly.RoleSCIM, Hash: []byte("hash 2"), CreatedAt: t0}
	a3 := &mayfly.AdminCredential{ID: "adm-3", Name: "three", Hash: []byte("hash 3"), CreatedAt: t0, RevokedAt: t0.Add(30 * time.Minute)}
	for _, a := range []*mayfly.AdminCredential{a1, a2, a3} {
		must(t, "CreateAdminCredential "+a.ID, s.CreateAdminCredential(ctx, a))
	}
	at := t0.Add(time.Hour + fine).In(zone)
	must(t, "RevokeAdminCredential", s.RevokeAdminCredential(ctx, a1.ID, at))
	want := *a1
	want.RevokedAt = at
	diffList(t, "AdminCredentials after a revocation", allAdmins(t, s), []*mayfly.AdminCredential{&want, a2, a3}, diffAdmin)

	// Revoking again, later or earlier, keeps the first time.
	must(t, "RevokeAdminCredential again, later", s.RevokeAdminCredential(ctx, a1.ID, at.Add(time.Hour)))
	must(t, "RevokeAdminCredential again, earlier", s.RevokeAdminCredential(ctx, a1.ID, t0))
	must(t, "RevokeAdminCredential of one created revoked", s.RevokeAdminCredential(ctx, a3.ID, at))
	wantErr(t, "RevokeAdminCredential of a missing credential", s.RevokeAdminCredential(ctx, "adm-nobody", at), mayfly.ErrNotFound)
	diffList(t, "AdminCredentials after revoking again", allAdmins(t, s), []*mayfly.AdminCredential{&want, a2, a3}, diffAdmin)
	got, err := s.AdminCredentialByHash(ctx, a1.Hash)
	must(t, "AdminCredentialByHash", err)
	diffAdmin(got, &want).report(t, "AdminCredentialByHash of the revoked credential")
}

// Custody.

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

func custody(t *testing.T, s mayfly.Store, f mayfly.CustodyFilter) []*mayfly.Custody {
	t.Helper()
	got, err := s.Custody(t.Context(), f)
	if err != nil {
		t.Fatalf("Custody(%+v): %v", f, err)
	}
	return got
}

func testCustody(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	if got := custody(t, s, mayfly.CustodyFilter{}); len(got) != 0 {
		t.Errorf("Custody on an empty store: got %d records, want 0", len(got))
	}
	w := seed(t, s)
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
		must(t, "AddCustody", s.AddCustody(ctx, c))
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

func testCustodyUnknownPrincipal(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	bad := &mayfly.Custody{PrincipalID: "prn-nobody", Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyGranted, Actor: "adm-1", At: t0}
	wantErr(t, "AddCustody for a missing principal", s.AddCustody(ctx, bad), mayfly.ErrNotFound)
	if got := custody(t, s, mayfly.CustodyFilter{}); len(got) != 0 {
		t.Errorf("Custody after a refused AddCustody: got %d records, want 0", len(got))
	}
	good := &mayfly.Custody{PrincipalID: w.alice.ID, Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyGranted, Actor: "adm-1", At: t0}
	must(t, "AddCustody", s.AddCustody(ctx, good))
	diffList(t, "Custody", custody(t, s, mayfly.CustodyFilter{}), []*mayfly.Custody{good}, diffCustody)
}

// Offboarding runs.

func diffOffboarding(got, want *mayfly.Offboarding) diff {
	var d diff
	d.eq("ID", got.ID, want.ID)
	d.eq("PrincipalID", got.PrincipalID, want.PrincipalID)
	d.eq("Reason", got.Reason, want.Reason)
	d.eq("TransferTo", got.TransferTo, want.TransferTo)
	d.eq("Actor", got.Actor, want.Actor)
	d.time("StartedAt", got.StartedAt, want.StartedAt)
	d.time("FinishedAt", got.FinishedAt, want.FinishedAt)
	d.strings("Done", got.Done, want.Done)
	if len(got.Actions) != len(want.Actions) {
		d.add("Actions", fmt.Sprintf("%d actions", len(got.Actions)), fmt.Sprintf("%d actions", len(want.Actions)))
		return d
	}
	for i, g := range got.Actions {
		w, f := want.Actions[i], fmt.Sprintf("Actions[%d].", i)
		d.eq(f+"Step", g.Step, w.Step)
		d.eq(f+"Action", g.Action, w.Action)
		d.eq(f+"Subject", g.Subject, w.Subject)
		d.eq(f+"Detail", g.Detail, w.Detail)
		d.time(f+"At", g.At, w.At)
		if g.Audit != w.Audit {
			d.add(f+"Audit", g.Audit, w.Audit)
		}
	}
	return d
}

func offboardings(t *testing.T, s mayfly.Store, principalID string, unfinished bool) []*mayfly.Offboarding {
	t.Helper()
	got, err := s.Offboardings(t.Context(), principalID, unfinished)
	if err != nil {
		t.Fatalf("Offboardings(%q, %v): %v", principalID, unfinished, err)
	}
	return got
}

func testOffboardings(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	if got := offboardings(t, s, "", false); len(got) != 0 {
		t.Errorf("Offboardings on an empty store: got %d runs, want 0", len(got))
	}
	w := seed(t, s)
	bob := &mayfly.Principal{ID: "prn-bob", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	carol := &mayfly.Principal{ID: "prn-carol", Name: "carol", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, bob))
	must(t, "CreatePrincipal", s.CreatePrincipal(ctx, carol))

	// Runs are started in time order. The first is saved as it starts,
	// with nothing done.
	o1 := &mayfly.Offboarding{ID: "off-1", PrincipalID: w.alice.ID, Reason: "left the company", TransferTo: bob.ID,
		Actor: "adm-1", StartedAt: t0.Add(fine).In(zone)}
	must(t, "SaveOffboarding", s.SaveOffboarding(ctx, o1))
	diffList(t, "Offboardings after the first save", offboardings(t, s, "", false), []*mayfly.Offboarding{o1}, diffOffboarding)

	o2 := &mayfly.Offboarding{ID: "off-2", PrincipalID: carol.ID, Actor: "adm-2",
		StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(2*time.Hour + fine),
		Done: []string{"suspend", "revoke"},
		Actions: []mayfly.OffboardAction{
			{Step: "suspend", Action: "principal.suspended", Subject: carol.ID, At: t0.Add(time.Hour + time.Second), Audit: 3},
			{Step: "revoke", Action: "client.revoked", Subject: "cli-x", Detail: "and its tokens", At: t0.Add(time.Hour + 2*time.Second + fine), Audit: 4},
		}}
	must(t, "SaveOffboarding", s.SaveOffboarding(ctx, o2))

	// The first run saved again after two steps replaces what was saved.
	o1b := *o1
	o1b.Done = []string{"suspend", "revoke_clients"}
	o1b.Actions = []mayfly.OffboardAction{
		{Step: "suspend", Action: "principal.suspended", Subject: w.alice.ID, At: t0.Add(time.Second + fine).In(zone), Audit: 7},
		{Step: "revoke_clients", Action: "client.revoked", Subject: w.cB.ID, Detail: "secret and tokens, \"quoted\"\n", At: t0.Add(2*time.Second + fine), Audit: 1<<63 + 5},
		{Step: "revoke_clients", Action: "client.transferred", Subject: w.cA.ID, At: t0.Add(3 * time.Second)},
	}
	must(t, "SaveOffboarding replacing a run", s.SaveOffboarding(ctx, &o1b))

	o3 := &mayfly.Offboarding{ID: "off-3", PrincipalID: w.alice.ID, Reason: "again", Actor: "adm-1",
		StartedAt: t0.Add(3 * time.Hour), Done: []string{}, Actions: []mayfly.OffboardAction{}}
	must(t, "SaveOffboarding", s.SaveOffboarding(ctx, o3))

	tests := []struct {
		principal  string
		unfinished bool
		want       []*mayfly.Offboarding
	}{
		{"", false, []*mayfly.Offboarding{&o1b, o2, o3}},
		{w.alice.ID, false, []*mayfly.Offboarding{&o1b, o3}},
		{carol.ID, false, []*mayfly.Offboarding{o2}},
		{"", true, []*mayfly.Offboarding{&o1b, o3}},
		{w.alice.ID, true, []*mayfly.Offboarding{&o1b, o3}},
		{carol.ID, true, nil},
		{bob.ID, false, nil},
		{"prn-nobody", false, nil},
	}
	for _, tt := range tests {
		diffList(t, fmt.Sprintf("Offboardings(%q, %v)", tt.principal, tt.unfinished), offboardings(t, s, tt.principal, tt.unfinished), tt.want, diffOffboarding)
	}

	// Finishing the first run takes it off the unfinished list, and it
	// keeps its place among all runs.
	o1c := o1b
	o1c.Done = append(o1c.Done, "report")
	o1c.FinishedAt = t0.Add(4*time.Hour + fine).In(zone)
	must(t, "SaveOffboarding finishing a run", s.SaveOffboarding(ctx, &o1c))
	diffList(t, `Offboardings("", true) after finishing off-1`, offboardings(t, s, "", true), []*mayfly.Offboarding{o3}, diffOffboarding)
	diffList(t, `Offboardings("", false) after finishing off-1`, offboardings(t, s, "", false), []*mayfly.Offboarding{&o1c, o2, o3}, diffOffboarding)
}

// Change notices.

func testWatchIdentity(t *testing.T, s mayfly.Store) {
	ctx := t.Context()
	w := seed(t, s)
	adm := &mayfly.AdminCredential{ID: "adm-1", Name: "ci", Hash: []byte("hash"), CreatedAt: t0}
	must(t, "CreateAdminCredential", s.CreateAdminCredential(ctx, adm))
	ch := watch(t, s)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"UpdatePrincipal", func() error {
			p := mustPrincipal(t, s, w.alice.ID)
			p.Status = mayfly.Suspended
			return s.UpdatePrincipal(ctx, p)
		}},
		{"UpdateClient", func() error {
			c := *w.cA
			c.SecretHash, c.SecretRotatedAt = []byte("rotated"), t0.Add(time.Hour)
			return s.UpdateClient(ctx, &c)
		}},
		{"RevokeAdminCredential", func() error { return s.RevokeAdminCredential(ctx, adm.ID, t0.Add(time.Hour)) }},
	}
	for _, st := range steps {
		must(t, st.name, st.fn())
		t.Run(st.name, func(t *testing.T) { ch.expect(t, mayfly.ChangeIdentity) })
	}
}
