// Package scope answers "what did this key, person, client or address
// read?" from the access ledger: the exact set of records the tokens a
// query selects read, per namespace, with the timeline, the breakdowns
// and what the ledger cannot vouch for.
//
// # Invariants
//
//   - Counts are exact distinct counts of the union of the selected
//     buckets' record bitmaps, never estimates.
//   - A bucket is selected whole or not at all: times are exact to the
//     width of the buckets involved, and a bucket that straddles the
//     window's start is left out only when every token it stands for
//     had expired by then (issuance records say so), since no token can
//     read after it expires.
//   - Filters within one field are ORed, fields are ANDed; a name that
//     does not exist (a principal, a client, a key) is a NotFound error
//     that names it; an empty window is zero, not an error.
//   - The answer states which services reported in the window and the
//     ledger's recorded gaps there, and how many buckets a service or
//     source filter could not decide.
package scope

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// Store is what a scope reads.
type Store interface {
	ScanLedger(ctx context.Context, f mayfly.LedgerFilter, fn func(*mayfly.LedgerBucket) error) error
	LedgerServices(ctx context.Context, from, to time.Time) ([]string, bool, error)
	LedgerRecords(ctx context.Context, b *mayfly.LedgerBucket) ([]byte, error)
	LedgerGaps(ctx context.Context, from, to time.Time) ([]*mayfly.LedgerGap, error)
	LedgerUnionDays(ctx context.Context, from, to time.Time) ([]time.Time, error)
	LedgerUnions(ctx context.Context, f mayfly.LedgerUnionFilter) ([]mayfly.LedgerUnion, error)
	Principal(ctx context.Context, idOrName string) (*mayfly.Principal, error)
	Principals(ctx context.Context) ([]*mayfly.Principal, error)
	Client(ctx context.Context, id string) (*mayfly.Client, error)
	Clients(ctx context.Context) ([]*mayfly.Client, error)
	Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error)
	Keys(ctx context.Context) ([]*mayfly.Key, error)
	Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error)
	Offboardings(ctx context.Context, principalID string, unfinished bool) ([]*mayfly.Offboarding, error)
}

// Evidence is the audit log, as a report needs it: an entry records each
// report, and the log's key signs it.
type Evidence interface {
	Append(ctx context.Context, e mayfly.AuditEntry) (uint64, error)
	SignScopeReport(index uint64, sum [32]byte) (string, error)
	Origin() string
}

// Config configures a Service.
type Config struct {
	Store Store
	// Evidence signs and records reports; nil makes none.
	Evidence Evidence
	Clock    mayfly.Clock
}

// Service answers scope queries.
type Service struct {
	st    Store
	ev    Evidence
	clock mayfly.Clock
}

// New returns a Service on cfg.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = mayfly.SystemClock{}
	}
	return &Service{st: cfg.Store, ev: cfg.Evidence, clock: cfg.Clock}
}

// Report answers q as evidence: the answer without its IDs, recorded by
// an audit entry of its digest and signed, with that entry's index, by
// the log's key. The entry is durable before the report is returned.
func (s *Service) Report(ctx context.Context, q mayfly.ScopeQuery) (*mayfly.SignedScopeReport, error) {
	if s.ev == nil {
		return nil, mayfly.Errorf(mayfly.Unavailable, "scope reports need the audit log")
	}
	q.IDs = false
	a, err := s.Run(ctx, q)
	if err != nil {
		return nil, err
	}
	rep := mayfly.ScopeReport{Format: bundle.ScopeReportFormat, Origin: s.ev.Origin(), Time: s.clock.Now().UTC(),
		Actor: audit.Actor(ctx), Scope: *a}
	sum, err := bundle.ScopeReportDigest(&rep)
	if err != nil {
		return nil, mayfly.E("scope.Report", err)
	}
	var counts []string
	for _, ns := range a.Namespaces {
		counts = append(counts, fmt.Sprintf("%s=%d", ns.Namespace, ns.Records))
	}
	idx, err := s.ev.Append(ctx, mayfly.AuditEntry{Action: mayfly.ActionScopeReported, Details: map[string]string{
		"report_sha256": base64.StdEncoding.EncodeToString(sum[:]), "records": strings.Join(counts, ","), "buckets_digest": a.BucketsDigest}})
	if err != nil {
		return nil, err
	}
	sig, err := s.ev.SignScopeReport(idx, sum)
	if err != nil {
		return nil, mayfly.E("scope.Report", err)
	}
	return &mayfly.SignedScopeReport{Report: rep, AuditIndex: idx, Signature: sig}, nil
}

// Run answers q.
func (s *Service) Run(ctx context.Context, q mayfly.ScopeQuery) (*mayfly.Scope, error) {
	if err := check(q, true); err != nil {
		return nil, err
	}
	var minus map[string]*roaring64.Bitmap
	if q.Minus != nil {
		m, err := s.plan(ctx, *q.Minus)
		if err != nil {
			return nil, fmt.Errorf("the query taken away: %w", err)
		}
		a, err := s.scan(ctx, m, nil)
		if err != nil {
			return nil, err
		}
		minus = a.sets
	}
	p, err := s.plan(ctx, q)
	if err != nil {
		return nil, err
	}
	a, err := s.scan(ctx, p, minus)
	if err != nil {
		return nil, err
	}
	gaps, err := s.st.LedgerGaps(ctx, p.from, p.to)
	if err != nil {
		return nil, mayfly.E("scope", err)
	}
	return a.answer(q, p, gaps), nil
}

// check refuses what no store could answer.
func check(q mayfly.ScopeQuery, top bool) error {
	switch {
	case !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From):
		return mayfly.InvalidField("to", "the window's end (%s) must be after its start (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case !slices.Contains([]string{"", mayfly.ScopeBySource, mayfly.ScopeByClient, mayfly.ScopeByPrincipal, mayfly.ScopeByService, mayfly.ScopeByDay}, q.By):
		return mayfly.InvalidField("by", "cannot break a scope down by %q: by source, client, principal, service or day", q.By)
	case q.Step != "" && q.Step != mayfly.ScopeHour && q.Step != mayfly.ScopeDay:
		return mayfly.InvalidField("step", "a timeline steps by hour or day, not %q", q.Step)
	case q.Custody && len(q.Principals) == 0:
		return mayfly.InvalidField("custody", "custody needs a principal: whose custody")
	case q.Minus != nil && !top:
		return mayfly.InvalidField("minus", "a query taken away cannot take one away itself")
	}
	for _, p := range q.Sources {
		if !p.IsValid() {
			return mayfly.InvalidField("source", "a source is a CIDR prefix such as 203.0.113.0/24")
		}
	}
	if q.Minus != nil {
		return check(*q.Minus, false)
	}
	return nil
}

// plan is a query resolved against the store: every name looked up, the
// window moved by offboarding.
type plan struct {
	kids, clients, subjects, services, namespaces set
	sources                                       []netip.Prefix
	// The principals' reach: tokens naming one of these principals or
	// clients, or signed by one of these keys (custody).
	principals                       bool
	ownPrincipals, ownClients, ownKs set
	forged                           bool
	from, to                         time.Time
	by                               string
	step                             time.Duration
}

type set map[string]bool

func setOf(vs []string) set {
	if len(vs) == 0 {
		return nil
	}
	s := set{}
	for _, v := range vs {
		s[v] = true
	}
	return s
}

// has reports whether v is in s; a nil set has everything.
func (s set) has(v string) bool { return s == nil || s[v] }

// add adds v, copied as it is set, so that the set's values lie together
// rather than in the bucket lists they were first read in. Most of a
// window's buckets name values already set: looking them up costs less
// than setting them again.
func (s set) add(v string) {
	if !s[v] {
		s[strings.Clone(v)] = true
	}
}

func (s *Service) plan(ctx context.Context, q mayfly.ScopeQuery) (*plan, error) {
	p := &plan{kids: setOf(q.KIDs), subjects: setOf(q.Subjects), services: setOf(q.Services), namespaces: setOf(q.Namespaces),
		sources: q.Sources, forged: q.Forged, from: q.From, to: q.To, by: q.By, step: 24 * time.Hour}
	if q.Step == mayfly.ScopeHour {
		p.step = time.Hour
	}
	if len(q.KIDs) > 0 {
		keys, err := s.st.Keys(ctx)
		if err != nil {
			return nil, mayfly.E("scope", err)
		}
		known := set{}
		for _, k := range keys {
			known[k.KID] = true
		}
		for _, kid := range q.KIDs {
			if !known[kid] {
				return nil, mayfly.Errorf(mayfly.NotFound, "no key %q: kid names no signing key Mayfly has or had", kid)
			}
		}
	}
	if len(q.Clients) > 0 {
		p.clients = set{}
		for _, id := range q.Clients {
			if _, err := s.st.Client(ctx, id); err != nil {
				return nil, notFound(err, "client", id)
			}
			p.clients[id] = true
		}
	}
	if len(q.Principals) > 0 {
		if err := s.reach(ctx, p, q); err != nil {
			return nil, err
		}
	}
	for _, name := range q.AfterOffboarding {
		pr, err := s.st.Principal(ctx, name)
		if err != nil {
			return nil, notFound(err, "principal", name)
		}
		runs, err := s.st.Offboardings(ctx, pr.ID, false)
		if err != nil {
			return nil, mayfly.E("scope", err)
		}
		if len(runs) == 0 {
			return nil, mayfly.InvalidField("after_offboarding", "principal %q has not been offboarded", name)
		}
		began := runs[0].StartedAt
		for _, r := range runs[1:] {
			if r.StartedAt.Before(began) {
				began = r.StartedAt
			}
		}
		if began.After(p.from) {
			p.from = began
		}
	}
	if !p.to.IsZero() && !p.from.IsZero() && !p.to.After(p.from) {
		p.to = p.from // an empty window: nothing, not an error
	}
	return p, nil
}

// reach resolves q's principals: what they own, and with custody the keys
// of the rings they had custody of.
func (s *Service) reach(ctx context.Context, p *plan, q mayfly.ScopeQuery) error {
	p.principals = true
	p.ownPrincipals, p.ownClients, p.ownKs = set{}, set{}, set{}
	for _, name := range q.Principals {
		pr, err := s.st.Principal(ctx, name)
		if err != nil {
			return notFound(err, "principal", name)
		}
		p.ownPrincipals[pr.ID] = true
	}
	all, err := s.st.Principals(ctx)
	if err != nil {
		return mayfly.E("scope", err)
	}
	people := maps.Clone(p.ownPrincipals)
	for _, pr := range all {
		if pr.Kind == mayfly.Service && people[pr.OwnerID] {
			p.ownPrincipals[pr.ID] = true
		}
	}
	clients, err := s.st.Clients(ctx)
	if err != nil {
		return mayfly.E("scope", err)
	}
	for _, c := range clients {
		if p.ownPrincipals[c.OwnerID] {
			p.ownClients[c.ID] = true
		}
	}
	if !q.Custody {
		return nil
	}
	rings := set{}
	for id := range people {
		cs, err := s.st.Custody(ctx, mayfly.CustodyFilter{PrincipalID: id, Asset: mayfly.AssetRing})
		if err != nil {
			return mayfly.E("scope", err)
		}
		for _, c := range cs {
			rings[c.AssetID] = true
		}
	}
	keys, err := s.st.Keys(ctx)
	if err != nil {
		return mayfly.E("scope", err)
	}
	for _, k := range keys {
		if rings[k.Ring] {
			p.ownKs[k.KID] = true
		}
	}
	return nil
}

// notFound names what was not found, or passes a store's failure on.
func notFound(err error, what, name string) error {
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return mayfly.Errorf(mayfly.NotFound, "no %s %q", what, name)
	}
	return mayfly.E("scope", err)
}

// tokenMatches applies the filters on what a token names.
func (p *plan) tokenMatches(t mayfly.LedgerToken) bool {
	if !p.kids.has(t.KID) || !p.clients.has(t.ClientID) || !p.subjects.has(t.Subject) {
		return false
	}
	if p.principals && !p.ownPrincipals[t.PrincipalID] && !p.ownClients[t.ClientID] && !p.ownKs[t.KID] {
		return false
	}
	return true
}

// acc accumulates the selected buckets.
type acc struct {
	sets               map[string]*roaring64.Bitmap
	first, last        map[string]time.Time
	tokens             tokenSet
	requests, refusals int64
	services, sources  set
	buckets            int
	coveredFrom        time.Time
	coveredTo          time.Time
	step               time.Duration
	timeline           map[mayfly.ScopePoint]uint64 // keyed without Records
	groups             map[string]*group
	reporting          set
	reportingMore      bool
	unsure             int
	keys               hash.Hash // of the selected buckets' keys
	// dense, if set, is told whether a namespace's whole is dense each
	// time unions are added to it.
	dense func(ns string, dense bool)
	// The step being read: its start, and its records by namespace.
	period time.Time
	cur    map[string]*recordset.Gather
	buf    []uint64 // a bucket's IDs, decoded
	key    []byte   // a bucket's key, for keys
}

type group struct {
	sets     map[string]*recordset.Gather
	tokens   tokenSet
	requests int64
}

// tokenSet is a set of tokens by jti and digest: keyed by the pair, not by
// a string made of it, which cost an allocation per bucket.
type tokenSet map[tokenID]struct{}

type tokenID struct{ jti, digest string }

// add adds t's ID. It is copied as it is set: a union's buckets' names
// share one string, which the set would hold otherwise.
func (s tokenSet) add(t mayfly.LedgerToken) {
	if _, ok := s[tokenID{t.JTI, t.Digest}]; !ok {
		s[tokenID{strings.Clone(t.JTI), strings.Clone(t.Digest)}] = struct{}{}
	}
}

// issued is what the issuance records say of a bucket's token.
type issued struct {
	found   bool
	expires time.Time
}

func tokenKey(t mayfly.LedgerToken) string { return t.JTI + "\x00" + t.Digest }

// scan reads the window's buckets and accumulates those p selects, less
// the records of minus.
func (s *Service) scan(ctx context.Context, p *plan, minus map[string]*roaring64.Bitmap) (*acc, error) {
	a := &acc{sets: map[string]*roaring64.Bitmap{}, first: map[string]time.Time{}, last: map[string]time.Time{}, tokens: tokenSet{},
		services: set{}, sources: set{}, timeline: map[mayfly.ScopePoint]uint64{}, groups: map[string]*group{}, reporting: set{},
		step: p.step, keys: sha256.New(), cur: map[string]*recordset.Gather{}}
	if !p.to.IsZero() && !p.to.After(p.from) {
		return a, nil
	}
	cache := map[string]issued{}
	edge := map[mayfly.LedgerToken]bool{} // a roll-up's credential had a token alive at p.from
	// What the store can select it does, so that it hands over only the
	// buckets that may match; what it cannot (services, sources, forgery,
	// the window's edge) is decided here.
	f := mayfly.LedgerFilter{From: p.from, To: p.to, KIDs: keys(p.kids), ClientIDs: keys(p.clients), Subjects: keys(p.subjects),
		Namespaces: keys(p.namespaces)}
	if p.principals {
		f.Reach = &mayfly.LedgerReach{PrincipalIDs: keys(p.ownPrincipals), ClientIDs: keys(p.ownClients), KIDs: keys(p.ownKs)}
	}
	// Where most buckets the store hands over may be turned away here,
	// their records are read only for those kept.
	f.NoRecords = p.services != nil || len(p.sources) > 0 || p.forged
	services, more, err := s.st.LedgerServices(ctx, p.from, p.to)
	if err != nil {
		return nil, mayfly.E("scope", err)
	}
	a.reporting, a.reportingMore = setOf(services), more
	// visit applies what a bucket says of itself.
	visit := func(b *mayfly.LedgerBucket) bool {
		if !p.namespaces.has(b.Namespace) || !p.tokenMatches(b.Token) {
			return false
		}
		if p.services != nil && !slices.ContainsFunc(b.Services, p.services.has) {
			if b.ServicesMore {
				a.unsure++
			}
			return false
		}
		if len(p.sources) > 0 && !slices.ContainsFunc(b.Sources, p.inSources) {
			if b.SourcesMore {
				a.unsure++
			}
			return false
		}
		return true
	}
	// process asks the issuance records what they must decide, reads the
	// records if the scan left them, and adds the bucket. Never during a
	// scan: the scan holds a connection, and a scope that waited for a
	// second while every other held one would wait forever.
	edgeOf := func(b *mayfly.LedgerBucket) bool { return !p.from.IsZero() && b.Start.Before(p.from) }
	process := func(b *mayfly.LedgerBucket) error {
		if p.forged || edgeOf(b) {
			iss, err := s.issued(ctx, cache, b.Token, p.from, b.End(), edge)
			if err != nil {
				return mayfly.E("scope", err)
			}
			if p.forged && iss.found {
				return nil
			}
			if iss.found && edgeOf(b) && !iss.expires.After(p.from) {
				return nil // every token of it had expired when the window opens
			}
		}
		if f.NoRecords {
			recs, err := s.st.LedgerRecords(ctx, b)
			if err != nil {
				return mayfly.E("scope", err)
			}
			b.Records = recs
		}
		return a.add(b, p, minus, false)
	}
	scan := func(f mayfly.LedgerFilter, fn func(b *mayfly.LedgerBucket) error) error {
		if err := s.st.ScanLedger(ctx, f, fn); err != nil {
			if mayfly.ErrorCode(err) != mayfly.Internal {
				return err
			}
			return mayfly.E("scope", err)
		}
		return nil
	}
	// The buckets that straddle the window's start come first, in order
	// of start as every bucket: read apart, as the issuance records
	// decide whether they count.
	if !p.from.IsZero() {
		fe := f
		fe.To = p.from
		var straddling []*mayfly.LedgerBucket
		err := scan(fe, func(b *mayfly.LedgerBucket) error {
			if edgeOf(b) && visit(b) {
				straddling = append(straddling, b)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, b := range straddling {
			if err := process(b); err != nil {
				return nil, err
			}
		}
	}
	// The rest in order of start: the days whose unions are made one by
	// one, the time between them as one scan each.
	var days []time.Time
	dims := p.unionDims()
	if dims != nil {
		if days, err = s.st.LedgerUnionDays(ctx, p.from, p.to); err != nil {
			return nil, mayfly.E("scope", err)
		}
	}
	segment := func(from, to time.Time) error {
		fs := f
		fs.From, fs.To = from, to
		if from != p.from {
			fs.StartFrom = from // what starts before is the segment's before
		}
		var kept []*mayfly.LedgerBucket
		err := scan(fs, func(b *mayfly.LedgerBucket) error {
			// A bucket that starts before the segment is the segment's
			// before it, or one straddling the window's start.
			if b.Start.Before(from) || !visit(b) {
				return nil
			}
			if f.NoRecords || p.forged {
				kept = append(kept, b) // decided once the scan is over
				return nil
			}
			return a.add(b, p, minus, false)
		})
		if err != nil {
			return err
		}
		for _, b := range kept {
			if err := process(b); err != nil {
				return err
			}
		}
		return nil
	}
	// The union days are read and decoded a day or two ahead of their
	// adding, on the other core.
	prepared := s.prepareDays(ctx, p, dims, days, minus, a)
	defer prepared.stop()
	from := p.from
	for _, day := range days {
		if day.After(from) || from.IsZero() {
			if err := segment(from, day); err != nil {
				return nil, err
			}
		}
		d, err := prepared.next()
		if err != nil {
			return nil, err
		}
		if d.ok {
			err = a.apply(d, p, minus, visit)
		} else { // its unions were dropped since they were listed
			err = segment(day, day.Add(mayfly.LedgerDay))
		}
		if err != nil {
			return nil, err
		}
		from = day.Add(mayfly.LedgerDay)
	}
	if p.to.IsZero() || p.to.After(from) {
		if err := segment(from, p.to); err != nil {
			return nil, err
		}
	}
	a.flush()
	return a, nil
}

// unionDims are the day unions that stand for what p selects, by
// dimension: p selects every bucket with one of their values, whatever
// else the bucket says, and no other. A dimension's values are listed, or
// for sources matched against the values there are; the services and
// sources unions of LedgerUnionMore are read besides. Nil if p selects by
// more than one of them, or by what unions do not keep (subjects,
// forgery), or a breakdown needs the buckets' records apart.
func (p *plan) unionDims() map[string]unionDim {
	if p.subjects != nil || p.forged || p.by != "" {
		return nil
	}
	var dims []map[string]unionDim
	if p.kids != nil {
		dims = append(dims, map[string]unionDim{mayfly.LedgerDimKID: {values: keys(p.kids)}})
	}
	if p.clients != nil {
		dims = append(dims, map[string]unionDim{mayfly.LedgerDimClient: {values: keys(p.clients)}})
	}
	if p.principals {
		dims = append(dims, map[string]unionDim{mayfly.LedgerDimPrincipal: {values: keys(p.ownPrincipals)},
			mayfly.LedgerDimClient: {values: keys(p.ownClients)}, mayfly.LedgerDimKID: {values: keys(p.ownKs)}})
	}
	if p.services != nil {
		dims = append(dims, map[string]unionDim{mayfly.LedgerDimService: {values: keys(p.services)}})
	}
	if len(p.sources) > 0 {
		dim, ok := sourceDim(p.sources)
		if !ok {
			return nil
		}
		dims = append(dims, map[string]unionDim{mayfly.LedgerDimSource: dim})
	}
	switch len(dims) {
	case 0:
		return map[string]unionDim{mayfly.LedgerDimAll: {values: []string{""}}}
	case 1:
		return dims[0]
	}
	return nil
}

// sourceDim is the source unions that stand for source prefixes: listed
// if they are at most 4,096, else matched. Unions are kept by /24 (IPv6
// /48): a narrower prefix takes in part of one, which only the buckets
// can tell, and then there are none.
func sourceDim(prefixes []netip.Prefix) (unionDim, bool) {
	var values []string
	listed := true
	for _, q := range prefixes {
		bits := 24
		if q.Addr().Is6() {
			bits = 48
		}
		if q.Bits() > bits {
			return unionDim{}, false
		}
		n := bits - q.Bits()
		if n > 12 || len(values)+1<<n > 4096 {
			listed = false
			continue
		}
		a := q.Masked().Addr()
		for range 1 << n {
			values = append(values, netip.PrefixFrom(a, bits).String())
			a = nextNet(a, bits)
		}
	}
	if listed {
		slices.Sort(values)
		return unionDim{values: slices.Compact(values)}, true
	}
	return unionDim{match: func(v string) bool {
		net, err := netip.ParsePrefix(v)
		return err == nil && slices.ContainsFunc(prefixes, func(q netip.Prefix) bool {
			return q.Bits() <= net.Bits() && q.Contains(net.Addr())
		})
	}}, true
}

// nextNet is the address of the network of bits after a's.
func nextNet(a netip.Addr, bits int) netip.Addr {
	b := a.As16()
	off := 128 - a.BitLen() // an IPv4 address is the last 4 bytes
	i := (off + bits - 1) / 8
	carry := uint(1) << (7 - uint(off+bits-1)%8)
	for ; i >= 0 && carry > 0; i-- {
		v := uint(b[i]) + carry
		b[i], carry = byte(v), v>>8
	}
	if a.Is4() {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return netip.AddrFrom16(b)
}

// unionDim is the values of one dimension a plan selects.
type unionDim struct {
	values []string          // these, if not nil
	match  func(string) bool // else those it matches
}

// unionDay is what a day whose unions are made holds for a plan, read
// from the unions that stand for every value the plan selects: the
// buckets each lists, in the order a scan of the day gives them (a bucket
// in several unions, such as two sources, or a person's service and a
// key in their custody, once), with the records of those no union with
// records stands for; and each namespace's unions with records, united.
type unionDay struct {
	day    time.Time
	ok     bool // false if the day's unions were dropped since listed
	bs     []member
	unions map[string][]*roaring64.Bitmap
	more   []*mayfly.LedgerBucket // kept only some services or sources
}

// member is a bucket a union lists, and whether its records are in a
// union's.
type member struct {
	b       *mayfly.LedgerBucket
	covered bool
}

// prepareDay reads and decodes a union day for p, whose unions dims
// (p.unionDims) are, less the records of minus. It neither reads nor
// changes the accumulator, so that it can run ahead of it: dense says
// whether a namespace's whole was dense lately, which only chooses how
// unions are united.
func (s *Service) prepareDay(ctx context.Context, p *plan, dims map[string]unionDim, day time.Time, minus map[string]*roaring64.Bitmap, dense func(string) bool) (*unionDay, error) {
	d := &unionDay{day: day, unions: map[string][]*roaring64.Bitmap{}}
	var lists []mayfly.LedgerUnion // those listing buckets
	var unions []mayfly.LedgerUnion
	for _, dim := range slices.Sorted(maps.Keys(dims)) {
		f := mayfly.LedgerUnionFilter{Day: day, Dim: dim, Namespaces: keys(p.namespaces), Buckets: true, Records: true,
			Values: append([]string{}, dims[dim].values...)}
		if dims[dim].match != nil {
			// Which values a source prefix takes in is known only from
			// the values there are.
			us, err := s.st.LedgerUnions(ctx, mayfly.LedgerUnionFilter{Day: day, Dim: dim, Namespaces: f.Namespaces})
			if err != nil {
				return unionErr(d, err)
			}
			f.Values = []string{}
			for _, u := range us {
				if dims[dim].match(u.Value) {
					f.Values = append(f.Values, u.Value)
				}
			}
		}
		if dim == mayfly.LedgerDimService || dim == mayfly.LedgerDimSource {
			// The buckets that kept only some of their services or
			// sources: undecided, unless one they kept is selected.
			f.Values = append(f.Values, mayfly.LedgerUnionMore)
		}
		slices.Sort(f.Values)
		f.Values = slices.Compact(f.Values)
		us, err := s.st.LedgerUnions(ctx, f)
		if err != nil {
			return unionErr(d, err)
		}
		for _, u := range us {
			if u.Value == mayfly.LedgerUnionMore {
				for i := range u.Buckets {
					d.more = append(d.more, &u.Buckets[i])
				}
				continue
			}
			if len(u.Buckets) > 0 {
				lists = append(lists, u)
			}
			if u.Records != nil {
				unions = append(unions, u)
			}
		}
	}
	// A bucket is in one union of a dimension that keys it by one value;
	// it is in a service union for each service, a source union for each
	// /24 it was used from.
	disjoint := len(dims) == 1
	for dim := range dims {
		disjoint = disjoint && dim != mayfly.LedgerDimService && dim != mayfly.LedgerDimSource
	}
	d.bs = members(lists, disjoint)
	slices.SortFunc(d.bs, func(x, y member) int {
		return cmp.Or(strings.Compare(x.b.Token.JTI, y.b.Token.JTI), strings.Compare(x.b.Token.Digest, y.b.Token.Digest),
			strings.Compare(x.b.Namespace, y.b.Namespace))
	})
	for _, m := range d.bs {
		if !m.covered {
			var err error
			if m.b.Records, err = s.st.LedgerRecords(ctx, m.b); err != nil {
				return nil, mayfly.E("scope", err)
			}
		}
	}
	byNS := map[string][][]byte{}
	for _, u := range unions {
		byNS[u.Namespace] = append(byNS[u.Namespace], u.Records)
	}
	for ns, recs := range byNS {
		if dense(ns) {
			// The whole is mostly dense containers already, which each
			// union's IDs are set in one by one. A union is read where it
			// lies: its bytes are this day's alone.
			for _, r := range recs {
				rb, err := recordset.ViewBitmap(r)
				if err != nil {
					return nil, mayfly.E("scope", fmt.Errorf("ledger unions of %s on %s: %w", ns, day.Format(time.DateOnly), err))
				}
				d.unions[ns] = append(d.unions[ns], rb)
			}
		} else {
			// Sparse containers are united all at once first: merged
			// into the whole one union at a time, each would be merged
			// again with every union after it.
			rb, err := recordset.UnionBitmaps(recs, math.MaxInt)
			if err != nil {
				return nil, mayfly.E("scope", fmt.Errorf("ledger unions of %s on %s: %w", ns, day.Format(time.DateOnly), err))
			}
			d.unions[ns] = append(d.unions[ns], rb)
		}
		if m := minus[ns]; m != nil {
			for _, rb := range d.unions[ns] {
				rb.AndNot(m)
			}
		}
	}
	d.ok = true
	return d, nil
}

// members are the buckets unions list, each once, and whether a union's
// records hold its records. disjoint says no two unions list a bucket:
// the map that finds a bucket listed before cost a 90-day scope a tenth
// of its time.
func members(lists []mayfly.LedgerUnion, disjoint bool) []member {
	n := 0
	for _, u := range lists {
		n += len(u.Buckets)
	}
	type bucketID struct {
		tokenID
		ns string
	}
	bs := make([]member, 0, n)
	var seen map[bucketID]int // a bucket's index in bs
	if !disjoint {
		seen = make(map[bucketID]int, n)
	}
	for _, u := range lists {
		for i := range u.Buckets {
			b := &u.Buckets[i]
			covered := b.Namespace == "" || u.Records != nil // "": no records to read
			if seen != nil {
				k := bucketID{tokenID{b.Token.JTI, b.Token.Digest}, b.Namespace}
				if j, ok := seen[k]; ok {
					bs[j].covered = bs[j].covered || covered
					continue
				}
				seen[k] = len(bs)
			}
			bs = append(bs, member{b: b, covered: covered})
		}
	}
	return bs
}

// apply adds a prepared union day; the records of its buckets that no
// union holds less those of minus.
func (a *acc) apply(d *unionDay, p *plan, minus map[string]*roaring64.Bitmap, visit func(*mayfly.LedgerBucket) bool) error {
	// visit counts those of them it cannot decide, as for buckets read
	// one by one; one it selects is among d.bs already.
	for _, b := range d.more {
		visit(b)
	}
	for _, m := range d.bs {
		if !visit(m.b) {
			continue
		}
		if err := a.add(m.b, p, minus, m.covered); err != nil {
			return err
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(d.unions)) {
		for _, rb := range d.unions[ns] {
			a.addUnion(d.day, ns, rb)
		}
	}
	return nil
}

// prepared is union days being prepared in order by a goroutine.
type prepared struct {
	ctx    context.Context
	days   chan preparedDay
	cancel context.CancelFunc
	done   chan struct{}
}

type preparedDay struct {
	d   *unionDay
	err error
}

// prepareDays prepares days in order, at most two ahead of next. Whether
// a namespace's whole is dense is read from a as each day is taken.
func (s *Service) prepareDays(ctx context.Context, p *plan, dims map[string]unionDim, days []time.Time, minus map[string]*roaring64.Bitmap, a *acc) *prepared {
	ctx, cancel := context.WithCancel(ctx)
	pr := &prepared{ctx: ctx, days: make(chan preparedDay, 2), cancel: cancel, done: make(chan struct{})}
	var dense sync.Map // namespace -> bool, as the adding last saw it
	a.dense = func(ns string, v bool) { dense.Store(ns, v) }
	isDense := func(ns string) bool { v, _ := dense.Load(ns); return v == true }
	go func() {
		defer close(pr.done)
		for _, day := range days {
			d, err := s.prepareDay(ctx, p, dims, day, minus, isDense)
			select {
			case pr.days <- preparedDay{d, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return pr
}

// next is the next day prepared.
func (pr *prepared) next() (*unionDay, error) {
	select {
	case d := <-pr.days:
		return d.d, d.err
	case <-pr.done:
		select {
		case d := <-pr.days:
			return d.d, d.err
		default:
			return nil, mayfly.E("scope", pr.ctx.Err()) // the preparing was stopped
		}
	}
}

// stop ends the preparing and waits for it.
func (pr *prepared) stop() {
	pr.cancel()
	<-pr.done
}

// unionErr is d, not ok, for a day whose unions are gone, else the error.
func unionErr(d *unionDay, err error) (*unionDay, error) {
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return d, nil
	}
	return nil, mayfly.E("scope", err)
}

// denseWhole reports whether rb is mostly dense containers: a bitmap
// container takes 8 KiB for 65,536 IDs, an array 2 bytes an ID, so they
// cost less than 2 bytes an ID beyond 4,096 IDs a container.
var denseWhole = func(rb *roaring64.Bitmap) bool { return rb.GetSizeInBytes() < 2*rb.GetCardinality() }

// addUnion adds a day union's records straight to the whole: a union's
// IDs share their containers, which Or fills as fast as a gathering
// would, and the records first read in the day are what the whole grows
// by.
func (a *acc) addUnion(day time.Time, ns string, rb *roaring64.Bitmap) {
	if rb.IsEmpty() {
		return
	}
	a.read(ns, day, day.Add(mayfly.LedgerDay))
	all := a.join(ns, rb)
	if a.dense != nil {
		a.dense(ns, denseWhole(all))
	}
}

// decode reads records, less those of minus: as sorted IDs where
// recordset reads them (scattered IDs, far cheaper than a bitmap), else
// as a bitmap of at most max bytes. The IDs are in a slice reused by the
// next call: they are copied where they go.
func (a *acc) decode(recs []byte, max int, minus *roaring64.Bitmap) ([]uint64, *roaring64.Bitmap, error) {
	ids, err := recordset.DecodeAppend(a.buf[:0], recs, denseIDs)
	if err != nil {
		rb, err := recordset.DecodeBitmap(recs, max)
		if err != nil {
			return nil, nil, err
		}
		if minus != nil {
			rb.AndNot(minus)
		}
		return nil, rb, nil
	}
	a.buf = ids
	if minus != nil {
		ids = slices.DeleteFunc(ids, minus.Contains)
	}
	return ids, nil, nil
}

// keys lists s, sorted; nil for a nil set.
func keys(s set) []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s))
}

func (p *plan) inSources(src string) bool {
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return slices.ContainsFunc(p.sources, func(pr netip.Prefix) bool { return pr.Contains(ip) })
}

// issued looks up the issuance records of a bucket's token. For a
// roll-up (a credential's issued tokens) it finds whether any of them
// outlived from, reading issuances from MaxTokenTTL before from to the
// bucket's end: only those can have been alive at from.
func (s *Service) issued(ctx context.Context, cache map[string]issued, t mayfly.LedgerToken, from, end time.Time, edge map[mayfly.LedgerToken]bool) (issued, error) {
	if t.IsRollUp() {
		if from.IsZero() {
			return issued{found: true}, nil
		}
		alive, ok := edge[t]
		if !ok {
			recs, err := s.st.Issuances(ctx, mayfly.IssuanceFilter{KID: t.KID, ClientID: t.ClientID, Subject: t.Subject,
				Since: from.Add(-mayfly.MaxTokenTTL), Until: end})
			if err != nil {
				return issued{}, err
			}
			alive = slices.ContainsFunc(recs, func(r mayfly.Issuance) bool {
				return r.KID == t.KID && r.ClientID == t.ClientID && r.PrincipalID == t.PrincipalID && r.Subject == t.Subject &&
					r.ExpiresAt.After(from)
			})
			edge[t] = alive
		}
		if alive {
			return issued{found: true, expires: end}, nil
		}
		return issued{found: true, expires: from}, nil
	}
	k := tokenKey(t)
	if iss, ok := cache[k]; ok {
		return iss, nil
	}
	f := mayfly.IssuanceFilter{JTI: t.JTI}
	if t.JTI == "" {
		f = mayfly.IssuanceFilter{Digest: t.Digest}
	}
	recs, err := s.st.Issuances(ctx, f)
	if err != nil {
		return issued{}, err
	}
	var iss issued
	for _, r := range recs {
		// A record without a digest, or a report without one, matches on
		// the jti alone, as compaction does.
		if r.Digest == "" || t.Digest == "" || r.Digest == t.Digest {
			iss = issued{found: true, expires: r.ExpiresAt}
			break
		}
	}
	cache[k] = iss
	return iss, nil
}

// add accumulates one selected bucket; without its records if covered
// (a union holds them).
func (a *acc) add(b *mayfly.LedgerBucket, p *plan, minus map[string]*roaring64.Bitmap, covered bool) error {
	a.buckets++
	k := binary.AppendVarint(a.key[:0], int64(b.Width/time.Second))
	k = binary.AppendVarint(k, b.Start.Unix())
	for _, v := range []string{b.Token.JTI, b.Token.Digest, b.Namespace} {
		k = binary.AppendUvarint(k, uint64(len(v)))
		k = append(k, v...)
	}
	a.keys.Write(k)
	a.key = k
	if a.coveredFrom.IsZero() || b.Start.Before(a.coveredFrom) {
		a.coveredFrom = b.Start
	}
	if b.End().After(a.coveredTo) {
		a.coveredTo = b.End()
	}
	a.tokens.add(b.Token)
	a.requests += b.Requests
	a.refusals += b.Refusals
	for _, v := range b.Services {
		a.services.add(v)
	}
	for _, v := range b.Sources {
		a.sources.add(v)
	}
	// A bucket's records: as sorted IDs where recordset reads them (most
	// buckets, and far cheaper than a bitmap for scattered IDs), else as
	// a bitmap.
	var ids []uint64
	var rec *roaring64.Bitmap
	if b.Namespace != "" && len(b.Records) > 0 && !covered {
		var err error
		if ids, rec, err = a.decode(b.Records, mayfly.LedgerMaxRecordsBytes, minus[b.Namespace]); err != nil {
			return mayfly.E("scope", fmt.Errorf("ledger bucket at %s: %w", b.Start.Format(time.RFC3339), err))
		}
	}
	a.addRecords(b.Start, b.End(), b.Namespace, rec, ids)
	for _, k := range groupKeys(b, p) {
		g := a.groups[k]
		if g == nil {
			g = &group{sets: map[string]*recordset.Gather{}, tokens: tokenSet{}}
			a.groups[k] = g
		}
		g.tokens.add(b.Token)
		g.requests += b.Requests
		addTo(g.sets, b.Namespace, rec, ids)
	}
	return nil
}

// addRecords adds records read in [start, end) in namespace ns, as a
// bitmap or as IDs.
func (a *acc) addRecords(start, end time.Time, ns string, rec *roaring64.Bitmap, ids []uint64) {
	if len(ids) == 0 && (rec == nil || rec.IsEmpty()) {
		return
	}
	a.read(ns, start, end)
	addTo(a.cur, ns, rec, ids)
}

// read enters the step of start, and notes that ns had records read in
// [start, end). Records come in order of start, so a step's records come
// together: their union joins the whole once the step is over, and what
// it adds is what was first read in the step.
func (a *acc) read(ns string, start, end time.Time) {
	if period := start.Truncate(a.step); !period.Equal(a.period) {
		a.flush()
		a.period = period
	}
	if _, ok := a.first[ns]; !ok || start.Before(a.first[ns]) {
		a.first[ns] = start
	}
	if end.After(a.last[ns]) {
		a.last[ns] = end
	}
}

// addTo adds records to the set of namespace ns.
func addTo(sets map[string]*recordset.Gather, ns string, rec *roaring64.Bitmap, ids []uint64) {
	if len(ids) == 0 && (rec == nil || rec.IsEmpty()) {
		return
	}
	s := sets[ns]
	if s == nil {
		s = recordset.NewGather()
		sets[ns] = s
	}
	if rec != nil {
		s.AddBitmap(rec)
	} else {
		s.AddIDs(ids)
	}
}

// denseIDs bounds the IDs a bucket's records are read into as a slice;
// above, a bitmap holds them better.
const denseIDs = 1 << 16

func groupKeys(b *mayfly.LedgerBucket, p *plan) []string {
	switch p.by {
	case mayfly.ScopeBySource:
		return b.Sources
	case mayfly.ScopeByService:
		return b.Services
	case mayfly.ScopeByClient:
		return []string{b.Token.ClientID}
	case mayfly.ScopeByPrincipal:
		return []string{b.Token.PrincipalID}
	case mayfly.ScopeByDay:
		return []string{b.Start.UTC().Truncate(24 * time.Hour).Format(time.DateOnly)}
	}
	return nil
}

// flush adds the step's records to the whole, and what they add to the
// timeline.
func (a *acc) flush() {
	for ns, cur := range a.cur {
		a.join(ns, cur.Bitmap())
	}
	clear(a.cur)
}

// join adds rb to the whole of ns, and what it adds to the timeline of
// the step; it returns the whole.
func (a *acc) join(ns string, rb *roaring64.Bitmap) *roaring64.Bitmap {
	all := a.sets[ns]
	if all == nil {
		all = roaring64.New()
		a.sets[ns] = all
	}
	before := all.GetCardinality()
	all.Or(rb)
	if n := all.GetCardinality() - before; n > 0 {
		a.timeline[mayfly.ScopePoint{Start: a.period, Namespace: ns}] += n
	}
	return all
}

// answer makes the answer of what a accumulated.
func (a *acc) answer(q mayfly.ScopeQuery, p *plan, gaps []*mayfly.LedgerGap) *mayfly.Scope {
	out := &mayfly.Scope{Query: q, From: p.from, To: p.to, CoveredFrom: a.coveredFrom, CoveredTo: a.coveredTo,
		Tokens: len(a.tokens), Requests: a.requests, Refusals: a.refusals, Buckets: a.buckets, BucketsDigest: hex.EncodeToString(a.keys.Sum(nil)),
		Services: sorted(a.services), Sources: sorted(a.sources), Timeline: []mayfly.ScopePoint{}, Namespaces: []mayfly.ScopeNamespace{},
		Completeness: mayfly.ScopeCompleteness{Reporting: sorted(a.reporting), ReportingMore: a.reportingMore, Gaps: gaps, Unsure: a.unsure}}
	if out.Completeness.Gaps == nil {
		out.Completeness.Gaps = []*mayfly.LedgerGap{}
	}
	for k := range a.tokens {
		if k.jti == "" { // a roll-up (or a token named by digest alone)
			out.Credentials++
		}
	}
	out.Namespaces = namespaces(a.sets, q.Namespaces, q.IDs, a.first, a.last)
	for _, ns := range out.Namespaces {
		if ns.Records == 0 {
			continue
		}
		if out.FirstRead.IsZero() || ns.FirstRead.Before(out.FirstRead) {
			out.FirstRead = ns.FirstRead
		}
		if ns.LastRead.After(out.LastRead) {
			out.LastRead = ns.LastRead
		}
	}
	for pt, n := range a.timeline {
		pt.Records = n
		out.Timeline = append(out.Timeline, pt)
	}
	slices.SortFunc(out.Timeline, func(x, y mayfly.ScopePoint) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Namespace, y.Namespace))
	})
	for _, k := range slices.Sorted(maps.Keys(a.groups)) {
		g := a.groups[k]
		sets := map[string]*roaring64.Bitmap{}
		for ns, s := range g.sets {
			sets[ns] = s.Bitmap()
		}
		out.Groups = append(out.Groups, mayfly.ScopeGroup{Key: k, Namespaces: namespaces(sets, nil, false, nil, nil),
			Tokens: len(g.tokens), Requests: g.requests})
	}
	return out
}

// namespaces lists the sets by namespace, with want's namespaces at zero
// where nothing was read.
func namespaces(sets map[string]*roaring64.Bitmap, want []string, ids bool, first, last map[string]time.Time) []mayfly.ScopeNamespace {
	names := slices.Collect(maps.Keys(sets))
	for _, ns := range want {
		if sets[ns] == nil {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]mayfly.ScopeNamespace, 0, len(names))
	for _, ns := range names {
		rb := sets[ns]
		if rb == nil {
			rb = roaring64.New()
		}
		b := Encode(rb)
		sum := sha256.Sum256(b)
		v := mayfly.ScopeNamespace{Namespace: ns, Records: rb.GetCardinality(), Digest: hex.EncodeToString(sum[:])}
		if first != nil {
			v.FirstRead, v.LastRead = first[ns], last[ns]
		}
		if ids {
			v.Bitmap = b
		}
		out = append(out, v)
	}
	return out
}

// Encode is the portable serialization of rb, run-optimised: the bytes a
// namespace's digest is of, which any roaring library reads.
func Encode(rb *roaring64.Bitmap) []byte {
	b, err := recordset.EncodeBitmap(rb)
	if err != nil {
		panic(err) // writing to memory does not fail
	}
	return b
}

func sorted(s set) []string {
	out := slices.Sorted(maps.Keys(s))
	if out == nil {
		out = []string{}
	}
	return out
}
