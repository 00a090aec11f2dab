package scope_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/internal/scope"
)

// TestIncident is the incident: a developer with custody of the orders
// service's signing key copies it and leaves. Offboarding rotates the
// ring, so the orders service's tokens move to the new key; the copied
// key goes on signing the attacker's own tokens, claims copied from the
// orders service's, for five months from two foreign networks, reading
// the same customers the orders service reads. "Every record read with
// the key" over-counts by the orders service's reads before the
// offboarding; "with the key, after the offboarding" is exactly the
// attacker's set.
func TestIncident(t *testing.T) {
	st := apptest.OpenStore(t, t.TempDir())
	ctx := t.Context()
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	off := start.Add(20*24*time.Hour + 9*time.Hour + 41*time.Minute) // the developer leaves mid-morning
	end := off.Add(150 * 24 * time.Hour)
	src := rand.NewChaCha8([32]byte{17})
	r := rand.New(src)
	err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error {
		return errors.Join(
			st.CreatePrincipal(tx, &mayfly.Principal{ID: "dev", Name: "dev", Kind: mayfly.Human, Status: mayfly.Offboarded, CreatedAt: start}),
			st.CreatePrincipal(tx, &mayfly.Principal{ID: "ops", Name: "ops", Kind: mayfly.Human, Status: mayfly.Active, CreatedAt: start}),
			st.CreatePrincipal(tx, &mayfly.Principal{ID: "svc-orders", Name: "orders", Kind: mayfly.Service, OwnerID: "ops", Status: mayfly.Active, CreatedAt: start}),
			st.CreateRing(tx, &mayfly.Ring{Name: "orders", Alg: mayfly.ES256, Lifetime: 30 * 24 * time.Hour, CreatedAt: start}),
			st.SaveKeys(tx, []*mayfly.Key{
				{KID: "kid-old", Ring: "orders", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: start, ActivateAt: start, DeactivateAt: off, RetireAt: off.Add(time.Hour)},
				{KID: "kid-new", Ring: "orders", Alg: mayfly.ES256, Public: []byte{2}, CreatedAt: off, ActivateAt: off, DeactivateAt: end, RetireAt: end}}),
			st.CreateClient(tx, &mayfly.Client{ID: "cl-orders", Name: "orders", OwnerID: "svc-orders", Ring: "orders", CreatedAt: start}),
			st.AddCustody(tx, &mayfly.Custody{PrincipalID: "dev", Asset: mayfly.AssetRing, AssetID: "orders", Kind: mayfly.CustodyAdmin, Actor: "mayfly", At: start}),
			st.SaveOffboarding(tx, &mayfly.Offboarding{ID: "off-dev", PrincipalID: "dev", Actor: "admin", StartedAt: off, FinishedAt: off.Add(time.Second)}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	customer := func() uint64 {
		id := uint64(r.IntN(5000))
		if r.IntN(4) == 0 {
			id += 1 << 33 // customer IDs above 2^32 too
		}
		return id
	}
	// The orders service: a 15-minute token every quarter hour under the
	// active key, each read by a few requests. Its last token under the
	// old key expires as the offboarding rotates the ring.
	var recs []mayfly.Issuance
	var reports []mayfly.LedgerReport
	attacker, legitOld := roaring64.New(), roaring64.New()
	for at := start; at.Before(end); at = at.Add(15 * time.Minute) {
		if at.Before(off) && at.Add(15*time.Minute).After(off) {
			continue // the quarter hour of the rotation: no token straddles it
		}
		kid := "kid-new"
		if !at.Add(15 * time.Minute).After(off) {
			kid = "kid-old"
		}
		jti, _ := mayfly.NewJTI(at, src)
		recs = append(recs, mayfly.Issuance{JTI: jti, Digest: "dg-" + jti, KID: kid, ClientID: "cl-orders", PrincipalID: "svc-orders",
			SourceIP: "10.0.0.5", IssuedAt: at, ExpiresAt: at.Add(15 * time.Minute)})
		if r.IntN(8) > 0 {
			continue // most quarter hours, the service reads little
		}
		for i := range 3 {
			ids := []uint64{customer(), customer()}
			slices.Sort(ids)
			if kid == "kid-old" {
				legitOld.AddMany(ids)
			}
			reports = append(reports, mayfly.LedgerReport{Time: at.Add(time.Duration(i*4) * time.Minute), Service: "orders-api",
				SourceIP: netip.MustParseAddr("10.0.0.5"), JTI: jti, Digest: "dg-" + jti, KID: kid, ClientID: "cl-orders",
				Records: map[string][]uint64{"customer": slices.Compact(ids)}})
		}
	}
	// The attacker: a token of their own a day, signed by the copied key,
	// from two foreign networks, each reading a batch of customers.
	for at := off.Add(6 * time.Hour); at.Before(end); at = at.Add(24*time.Hour + time.Duration(r.IntN(120))*time.Minute) {
		jti, _ := mayfly.NewJTI(at, src)
		ip := netip.MustParseAddr(fmt.Sprintf("%s.%d", []string{"203.0.113", "198.51.100"}[r.IntN(2)], 1+r.IntN(250)))
		for i := range 5 {
			var ids []uint64
			for range 10 {
				ids = append(ids, customer())
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			attacker.AddMany(ids)
			reports = append(reports, mayfly.LedgerReport{Time: at.Add(time.Duration(i) * time.Minute), Service: "orders-api", SourceIP: ip,
				JTI: jti, Digest: "dg-" + jti, KID: "kid-old", ClientID: "cl-orders", Records: map[string][]uint64{"customer": ids}})
		}
	}
	if err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error { return st.RecordIssuances(tx, recs) }); err != nil {
		t.Fatal(err)
	}
	deltas, err := ledger.Deltas(reports, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range deltas {
		deltas[i].Token.PrincipalID = "svc-orders" // the claims the tokens carry, copied ones too
	}
	for chunk := range slices.Chunk(deltas, 1000) {
		if err := mayfly.Transact(ctx, st, func(tx mayfly.Tx) error { return st.MergeLedger(tx, chunk) }); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.New(ledger.Config{Store: st, Clock: apptest.NewClock(end.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	overlap := roaring64.And(attacker, legitOld).GetCardinality()
	if overlap == 0 || legitOld.GetCardinality() <= overlap {
		t.Fatalf("the traffic does not mix: %d of the attacker's records also read legitimately of %d", overlap, legitOld.GetCardinality())
	}

	s := scope.New(scope.Config{Store: st})
	ids := func(q mayfly.ScopeQuery) *roaring64.Bitmap {
		t.Helper()
		q.IDs, q.Namespaces = true, []string{"customer"}
		a, err := s.Run(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := decode(a.Namespaces[0].Bitmap)
		if err != nil {
			t.Fatal(err)
		}
		if rb.GetCardinality() != a.Namespaces[0].Records {
			t.Errorf("the answer counts %d records, its IDs are %d", a.Namespaces[0].Records, rb.GetCardinality())
		}
		return rb
	}
	precisionRecall := func(got *roaring64.Bitmap) (float64, float64) {
		tp := float64(roaring64.And(got, attacker).GetCardinality())
		return tp / float64(got.GetCardinality()), tp / float64(attacker.GetCardinality())
	}
	got := ids(mayfly.ScopeQuery{KIDs: []string{"kid-old"}, AfterOffboarding: []string{"dev"}})
	if p, rc := precisionRecall(got); p != 1 || rc != 1 {
		t.Errorf("scope --kid kid-old --after-offboarding dev: %d records, precision %v recall %v; want the attacker's %d exactly",
			got.GetCardinality(), p, rc, attacker.GetCardinality())
	}
	naive := ids(mayfly.ScopeQuery{KIDs: []string{"kid-old"}})
	if want := roaring64.Or(attacker, legitOld); !naive.Equals(want) {
		t.Errorf("every record read with kid-old: %d records, want the attacker's and the orders service's %d", naive.GetCardinality(), want.GetCardinality())
	}
	if p, _ := precisionRecall(naive); p >= 1 {
		t.Errorf("the naive question's precision is %v: the legitimate reads did not count", p)
	}
	// The same set, asked otherwise: the forged tokens of the keys the
	// developer had custody of; the foreign networks.
	for name, q := range map[string]mayfly.ScopeQuery{
		"custody forged": {Principals: []string{"dev"}, Custody: true, Forged: true},
		"sources":        {Sources: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.0/24")}},
		"diff": {KIDs: []string{"kid-old"}, Minus: &mayfly.ScopeQuery{Clients: []string{"cl-orders"}, Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			AfterOffboarding: []string{"dev"}},
	} {
		want := attacker
		if name == "diff" {
			legit := ids(*q.Minus)
			want = roaring64.AndNot(attacker, legit)
		}
		if got := ids(q); !got.Equals(want) {
			t.Errorf("%s: %d records, want %d", name, got.GetCardinality(), want.GetCardinality())
		}
	}
	a, err := s.Run(ctx, mayfly.ScopeQuery{KIDs: []string{"kid-old"}, AfterOffboarding: []string{"dev"}, By: mayfly.ScopeBySource})
	if err != nil {
		t.Fatal(err)
	}
	if !a.FirstRead.Before(off.Add(7*time.Hour)) || a.FirstRead.Before(off.Truncate(24*time.Hour)) || len(a.Groups) == 0 {
		t.Errorf("first read %v, %d sources: want the day of the offboarding, and the foreign sources", a.FirstRead, len(a.Groups))
	}
	for _, g := range a.Groups {
		if p := netip.MustParseAddr(g.Key); !p.Is4() || p.String()[:3] == "10." {
			t.Errorf("a source of the attack is %s, want only foreign networks", g.Key)
		}
	}
}
