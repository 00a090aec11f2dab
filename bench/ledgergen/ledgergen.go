// Package ledgergen generates a synthetic, seeded workload for the access
// ledger and its detection rules: a week of benign traffic between
// services, with a daily rhythm, and injected attacks, each with the
// alerts it must raise.
//
// # The workload
//
// Services call one another: a request is reported by the service that
// accepted it (the callee) and presents a token of its caller's client,
// from one of the caller's own few networks (10.C.N.0/24, a handful of
// instances each). Each request reads a few customers (Zipf-skewed over
// Customers) and perhaps orders (IDs above 2^32). Traffic follows a daily
// rhythm, about a quarter of its peak at 04:00 UTC and its peak at 16:00.
//
// Benign traffic keeps the rules' plain definitions: no source address
// is shared by two clients, no client leaves its networks, every token is
// one Tokens supplied and is used within its lifetime, and no client
// reads more than a few thousand customers an hour.
//
// # Time
//
// Reports carry simulated times and come in time order as fast as the
// consumer takes them; nothing waits on a real clock, so a consumer with
// an injected clock runs a week in as long as it takes to ingest it.
// PeakPerMinute sets the density: a week at 20 is about 2.4 million
// reports.
//
// # Tokens
//
// The generator never mints a token. Tokens supplies the claims of a real
// token a holder (a service's client, or a person's) has at a time; the
// generator asks for tokens in time order, so a supplier that mints with
// an injected clock only moves it forward.
package ledgergen

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Token is what a service verified of a token: its claims and digest,
// and Raw, the compact token, if the supplier has it.
type Token struct {
	JTI, KID, Issuer, Subject, ClientID, PrincipalID string
	IssuedAt, Expires                                time.Time
	Digest                                           string
	Raw                                              string
}

// Tokens supplies real tokens. Token returns a token the holder's client
// holds at t (IssuedAt <= t < Expires), minted by Mayfly; calls come in
// the order of t. Holders are service names and Person.
type Tokens interface {
	Token(holder string, t time.Time) (Token, error)
}

// Forger is a Tokens that can also forge, as a thief with a copy of a
// signing key of Mayfly's can. Forge returns a token with claims' claims
// (its JTI, Issuer, Subject, ClientID, IssuedAt and Expires, and what
// else the genuine token it copies holds), signed with that key: Raw and
// Digest are the forgery's, and KID names the key. Where the Tokens does
// not forge, a forgery is reported by its claims, with a digest no token
// has.
type Forger interface {
	Forge(claims Token) (Token, error)
}

// Person is the holder whose client belongs to a person who is offboarded
// during the week.
const Person = "dana"

// Config is a workload. Zero fields take the defaults.
type Config struct {
	Seed          uint64
	Start         time.Time     // default 2026-01-05T00:00:00Z, a Monday
	Duration      time.Duration // default 7 days
	Services      int           // default 20
	Customers     int           // default 1,000,000
	PeakPerMinute float64       // benign requests per service a minute at the daily peak; default 20
	// Learning is how long benign traffic runs before the first attack,
	// for rules that learn baselines; default 3 days.
	Learning time.Duration
	// NoAttacks leaves the week benign.
	NoAttacks bool
}

func (c Config) withDefaults() Config {
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	c.Duration = cmp.Or(c.Duration, 7*24*time.Hour)
	c.Services = cmp.Or(c.Services, 20)
	c.Customers = cmp.Or(c.Customers, 1_000_000)
	c.PeakPerMinute = cmp.Or(c.PeakPerMinute, 20)
	c.Learning = cmp.Or(c.Learning, 3*24*time.Hour)
	return c
}

// Expect is an alert an attack raises: of Rule, about one of Subjects
// (KIND:ID as mayfly.Alert names subjects; a rule may name any of them).
type Expect struct {
	Rule     mayfly.Rule
	Subjects []string
}

// Attack is one injected attack and what it must raise.
type Attack struct {
	Name       string
	Start, End time.Time
	Must       []Expect // every one must be raised
	May        []Expect // may be raised too, as a side effect
}

// Action is something the consumer must do to Mayfly at a time, before it
// takes later reports: offboard a person.
type Action struct {
	Time   time.Time
	Kind   string // "offboard"
	Holder string
}

// Event is one step of the stream: a report (Attack names the attack it
// belongs to, "" for benign traffic) or an action.
type Event struct {
	Time   time.Time
	Report *mayfly.LedgerReport
	Attack string
	Action *Action
}

// The attacks, by name.
const (
	AttackForgedReuse = "forged-jti-reuse" // a real jti with other claims
	AttackForgedNew   = "forged-jti-new"   // a jti never issued
	AttackOffboarded  = "offboarded-in-use"
	AttackBulkExport  = "bulk-export"
	AttackNewNetwork  = "new-network"
	AttackSharedSrc   = "shared-source"
)

// Addresses the attacks come from, outside every benign network.
var (
	forgerNet    = netip.MustParsePrefix("192.0.2.0/24")
	newNet       = netip.MustParsePrefix("198.51.100.0/24")
	sharedSource = netip.MustParseAddr("203.0.113.66")
	officeNet    = netip.MustParsePrefix("172.16.5.0/24")
)

// ServiceName names service i.
func ServiceName(i int) string {
	names := [...]string{"orders", "billing", "crm", "search", "shipping", "invoices", "support", "catalog",
		"payments", "accounts", "notify", "reports", "returns", "loyalty", "fraud", "pricing", "inventory", "reviews", "tax", "export"}
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("svc-%02d", i)
}

// Generator streams one workload.
type Generator struct {
	cfg     Config
	tokens  Tokens
	rng     *rand.Rand
	zipf    *rand.Zipf
	callers [][]int // per service, the services whose clients call it
	current map[string]Token
	attacks []Attack
}

// New returns a generator of cfg's workload, its tokens from tokens.
func New(cfg Config, tokens Tokens) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg, tokens: tokens, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6c6564676572)), current: map[string]Token{}}
	g.zipf = rand.NewZipf(g.rng, 1.1, 8, uint64(cfg.Customers-1))
	// Each service is called by two or three others, and by itself.
	for s := range cfg.Services {
		callers := []int{s}
		for len(callers) < 2+g.rng.IntN(2) && cfg.Services > 3 {
			if c := g.rng.IntN(cfg.Services); !slices.Contains(callers, c) {
				callers = append(callers, c)
			}
		}
		g.callers = append(g.callers, callers)
	}
	return g
}

// Networks returns service i's networks: two or three /24s of its own.
func Networks(i int) []netip.Prefix {
	var ps []netip.Prefix
	for n := range 2 + i%2 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), byte(n), 0}), 24))
	}
	return ps
}

// instance is one of the caller's addresses, chosen at random.
func (g *Generator) instance(caller int) netip.Addr {
	nets := Networks(caller)
	b := nets[g.rng.IntN(len(nets))].Addr().As4()
	b[3] = byte(10 + g.rng.IntN(4))
	return netip.AddrFrom4(b)
}

// Rate is the daily rhythm: the fraction of the peak at t, from 0.25 at
// 04:00 UTC to 1 at 16:00.
func Rate(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	return 0.25 + 0.75*(1-math.Cos(2*math.Pi*(h-4)/24))/2
}

// token returns the holder's current token at t, asking for a new one
// once it expires.
func (g *Generator) token(holder string, t time.Time) (Token, error) {
	tok, ok := g.current[holder]
	if ok && !t.Before(tok.IssuedAt) && t.Before(tok.Expires) {
		return tok, nil
	}
	tok, err := g.tokens.Token(holder, t)
	if err != nil {
		return Token{}, fmt.Errorf("token of %s at %s: %w", holder, t.Format(time.RFC3339), err)
	}
	if t.Before(tok.IssuedAt) || !t.Before(tok.Expires) {
		return Token{}, fmt.Errorf("token of %s at %s: valid from %s to %s, not then", holder, t.Format(time.RFC3339), tok.IssuedAt, tok.Expires)
	}
	g.current[holder] = tok
	return tok, nil
}

// report is a request of tok, reported by service, from src.
func report(t time.Time, service string, src netip.Addr, method, route string, tok Token, recs map[string][]uint64) *mayfly.LedgerReport {
	r := &mayfly.LedgerReport{Time: t, Service: service, SourceIP: src, Method: method, Route: route, Records: recs}
	if tok.Raw != "" {
		r.Token = mayfly.LedgerRawToken(tok.Raw)
		return r
	}
	r.JTI, r.KID, r.Issuer, r.Subject, r.ClientID = tok.JTI, tok.KID, tok.Issuer, tok.Subject, tok.ClientID
	r.IssuedAt, r.Expires, r.Digest = tok.IssuedAt.Truncate(time.Second), tok.Expires.Truncate(time.Second), tok.Digest
	return r
}

// orderBase puts order IDs above 2^32.
const orderBase = 1 << 32

// benign reads a few customers and perhaps orders.
func (g *Generator) records() map[string][]uint64 {
	recs := map[string][]uint64{}
	for range 1 + g.rng.IntN(5) {
		recs["customer"] = append(recs["customer"], 1+g.zipf.Uint64())
	}
	for range g.rng.IntN(3) {
		recs["order"] = append(recs["order"], orderBase+uint64(g.rng.IntN(50_000_000)))
	}
	for ns, ids := range recs {
		slices.Sort(ids)
		recs[ns] = slices.Compact(ids)
	}
	return recs
}

// poisson draws from a Poisson distribution of mean m (Knuth's method
// for small means, a normal approximation above 30).
func (g *Generator) poisson(m float64) int {
	if m > 30 {
		return max(0, int(math.Round(m+math.Sqrt(m)*g.rng.NormFloat64())))
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= g.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

var routes = []struct{ method, route string }{
	{"GET", "/customers/{id}"}, {"GET", "/customers/{id}/orders"}, {"GET", "/orders/{id}"},
	{"POST", "/orders"}, {"PUT", "/customers/{id}"}, {"GET", "/search"},
}

// step is one thing to do at a time: emit a report or an action, or
// fetch a token ahead of its use. do returns the event to emit, or nil.
type step struct {
	at time.Time
	do func() (*Event, error)
}

// Run streams the workload to emit, in time order, and returns the
// attacks injected. It stops at emit's first error.
func (g *Generator) Run(emit func(Event) error) ([]Attack, error) {
	cfg := g.cfg
	var plan []step
	if !cfg.NoAttacks {
		var err error
		if plan, err = g.plan(); err != nil {
			return nil, err
		}
	}
	end := cfg.Start.Add(cfg.Duration)
	var minute []step
	for m := cfg.Start; m.Before(end); m = m.Add(time.Minute) {
		minute = minute[:0]
		rate := cfg.PeakPerMinute * Rate(m)
		for s := range cfg.Services {
			for range g.poisson(rate) {
				caller := g.callers[s][g.rng.IntN(len(g.callers[s]))]
				at := m.Add(time.Duration(g.rng.Int64N(int64(time.Minute))))
				rt := routes[g.rng.IntN(len(routes))]
				src, recs := g.instance(caller), g.records()
				minute = append(minute, step{at: at, do: func() (*Event, error) {
					tok, err := g.token(ServiceName(caller), at)
					if err != nil {
						return nil, err
					}
					return &Event{Time: at, Report: report(at, ServiceName(s), src, rt.method, rt.route, tok, recs)}, nil
				}})
			}
		}
		for len(plan) > 0 && plan[0].at.Before(m.Add(time.Minute)) {
			minute = append(minute, plan[0])
			plan = plan[1:]
		}
		slices.SortStableFunc(minute, func(a, b step) int { return a.at.Compare(b.at) })
		for _, st := range minute {
			ev, err := st.do()
			if err != nil {
				return nil, err
			}
			if ev == nil {
				continue
			}
			if err := emit(*ev); err != nil {
				return nil, err
			}
		}
	}
	return g.attacks, nil
}

// forge returns forged signed by the Tokens' Forger if it has one, and
// forged, reported by its claims, if not.
func (g *Generator) forge(forged Token) (Token, error) {
	f, ok := g.tokens.(Forger)
	if !ok {
		forged.Raw = ""
		return forged, nil
	}
	tok, err := f.Forge(forged)
	if err != nil {
		return Token{}, fmt.Errorf("forging a token of %s: %w", forged.ClientID, err)
	}
	return tok, nil
}

// randomJTI is a jti Mayfly never issued.
func (g *Generator) randomJTI() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomDigest is a digest no genuine token has.
func (g *Generator) randomDigest() string { return g.randomJTI()[:22] }
