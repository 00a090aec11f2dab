package scope_test

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
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

// A world is a generated ledger: people, services, clients, keys, tokens
// (issued or forged) and the reports of what they read, written through
// the real ledger storage and compacted by the real maintenance; and,
// beside it, what the brute force needs to compute every answer from the
// reports alone.
type world struct {
	st      mayfly.Store
	now     time.Time
	cutoffs [2]time.Time // minute and hour buckets ending by these rolled
	tokens  []*tok
	reports []mayfly.LedgerReport
	gaps    []*mayfly.LedgerGap
	// The identity the world was given, for the brute force to resolve.
	owner   map[string]string // service or client -> owner
	kinds   map[string]mayfly.PrincipalKind
	custody map[string][]string // person -> kids of rings they had custody of
	offAt   map[string]time.Time
}

type tok struct {
	jti, digest, kid, client, principal, sub string
	iat, exp                                 time.Time
	forged                                   bool
}

func (t *tok) issued() bool { return !t.forged }

var (
	t0       = time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC)
	services = []string{"api", "billing", "search"}
	nets     = []string{"10.1.0.", "10.1.1.", "203.0.113.", "198.51.100."}
)

// newWorld generates days of traffic ending at now, with n reports.
func newWorld(t *testing.T, seed uint64, days, n int) *world {
	t.Helper()
	src := rand.NewChaCha8([32]byte{byte(seed)})
	r := rand.New(src)
	w := &world{st: apptest.OpenStore(t, t.TempDir()), now: t0.Add(time.Duration(days)*24*time.Hour + 30*time.Minute),
		owner: map[string]string{}, kinds: map[string]mayfly.PrincipalKind{}, custody: map[string][]string{}, offAt: map[string]time.Time{}}
	ctx := t.Context()
	off := t0.Add(time.Duration(days/2)*24*time.Hour + 7*time.Hour + 13*time.Minute) // mid-day: buckets straddle it
	err := mayfly.Transact(ctx, w.st, func(tx mayfly.Tx) error {
		var errs []error
		add := func(id string, kind mayfly.PrincipalKind, owner string) {
			w.kinds[id] = kind
			if owner != "" {
				w.owner[id] = owner
			}
			errs = append(errs, w.st.CreatePrincipal(tx, &mayfly.Principal{ID: id, Name: "name-" + id, Kind: kind, Status: mayfly.Active, OwnerID: owner, CreatedAt: t0}))
		}
		add("dev", mayfly.Human, "")
		add("alice", mayfly.Human, "")
		add("svc-orders", mayfly.Service, "dev")
		add("svc-mail", mayfly.Service, "alice")
		for _, ring := range []string{"ring-a", "ring-b"} {
			errs = append(errs, w.st.CreateRing(tx, &mayfly.Ring{Name: ring, Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: t0}))
		}
		for _, k := range [][2]string{{"kid-a1", "ring-a"}, {"kid-a2", "ring-a"}, {"kid-b1", "ring-b"}} {
			errs = append(errs, w.st.SaveKeys(tx, []*mayfly.Key{{KID: k[0], Ring: k[1], Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: t0,
				ActivateAt: t0, DeactivateAt: t0, RetireAt: t0}}))
		}
		errs = append(errs, w.st.AddCustody(tx, &mayfly.Custody{PrincipalID: "dev", Asset: mayfly.AssetRing, AssetID: "ring-a", Kind: mayfly.CustodyAdmin, Actor: "mayfly", At: t0}))
		w.custody["dev"] = []string{"kid-a1", "kid-a2"}
		for _, c := range [][3]string{{"cl-orders", "svc-orders", "ring-a"}, {"cl-mail", "svc-mail", "ring-b"}, {"cl-alice", "alice", "ring-b"}} {
			w.owner[c[0]] = c[1]
			errs = append(errs, w.st.CreateClient(tx, &mayfly.Client{ID: c[0], Name: c[0], OwnerID: c[1], Ring: c[2], CreatedAt: t0}))
		}
		errs = append(errs, w.st.SaveOffboarding(tx, &mayfly.Offboarding{ID: "off-1", PrincipalID: "dev", Actor: "admin", StartedAt: off}))
		w.offAt["dev"] = off
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Tokens: a client's own, and its customers'; some forged under a
	// key of ring-a with claims copied from cl-orders'.
	span := w.now.Sub(t0)
	clients := map[string]string{"cl-orders": "kid-a1", "cl-mail": "kid-b1", "cl-alice": "kid-b1"}
	var recs []mayfly.Issuance
	for i := range n / 20 {
		cl := slices.Sorted(maps.Keys(clients))[i%3]
		kid := clients[cl]
		if cl == "cl-orders" && i%2 == 0 {
			kid = "kid-a2"
		}
		iat := t0.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Second)
		tk := &tok{kid: kid, client: cl, principal: w.owner[cl], iat: iat, exp: iat.Add(time.Duration(1+r.IntN(60)) * time.Minute)}
		if i%4 == 1 {
			tk.sub = fmt.Sprintf("customer:%d", i%5)
		}
		if i%7 == 3 {
			tk.forged = true
			tk.exp = iat.Add(30 * 24 * time.Hour) // a forger picks its own
			tk.kid = "kid-a1"
		}
		jti, err := mayfly.NewJTI(iat, src)
		if err != nil {
			t.Fatal(err)
		}
		tk.jti, tk.digest = jti, "dg-"+jti
		if i%11 == 5 && tk.issued() {
			tk.digest = "" // a service that named no digest
		}
		w.tokens = append(w.tokens, tk)
		if tk.issued() {
			d := tk.digest
			if i%13 == 6 {
				d = "" // a record from before digests were kept
			}
			recs = append(recs, mayfly.Issuance{JTI: tk.jti, Digest: d, KID: tk.kid, ClientID: tk.client, PrincipalID: tk.principal,
				Subject: tk.sub, SourceIP: "127.0.0.1", IssuedAt: tk.iat, ExpiresAt: tk.exp})
		}
	}
	// A scanner: an issued token of cl-alice's that, in one hour on the
	// second day, reads through more services and from more addresses
	// than a bucket keeps, the last of each (in order) left out: among
	// them the one service and the one address of 203.0.113.0/24 it used.
	scan := &tok{kid: "kid-b1", client: "cl-alice", principal: "alice", iat: t0.Add(24*time.Hour + 5*time.Hour)}
	scan.exp = scan.iat.Add(time.Hour)
	scan.jti = "scanner-" + scan.iat.Format("20060102T150405")
	scan.digest = "dg-" + scan.jti
	if days > 2 {
		w.tokens = append(w.tokens, scan)
		recs = append(recs, mayfly.Issuance{JTI: scan.jti, Digest: scan.digest, KID: scan.kid, ClientID: scan.client, PrincipalID: scan.principal,
			SourceIP: "127.0.0.1", IssuedAt: scan.iat, ExpiresAt: scan.exp})
	}
	if err := mayfly.Transact(ctx, w.st, func(tx mayfly.Tx) error { return w.st.RecordIssuances(tx, recs) }); err != nil {
		t.Fatal(err)
	}
	var scans []mayfly.LedgerReport
	for i := range mayfly.LedgerMaxSources + 8 {
		rep := mayfly.LedgerReport{Time: scan.iat.Add(time.Duration(i) * time.Minute), Service: fmt.Sprintf("zz-%02d", i%(mayfly.LedgerMaxServices+4)),
			JTI: scan.jti, Digest: scan.digest, KID: scan.kid, ClientID: scan.client,
			SourceIP: netip.MustParseAddr(fmt.Sprintf("10.1.0.%d", 10+i)), Records: map[string][]uint64{"customer": {uint64(1000 + i)}}}
		if i == mayfly.LedgerMaxSources+7 {
			rep.SourceIP = netip.MustParseAddr("203.0.113.200")
		}
		scans = append(scans, rep)
	}
	for range n {
		tk := w.tokens[r.IntN(len(w.tokens))]
		at := tk.iat.Add(time.Duration(r.Int64N(int64(tk.exp.Sub(tk.iat)))))
		if at.After(w.now) {
			at = w.now.Add(-time.Duration(r.IntN(60)) * time.Second)
		}
		rep := mayfly.LedgerReport{Time: at, Service: services[r.IntN(len(services))], JTI: tk.jti, Digest: tk.digest, KID: tk.kid,
			ClientID: tk.client, Subject: tk.sub, Refused: r.IntN(30) == 0}
		net := nets[r.IntN(len(nets))]
		if tk.forged {
			net = nets[2+r.IntN(2)]
		}
		rep.SourceIP = netip.MustParseAddr(fmt.Sprintf("%s%d", net, 1+r.IntN(3)))
		if !rep.Refused && r.IntN(10) > 0 {
			rep.Records = map[string][]uint64{}
			for _, ns := range []string{"customer", "order"}[:1+r.IntN(2)] {
				var ids []uint64
				for range 1 + r.IntN(8) {
					id := uint64(r.IntN(400))
					if r.IntN(3) == 0 {
						id += 1<<32 - 200 // around and above 2^32
					}
					ids = append(ids, id)
				}
				slices.Sort(ids)
				rep.Records[ns] = slices.Compact(ids)
			}
		}
		w.reports = append(w.reports, rep)
	}
	if days > 2 {
		w.reports = append(w.reports, scans...)
	}
	deltas, err := ledger.Deltas(w.reports, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The claims of a token as a service reports them carry its
	// principal; Deltas takes what the report says.
	byJTI := map[string]*tok{}
	for _, tk := range w.tokens {
		byJTI[tk.jti] = tk
	}
	for i := range deltas {
		deltas[i].Token.PrincipalID = byJTI[deltas[i].Token.JTI].principal
	}
	for chunk := range slices.Chunk(deltas, 500) {
		if err := mayfly.Transact(ctx, w.st, func(tx mayfly.Tx) error { return w.st.MergeLedger(tx, chunk) }); err != nil {
			t.Fatal(err)
		}
	}
	w.gaps = []*mayfly.LedgerGap{{Service: "billing", From: off.Add(-time.Hour), To: off.Add(time.Hour), Dropped: 12}}
	if err := mayfly.Transact(ctx, w.st, func(tx mayfly.Tx) error { return w.st.RecordLedgerGaps(tx, w.gaps) }); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{Store: w.st, Clock: apptest.NewClock(w.now), Batch: 400, UnionMin: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	w.cutoffs = [2]time.Time{l.Cutoff(0, w.now), l.Cutoff(1, w.now)}
	return w
}

// unite makes the day unions of every value at least min buckets of a
// day share, as the ledger's maintenance does, and reports how many days
// it made them for.
func (w *world) unite(t *testing.T, min int) int {
	t.Helper()
	l, err := ledger.New(ledger.Config{Store: w.st, Clock: apptest.NewClock(w.now), Batch: 400, UnionMin: min})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Maintain(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rep.United
}

// bucket is a bucket as the brute force computes it from the reports.
type bucket struct {
	start, end        time.Time
	token             mayfly.LedgerToken
	rolled            bool
	ns                string
	ids               map[uint64]bool
	requests, refused int64
	services, sources map[string]bool // the least the ledger keeps
	servicesMore      bool            // if it saw more
	sourcesMore       bool
	toks              []*tok
}

// least keeps the n least of vs, and reports whether it dropped any.
func least(vs map[string]bool, n int) bool {
	if len(vs) <= n {
		return false
	}
	for _, v := range slices.Sorted(maps.Keys(vs))[n:] {
		delete(vs, v)
	}
	return true
}

// buckets maps every report to the bucket it ends in after maintenance:
// minutes ending by the first cutoff in hours, hours ending by the second
// in days, and there an issued token's reads in its credential's.
func (w *world) buckets() []*bucket {
	byJTI := map[string]*tok{}
	for _, tk := range w.tokens {
		byJTI[tk.jti] = tk
	}
	out := map[string]*bucket{}
	for _, rep := range w.reports {
		tk := byJTI[rep.JTI]
		width := time.Minute
		start := rep.Time.Truncate(time.Minute)
		if !start.Add(width).After(w.cutoffs[0]) {
			width, start = time.Hour, rep.Time.Truncate(time.Hour)
		}
		if width == time.Hour && !start.Add(width).After(w.cutoffs[1]) {
			width, start = 24*time.Hour, rep.Time.Truncate(24*time.Hour)
		}
		token := mayfly.LedgerToken{JTI: tk.jti, Digest: tk.digest, KID: tk.kid, ClientID: tk.client, PrincipalID: tk.principal, Subject: tk.sub}
		rolled := width == 24*time.Hour && tk.issued()
		if rolled {
			token = token.RolledUp()
		}
		nss := slices.Sorted(maps.Keys(rep.Records))
		if len(nss) == 0 {
			nss = []string{""}
		}
		for _, ns := range nss {
			k := fmt.Sprint(width, start.Unix(), token.JTI, token.Digest, ns)
			b := out[k]
			if b == nil {
				b = &bucket{start: start, end: start.Add(width), token: token, rolled: rolled, ns: ns, ids: map[uint64]bool{},
					services: map[string]bool{}, sources: map[string]bool{}}
				out[k] = b
			}
			for _, id := range rep.Records[ns] {
				b.ids[id] = true
			}
			if rep.Refused {
				b.refused++
			} else {
				b.requests++
			}
			b.services[rep.Service] = true
			b.sources[rep.SourceIP.String()] = true
			if !slices.Contains(b.toks, tk) {
				b.toks = append(b.toks, tk)
			}
		}
	}
	for _, b := range out {
		b.servicesMore = least(b.services, mayfly.LedgerMaxServices)
		b.sourcesMore = least(b.sources, mayfly.LedgerMaxSources)
	}
	return slices.Collect(maps.Values(out))
}

// brute answers q from the world's reports alone.
func (w *world) brute(q mayfly.ScopeQuery) *mayfly.Scope {
	from, to := q.From, q.To
	for _, p := range q.AfterOffboarding {
		if at := w.offAt[p]; at.After(from) {
			from = at
		}
	}
	in := func(vs []string, v string) bool { return len(vs) == 0 || slices.Contains(vs, v) }
	reach := map[string]bool{}
	for _, p := range q.Principals {
		reach["p:"+p] = true
		for id, o := range w.owner {
			if o == p && w.kinds[id] == mayfly.Service {
				reach["p:"+id] = true
			}
		}
	}
	for id, o := range w.owner {
		if w.kinds[id] == "" && reach["p:"+o] { // a client
			reach["c:"+id] = true
		}
	}
	if q.Custody {
		for _, p := range q.Principals {
			for _, kid := range w.custody[p] {
				reach["k:"+kid] = true
			}
		}
	}
	type acc struct {
		sets   map[string]map[uint64]bool
		tokens map[string]bool
		req    int64
	}
	newAcc := func() *acc { return &acc{sets: map[string]map[uint64]bool{}, tokens: map[string]bool{}} }
	all := newAcc()
	groups := map[string]*acc{}
	var refused int64
	services, sources := map[string]bool{}, map[string]bool{}
	first, last := map[string]time.Time{}, map[string]time.Time{}
	var minus map[string]map[uint64]bool
	if q.Minus != nil {
		m := w.brute(*q.Minus)
		minus = map[string]map[uint64]bool{}
		for _, ns := range m.Namespaces {
			minus[ns.Namespace] = bruteIDs[ns.Digest]
		}
	}
	step := 24 * time.Hour
	if q.Step == mayfly.ScopeHour {
		step = time.Hour
	}
	bs := w.buckets()
	slices.SortFunc(bs, func(a, b *bucket) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.end.Sub(a.start), b.end.Sub(b.start)), cmp.Compare(a.token.JTI, b.token.JTI),
			cmp.Compare(a.token.Digest, b.token.Digest), cmp.Compare(a.ns, b.ns))
	})
	timeline := map[mayfly.ScopePoint]uint64{}
	n, unsure := 0, 0
	for _, b := range bs {
		tk := b.token
		switch {
		case !from.IsZero() && !b.end.After(from), !to.IsZero() && !b.start.Before(to):
			continue
		case !in(q.Namespaces, b.ns) || !in(q.KIDs, tk.KID) || !in(q.Clients, tk.ClientID) || !in(q.Subjects, tk.Subject):
			continue
		case len(q.Principals) > 0 && !reach["p:"+tk.PrincipalID] && !reach["c:"+tk.ClientID] && !reach["k:"+tk.KID]:
			continue
		case len(q.Services) > 0 && !slices.ContainsFunc(q.Services, func(s string) bool { return b.services[s] }):
			if b.servicesMore { // it may have been used through one
				unsure++
			}
			continue
		case len(q.Sources) > 0 && !slices.ContainsFunc(q.Sources, func(p netip.Prefix) bool {
			return slices.ContainsFunc(slices.Collect(maps.Keys(b.sources)), func(s string) bool { return p.Contains(netip.MustParseAddr(s)) })
		}):
			if b.sourcesMore {
				unsure++
			}
			continue
		case q.Forged && (b.rolled || !b.toks[0].forged):
			continue
		}
		if !from.IsZero() && b.start.Before(from) && !w.aliveAt(b, from) {
			continue
		}
		n++
		ids := map[uint64]bool{}
		for id := range b.ids {
			if !minus[b.ns][id] {
				ids[id] = true
			}
		}
		var keys []string
		switch q.By {
		case mayfly.ScopeBySource:
			keys = slices.Collect(maps.Keys(b.sources))
		case mayfly.ScopeByService:
			keys = slices.Collect(maps.Keys(b.services))
		case mayfly.ScopeByClient:
			keys = []string{tk.ClientID}
		case mayfly.ScopeByPrincipal:
			keys = []string{tk.PrincipalID}
		case mayfly.ScopeByDay:
			keys = []string{b.start.Format(time.DateOnly)}
		}
		tkey := tk.JTI + "\x00" + tk.Digest
		for _, a := range append([]*acc{all}, func() []*acc {
			var gs []*acc
			for _, k := range keys {
				if groups[k] == nil {
					groups[k] = newAcc()
				}
				gs = append(gs, groups[k])
			}
			return gs
		}()...) {
			a.tokens[tkey] = true
			a.req += b.requests
			if b.ns != "" && len(ids) > 0 {
				if a.sets[b.ns] == nil {
					a.sets[b.ns] = map[uint64]bool{}
				}
				fresh := 0
				for id := range ids {
					if !a.sets[b.ns][id] {
						fresh++
					}
					a.sets[b.ns][id] = true
				}
				if a == all && fresh > 0 {
					timeline[mayfly.ScopePoint{Start: b.start.Truncate(step), Namespace: b.ns}] += uint64(fresh)
				}
			}
		}
		refused += b.refused
		maps.Copy(services, b.services)
		maps.Copy(sources, b.sources)
		if b.ns != "" && len(ids) > 0 {
			if f, ok := first[b.ns]; !ok || b.start.Before(f) {
				first[b.ns] = b.start
			}
			if b.end.After(last[b.ns]) {
				last[b.ns] = b.end
			}
		}
	}
	out := &mayfly.Scope{Tokens: len(all.tokens), Requests: all.req, Refusals: refused, Buckets: n,
		Services: slices.Sorted(maps.Keys(services)), Sources: slices.Sorted(maps.Keys(sources)),
		Completeness: mayfly.ScopeCompleteness{Unsure: unsure}}
	out.Namespaces = bruteNamespaces(all.sets, q.Namespaces, first, last)
	for pt, c := range timeline {
		pt.Records = c
		out.Timeline = append(out.Timeline, pt)
	}
	slices.SortFunc(out.Timeline, func(x, y mayfly.ScopePoint) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Namespace, y.Namespace))
	})
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		out.Groups = append(out.Groups, mayfly.ScopeGroup{Key: k, Namespaces: bruteNamespaces(g.sets, nil, nil, nil), Tokens: len(g.tokens), Requests: g.req})
	}
	return out
}

// aliveAt reports whether a bucket straddling from may hold reads from
// then: a forged token may, and an issued one if it (or, for a roll-up,
// some token of its credential issued by the bucket's end) expired after.
func (w *world) aliveAt(b *bucket, from time.Time) bool {
	if !b.rolled {
		return b.toks[0].forged || b.toks[0].exp.After(from)
	}
	for _, tk := range w.tokens {
		if tk.issued() && tk.kid == b.token.KID && tk.client == b.token.ClientID && tk.principal == b.token.PrincipalID && tk.sub == b.token.Subject &&
			!tk.iat.Before(from.Add(-mayfly.MaxTokenTTL)) && !tk.iat.After(b.end) && tk.exp.After(from) {
			return true
		}
	}
	return false
}

// bruteIDs remembers each set the brute force made by its digest, for a
// diff to take away.
var bruteIDs = map[string]map[uint64]bool{}

func bruteNamespaces(sets map[string]map[uint64]bool, want []string, first, last map[string]time.Time) []mayfly.ScopeNamespace {
	names := slices.Collect(maps.Keys(sets))
	names = append(names, want...)
	slices.Sort(names)
	names = slices.Compact(names)
	out := []mayfly.ScopeNamespace{}
	for _, ns := range names {
		rb := roaring64.New()
		for id := range sets[ns] {
			rb.Add(id)
		}
		sum := sha256.Sum256(scope.Encode(rb))
		d := hex.EncodeToString(sum[:])
		bruteIDs[d] = sets[ns]
		v := mayfly.ScopeNamespace{Namespace: ns, Records: uint64(len(sets[ns])), Digest: d}
		if first != nil {
			v.FirstRead, v.LastRead = first[ns], last[ns]
		}
		out = append(out, v)
	}
	return out
}

func decode(b []byte) (*roaring64.Bitmap, error) {
	rb := roaring64.New()
	return rb, rb.UnmarshalBinary(b)
}
