package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Tx runs the suite of the unit of work (mayfly.TxStore and mayfly.Tx): a
// transaction across every concern commits whole or not at all, savepoints
// undo what came after them, change notices wait for the commit, and what
// one transaction holds (revocation numbers, the audit append lock) waits
// for it to end.
func Tx(t *testing.T, open func(t *testing.T) mayfly.Store) {
	t.Helper()
	run(t, open, []test[mayfly.Store]{
		{"AcrossConcerns", testTxAcrossConcerns},
		{"Savepoints", testTxSavepoints},
		{"RollbackAfterCommit", testTxRollbackAfterCommit},
		{"Notices", testTxNotices},
		{"BeginContext", testTxBeginContext},
		{"Foreign", func(t *testing.T, s mayfly.Store) { testTxForeign(t, s, open(t)) }},
		{"RevokeLeavesClient", testRevokeLeavesClient},
		{"RevokeLeavesKey", testRevokeLeavesKey},
		{"RevokeAsServicesDo", testRevokeAsServicesDo},
		{"RevokeCommitOrder", func(t *testing.T, s mayfly.Store) { testRevokeCommitOrder(t, s, s) }},
		{"AuditHeadWaits", func(t *testing.T, s mayfly.Store) { testAuditHeadWaits(t, s, s) }},
	})
}

// TxShared runs the checks of the Tx suite that need two handles on one
// database, as two processes (replicas) have. open returns both handles;
// the suite closes them.
func TxShared(t *testing.T, open func(t *testing.T) (mayfly.Store, mayfly.Store)) {
	t.Helper()
	runShared(t, open, []test[[2]mayfly.Store]{
		{"RevokeCommitOrder", shared(testRevokeCommitOrder)},
		{"AuditHeadWaits", shared(testAuditHeadWaits)},
	})
}

// backendTx is a mayfly.Tx on a BackendTx begun by hand, or on none.
type backendTx struct{ b mayfly.BackendTx }

func (x backendTx) Audit(mayfly.AuditEntry) (uint64, error) { return 0, mayfly.ErrNoAudit }
func (x backendTx) AfterCommit(func())                      {}
func (x backendTx) Backend() mayfly.BackendTx               { return x.b }

// fakeBackend is a BackendTx no store began.
type fakeBackend struct{}

func (fakeBackend) Savepoint() error           { return nil }
func (fakeBackend) RollbackToSavepoint() error { return nil }
func (fakeBackend) ReleaseSavepoint() error    { return nil }
func (fakeBackend) Commit() error              { return nil }
func (fakeBackend) Rollback() error            { return nil }

// errRolledBack is what a transaction's function returns to roll it back.
var errRolledBack = errors.New("rolled back on purpose")

// rollback runs fn in a transaction of s and rolls it back.
func rollback(t *testing.T, s mayfly.TxStore, fn func(tx mayfly.Tx) error) {
	t.Helper()
	err := commit(t, s, func(tx mayfly.Tx) error { return errors.Join(fn(tx), errRolledBack) })
	if !errors.Is(err, errRolledBack) {
		t.Fatalf("transaction to roll back: %v", err)
	}
}

// writeEverything writes to every concern in tx, what census counts.
func writeEverything(s mayfly.Store, tx mayfly.Tx) error {
	w := newWorld()
	jti, err := mayfly.NewJTI(t0, zeroReader{})
	if err != nil {
		return err
	}
	iat := t0.Truncate(time.Second)
	_, head := s.AuditHead(tx)
	return errors.Join(head,
		s.CreatePrincipal(tx, w.alice), s.CreatePrincipal(tx, w.svc), s.CreateRing(tx, w.ring),
		s.SaveKeys(tx, []*mayfly.Key{w.kA, w.kB}), s.CreateClient(tx, w.cA), s.CreateClient(tx, w.cB),
		s.CreateAdminCredential(tx, &mayfly.AdminCredential{ID: "adm-1", Name: "ci", Role: mayfly.RoleAdmin, Hash: []byte("hash"), CreatedAt: t0}),
		s.AddCustody(tx, &mayfly.Custody{PrincipalID: w.alice.ID, Asset: mayfly.AssetRing, AssetID: w.ring.Name, Kind: mayfly.CustodyCreated, Actor: "mayfly", At: t0}),
		s.RecordIssuances(tx, []mayfly.Issuance{{JTI: jti, KID: w.kA.KID, ClientID: w.cA.ID, PrincipalID: w.svc.ID,
			SourceIP: "10.0.0.1", IssuedAt: iat, ExpiresAt: iat.Add(time.Minute)}}),
		s.Revoke(tx, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cB.ID, At: t0}),
		s.SaveOffboarding(tx, &mayfly.Offboarding{ID: "off-1", PrincipalID: w.alice.ID, Actor: "adm-1", StartedAt: t0}),
		s.AppendAudit(tx, auditRecords(0, 2), nil),
		s.PutSetting(tx, "x", []byte("1")),
		s.CreateSSFStream(tx, bareStream("ssf-1", t0)),
	)
}

// census counts what writeEverything writes, by kind.
func census(t *testing.T, s mayfly.Store) string {
	t.Helper()
	ctx := t.Context()
	var errs []error
	n := func(l int, err error) int {
		errs = append(errs, err)
		return l
	}
	ps, err := s.Principals(ctx)
	principals := n(len(ps), err)
	rs, err := s.Rings(ctx)
	rings := n(len(rs), err)
	ks, err := s.Keys(ctx)
	keys := n(len(ks), err)
	cs, err := s.Clients(ctx)
	clients := n(len(cs), err)
	as, err := s.AdminCredentials(ctx)
	admins := n(len(as), err)
	cus, err := s.Custody(ctx, mayfly.CustodyFilter{})
	custody := n(len(cus), err)
	is, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
	issuances := n(len(is), err)
	revs, err := s.Revocations(ctx, 0, t0)
	revocations := n(len(revs), err)
	os, err := s.Offboardings(ctx, "", false)
	offboardings := n(len(os), err)
	size, err := s.AuditSize(ctx)
	audit := n(int(size), err)
	settings := 1
	if _, err := s.Setting(ctx, "x"); errors.Is(err, mayfly.ErrNotFound) {
		settings = 0
	} else {
		errs = append(errs, err)
	}
	sts, err := s.SSFStreams(ctx)
	streams := n(len(sts), err)
	must(t, "census", errors.Join(errs...))
	return fmt.Sprintf("principals %d, rings %d, keys %d, clients %d, admin credentials %d, custody %d, issuances %d, revocations %d, offboardings %d, audit entries %d, settings %d, streams %d",
		principals, rings, keys, clients, admins, custody, issuances, revocations, offboardings, audit, settings, streams)
}

const (
	nothing    = "principals 0, rings 0, keys 0, clients 0, admin credentials 0, custody 0, issuances 0, revocations 0, offboardings 0, audit entries 0, settings 0, streams 0"
	everything = "principals 2, rings 1, keys 2, clients 2, admin credentials 1, custody 1, issuances 1, revocations 1, offboardings 1, audit entries 2, settings 1, streams 1"
)

func testTxAcrossConcerns(t *testing.T, s mayfly.Store) {
	rollback(t, s, func(tx mayfly.Tx) error { return writeEverything(s, tx) })
	if got := census(t, s); got != nothing {
		t.Errorf("after a transaction writing to every concern rolled back: %s; want %s", got, nothing)
	}

	b, err := s.Begin(t.Context())
	must(t, "Begin", err)
	must(t, "writes", writeEverything(s, backendTx{b}))
	must(t, "Rollback", b.Rollback())
	if got := census(t, s); got != nothing {
		t.Errorf("after Rollback of a transaction writing to every concern: %s; want %s", got, nothing)
	}

	must(t, "transaction writing to every concern", commit(t, s, func(tx mayfly.Tx) error { return writeEverything(s, tx) }))
	if got := census(t, s); got != everything {
		t.Errorf("after a transaction writing to every concern committed: %s; want %s", got, everything)
	}
}

// testTxSavepoints: rolling back to a savepoint undoes what came after it
// and keeps the mark; releasing it keeps what came after it; a write that
// failed under a savepoint rolled back leaves the transaction usable.
func testTxSavepoints(t *testing.T, s mayfly.Store) {
	create := func(tx mayfly.Tx, name string) error {
		return s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn-" + name, Name: name, Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0})
	}
	step := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	must(t, "transaction with savepoints", commit(t, s, func(tx mayfly.Tx) error {
		b := tx.Backend()
		for _, st := range []struct {
			what string
			fn   func() error
		}{
			{"create a", func() error { return create(tx, "a") }},
			{"Savepoint", b.Savepoint},
			{"create b", func() error { return create(tx, "b") }},
			{"RollbackToSavepoint undoing b", b.RollbackToSavepoint},
			{"create c", func() error { return create(tx, "c") }},
			{"RollbackToSavepoint again, undoing c", b.RollbackToSavepoint},
			{"create d", func() error { return create(tx, "d") }},
			{"ReleaseSavepoint keeping d", b.ReleaseSavepoint},

			{"Savepoint", b.Savepoint},
			{"create A, failing", func() error {
				err := s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn-A", Name: "A", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0})
				if !errors.Is(err, mayfly.ErrConflict) {
					return fmt.Errorf("got %v, want ErrConflict", err)
				}
				return nil
			}},
			{"RollbackToSavepoint after the failure", b.RollbackToSavepoint},
			{"ReleaseSavepoint", b.ReleaseSavepoint},
			{"create e after the failure", func() error { return create(tx, "e") }},

			{"Savepoint before f", b.Savepoint},
			{"create f", func() error { return create(tx, "f") }},
			{"Savepoint before g", b.Savepoint},
			{"create g", func() error { return create(tx, "g") }},
			{"RollbackToSavepoint undoing g", b.RollbackToSavepoint},
			{"ReleaseSavepoint of the mark before g", b.ReleaseSavepoint},
			{"create h", func() error { return create(tx, "h") }},
			{"ReleaseSavepoint of the mark before f", b.ReleaseSavepoint},

			{"Savepoint before i", b.Savepoint},
			{"create i", func() error { return create(tx, "i") }},
			{"Savepoint before j", b.Savepoint},
			{"create j", func() error { return create(tx, "j") }},
			{"ReleaseSavepoint of the mark before j, keeping j", b.ReleaseSavepoint},
			{"RollbackToSavepoint to the mark before i, undoing i and j", b.RollbackToSavepoint},
			{"ReleaseSavepoint of the mark before i", b.ReleaseSavepoint},
		} {
			if err := step(st.what, st.fn()); err != nil {
				return err
			}
		}
		return nil
	}))
	var names []string
	for _, p := range allPrincipals(t, s) {
		names = append(names, p.Name)
	}
	if got, want := fmt.Sprint(names), "[a d e f h]"; got != want {
		t.Errorf("principals after the savepoints: %s, want %s", got, want)
	}
}

func testTxRollbackAfterCommit(t *testing.T, s mayfly.Store) {
	b, err := s.Begin(t.Context())
	must(t, "Begin", err)
	p := &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}
	must(t, "CreatePrincipal", s.CreatePrincipal(backendTx{b}, p))
	must(t, "Commit", b.Commit())
	if err := b.Rollback(); err != nil {
		t.Errorf("Rollback after Commit: %v; want nil, doing nothing", err)
	}
	diffPrincipal(mustPrincipal(t, s, p.ID), p).report(t, "Principal after Commit and Rollback")
}

// testTxNotices: a change is announced once its transaction commits,
// never while it is open, and never if it rolls back.
func testTxNotices(t *testing.T, s mayfly.Store) {
	ch := watch(t, s)
	held, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- commit(t, s, func(tx mayfly.Tx) error {
			err := s.PutSetting(tx, "x", []byte("1"))
			close(held)
			<-release
			return err
		})
	}()
	<-held
	ch.none(t, mayfly.ChangeSettings, 200*time.Millisecond)
	close(release)
	must(t, "transaction putting a setting", <-errc)
	ch.expect(t, mayfly.ChangeSettings)

	rollback(t, s, func(tx mayfly.Tx) error { return s.PutSetting(tx, "y", []byte("2")) })
	must(t, "CreateRing", do(t, s, s.CreateRing, &mayfly.Ring{Name: "main", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: t0}))
	ch.before(t, mayfly.ChangeKeys, mayfly.ChangeSettings)
}

// testTxBeginContext: a transaction's writes run under the context it
// began with: once that ends, they fail, and nothing commits.
func testTxBeginContext(t *testing.T, s mayfly.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b, err := s.Begin(ctx)
	must(t, "Begin", err)
	tx := backendTx{b}
	must(t, "CreatePrincipal", s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn-1", Name: "alice", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}))
	cancel()
	if err := s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn-2", Name: "bob", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: t0}); err == nil {
		t.Errorf("CreatePrincipal after the transaction's context ended: got nil error, want one")
	}
	if err := b.Commit(); err == nil {
		t.Errorf("Commit after the transaction's context ended: got nil error, want one")
	}
	b.Rollback()
	if got := allPrincipals(t, s); len(got) != 0 {
		t.Errorf("Principals after a transaction whose context ended: %d, want none", len(got))
	}
}

// testTxForeign: a change given a transaction the store did not begin, or
// one that has ended, returns an Internal error, never panics, and writes
// nothing.
func testTxForeign(t *testing.T, s, other mayfly.Store) {
	t.Cleanup(func() { other.Close() })
	ctx := t.Context()
	ob, err := other.Begin(ctx)
	must(t, "Begin on the other store", err)
	defer ob.Rollback()
	var ended mayfly.Tx
	must(t, "a transaction that ends", commit(t, s, func(tx mayfly.Tx) error { ended = tx; return nil }))

	w := newWorld()
	writes := []struct {
		name string
		fn   func(tx mayfly.Tx) error
	}{
		{"CreatePrincipal", func(tx mayfly.Tx) error { return s.CreatePrincipal(tx, w.alice) }},
		{"UpdatePrincipal", func(tx mayfly.Tx) error { return s.UpdatePrincipal(tx, w.alice) }},
		{"CreateClient", func(tx mayfly.Tx) error { return s.CreateClient(tx, w.cA) }},
		{"UpdateClient", func(tx mayfly.Tx) error { return s.UpdateClient(tx, w.cA) }},
		{"CreateAdminCredential", func(tx mayfly.Tx) error {
			return s.CreateAdminCredential(tx, &mayfly.AdminCredential{ID: "adm-1", Name: "ci", Role: mayfly.RoleAdmin, Hash: []byte("h"), CreatedAt: t0})
		}},
		{"RevokeAdminCredential", func(tx mayfly.Tx) error { return s.RevokeAdminCredential(tx, "adm-1", t0) }},
		{"AddCustody", func(tx mayfly.Tx) error {
			return s.AddCustody(tx, &mayfly.Custody{PrincipalID: w.alice.ID, Asset: mayfly.AssetRootKey, AssetID: mayfly.RootKeyAsset, Kind: mayfly.CustodyOperator, Actor: "mayfly", At: t0})
		}},
		{"CreateRing", func(tx mayfly.Tx) error { return s.CreateRing(tx, w.ring) }},
		{"SaveKeys", func(tx mayfly.Tx) error { return s.SaveKeys(tx, []*mayfly.Key{w.kA}) }},
		{"DestroyKeyMaterial", func(tx mayfly.Tx) error { return s.DestroyKeyMaterial(tx, []string{w.kA.KID}) }},
		{"RecordIssuances", func(tx mayfly.Tx) error { return s.RecordIssuances(tx, nil) }},
		{"Revoke", func(tx mayfly.Tx) error {
			return s.Revoke(tx, &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-1", At: t0})
		}},
		{"SaveOffboarding", func(tx mayfly.Tx) error {
			return s.SaveOffboarding(tx, &mayfly.Offboarding{ID: "off-1", PrincipalID: w.alice.ID, StartedAt: t0})
		}},
		{"AuditHead", func(tx mayfly.Tx) error { _, err := s.AuditHead(tx); return err }},
		{"AppendAudit", func(tx mayfly.Tx) error { return s.AppendAudit(tx, auditRecords(0, 1), nil) }},
		{"PutSetting", func(tx mayfly.Tx) error { return s.PutSetting(tx, "x", []byte("1")) }},
		{"ReplaceSetting", func(tx mayfly.Tx) error { return s.ReplaceSetting(tx, "x", []byte("1")) }},
		{"DeleteSetting", func(tx mayfly.Tx) error { return s.DeleteSetting(tx, "x") }},
		{"CreateSSFStream", func(tx mayfly.Tx) error { return s.CreateSSFStream(tx, bareStream("ssf-1", t0)) }},
		{"UpdateSSFStream", func(tx mayfly.Tx) error { return s.UpdateSSFStream(tx, bareStream("ssf-1", t0)) }},
		{"DeleteSSFStream", func(tx mayfly.Tx) error { return s.DeleteSSFStream(tx, "ssf-1") }},
	}
	txs := []struct {
		name string
		tx   mayfly.Tx
	}{
		{"another store's transaction", backendTx{ob}},
		{"a transaction no store began", backendTx{fakeBackend{}}},
		{"a transaction with no backend", backendTx{nil}},
		{"no transaction", nil},
		{"a transaction that has ended", ended},
	}
	for _, x := range txs {
		for _, wr := range writes {
			err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
					}
				}()
				return wr.fn(x.tx)
			}()
			if code := mayfly.ErrorCode(err); code != mayfly.Internal {
				t.Errorf("%s in %s: got error %v (code %q), want an Internal error", wr.name, x.name, err, code)
			}
		}
	}
	must(t, "Commit on the other store", ob.Commit())
	if got := census(t, s); got != nothing {
		t.Errorf("store after writes in foreign transactions: %s; want %s", got, nothing)
	}
	if got := census(t, other); got != nothing {
		t.Errorf("other store after writes in its transaction through this one: %s; want %s", got, nothing)
	}
}

// testRevokeLeavesClient: Revoke stores revocations only. Marking the
// client revoked is the service's, with UpdateClient in the same
// transaction (testRevokeAsServicesDo).
func testRevokeLeavesClient(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: t0.Add(time.Hour + fine), Reason: "compromised"})
	must(t, "Revoke (batch)", revokeAll(t, s,
		&mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cB.ID, At: t0},
		&mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: w.alice.ID, At: t0.Add(fine)}))
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "client after Revoke")
	diffClient(mustClient(t, s, w.cB.ID), w.cB).report(t, "client after Revoke in a batch")
	if len(revocations(t, s, 0, t0)) != 3 {
		t.Errorf("revocations: want the 3 made")
	}
}

// testRevokeLeavesKey: Revoke stores revocations only. Saving the key
// revoked and destroying its material is the keys service's, with SaveKeys
// and DestroyKeyMaterial in the same transaction (testRevokeAsServicesDo).
func testRevokeLeavesKey(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	revoke(t, s, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: t0.Add(time.Hour + fine), Reason: "compromised"})
	keys := allKeys(t, s)
	diffList(t, "Keys after Revoke of "+w.kA.KID, keys, []*mayfly.Key{w.kA, w.kB}, diffKey)
	if len(keys) > 0 && keys[0].State(t0) == mayfly.KeyRevoked {
		t.Errorf("key after Revoke: state %s; Revoke must leave keys as they are", keys[0].State(t0))
	}
}

// testRevokeAsServicesDo: a revocation and what the services change with
// it commit together.
func testRevokeAsServicesDo(t *testing.T, s mayfly.Store) {
	w := seed(t, s)
	at := t0.Add(time.Hour + fine)
	c := *mustClient(t, s, w.cA.ID)
	c.RevokedAt = at
	k := *w.kA
	k.RevokedAt, k.Sealed = at, nil
	rc := &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: w.cA.ID, At: at, Reason: "compromised"}
	rk := &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: w.kA.KID, At: at, Reason: "compromised"}
	// Rolled back, none of it happened.
	rollback(t, s, func(tx mayfly.Tx) error {
		cc, kk := c, k
		return errors.Join(s.Revoke(tx, rc, rk), s.UpdateClient(tx, &cc), s.SaveKeys(tx, []*mayfly.Key{&kk}), s.DestroyKeyMaterial(tx, []string{w.kA.KID}))
	})
	diffClient(mustClient(t, s, w.cA.ID), w.cA).report(t, "client after a revocation rolled back")
	diffList(t, "Keys after a revocation rolled back", allKeys(t, s), []*mayfly.Key{w.kA, w.kB}, diffKey)
	if got := revocations(t, s, 0, t0); len(got) != 0 {
		t.Errorf("revocations after a rollback: %d, want none", len(got))
	}

	must(t, "revocation with the client and key", commit(t, s, func(tx mayfly.Tx) error {
		return errors.Join(s.Revoke(tx, rc, rk), s.UpdateClient(tx, &c), s.SaveKeys(tx, []*mayfly.Key{&k}), s.DestroyKeyMaterial(tx, []string{w.kA.KID}))
	}))
	diffClient(mustClient(t, s, w.cA.ID), &c).report(t, "client revoked")
	diffList(t, "Keys after the key's revocation", allKeys(t, s), []*mayfly.Key{&k, w.kB}, diffKey)
	diffList(t, "Revocations", revocations(t, s, 0, t0), []*mayfly.Revocation{rc, rk}, diffRevocation)
}

// testRevokeCommitOrder: while a transaction that revoked is open, a
// Revoke in another (of the second handle) does not commit; once the first
// commits, the second's number is above the first's, so a reader following
// the sequence misses neither.
func testRevokeCommitOrder(t *testing.T, a, b mayfly.Store) {
	first := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-first", Until: t0.Add(time.Hour), At: t0}
	second := &mayfly.Revocation{Kind: mayfly.RevokeToken, Subject: "jti-second", Until: t0.Add(time.Hour), At: t0}
	held, release := make(chan struct{}), make(chan struct{})
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- commit(t, a, func(tx mayfly.Tx) error {
			err := a.Revoke(tx, first)
			close(held)
			<-release
			return err
		})
	}()
	<-held
	secondErr := make(chan error, 1)
	go func() { secondErr <- revokeAll(t, b, second) }()
	select {
	case err := <-secondErr:
		close(release)
		<-firstErr
		t.Fatalf("a Revoke returned (%v) while another transaction that revoked was open; it must wait for it", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	must(t, "first transaction", <-firstErr)
	must(t, "second Revoke", <-secondErr)
	if second.Seq <= first.Seq {
		t.Errorf("Seq of the revocation committed second: %d; want above the first's, %d", second.Seq, first.Seq)
	}
	diffList(t, "Revocations", revocations(t, b, 0, t0), []*mayfly.Revocation{first, second}, diffRevocation)
}

// testAuditHeadWaits: while a transaction holds the audit log's append
// lock, AuditHead in another (of the second handle) waits, and once the
// first commits it returns the size that includes the first's entries.
func testAuditHeadWaits(t *testing.T, a, b mayfly.Store) {
	held, release := make(chan struct{}), make(chan struct{})
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- commit(t, a, func(tx mayfly.Tx) error {
			n, err := a.AuditHead(tx)
			if err == nil {
				err = a.AppendAudit(tx, auditRecords(n, 2), nil)
			}
			close(held)
			<-release
			return err
		})
	}()
	<-held
	head := make(chan uint64, 1)
	secondErr := make(chan error, 1)
	go func() {
		secondErr <- commit(t, b, func(tx mayfly.Tx) error {
			n, err := b.AuditHead(tx)
			head <- n
			return err
		})
	}()
	select {
	case n := <-head:
		close(release)
		<-firstErr
		t.Fatalf("AuditHead returned %d while another transaction held the append lock; it must wait for it", n)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	must(t, "first transaction", <-firstErr)
	if n := <-head; n != 2 {
		t.Errorf("AuditHead after the first transaction committed 2 entries: %d, want 2", n)
	}
	must(t, "second transaction", <-secondErr)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
