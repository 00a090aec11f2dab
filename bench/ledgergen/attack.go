package ledgergen

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly"
)

// BulkCustomers is how many distinct customers the bulk export reads, in
// one hour.
const BulkCustomers = 200_000

// SharedClients is how many clients' tokens the shared source presents.
const SharedClients = 12

// host is the address n of a network.
func host(p netip.Prefix, n byte) netip.Addr {
	b := p.Addr().As4()
	b[3] = n
	return netip.AddrFrom4(b)
}

// subjects names what an alert about tok's holder may be about.
func subjects(tok Token, kinds ...string) []string {
	var out []string
	for _, k := range kinds {
		v := map[string]string{"client": tok.ClientID, "principal": tok.PrincipalID, "sub": tok.Subject, "jti": tok.JTI, "kid": tok.KID}[k]
		if v != "" {
			out = append(out, k+":"+v)
		}
	}
	return out
}

// plan lays the attacks after the learning period, one to a slot, and
// returns their steps in time order. The attacks' subjects are known only
// once their tokens are, so each step fills its Attack in as it runs.
func (g *Generator) plan() ([]step, error) {
	cfg := g.cfg
	rest := cfg.Duration - cfg.Learning
	const slots = 6
	if rest < slots*2*time.Hour || cfg.Services < SharedClients+1 {
		return nil, fmt.Errorf("ledgergen: attacks need %d services and %v after the learning period, not %d and %v",
			SharedClients+1, slots*2*time.Hour, cfg.Services, rest)
	}
	slot := func(i int) time.Time {
		return cfg.Start.Add(cfg.Learning + time.Duration(i)*rest/slots).Truncate(time.Minute).Add(30 * time.Minute)
	}
	var steps []step
	add := func(at time.Time, do func() (*Event, error)) { steps = append(steps, step{at: at, do: do}) }
	attack := func(name string, at time.Time) *Attack {
		g.attacks = append(g.attacks, Attack{Name: name, Start: at, End: at})
		return &g.attacks[len(g.attacks)-1]
	}
	// g.attacks is filled before any step runs, so the pointers hold.
	g.attacks = make([]Attack, 0, slots)
	victim := func(i int) (holder string, callee string) {
		c := g.callersOf(i)
		return ServiceName(i), ServiceName(c[0])
	}

	// A real jti, with other claims: a later expiry and another digest.
	{
		at := slot(0)
		a := attack(AttackForgedReuse, at)
		holder, callee := victim(1)
		add(at, func() (*Event, error) {
			tok, err := g.token(holder, at)
			if err != nil {
				return nil, err
			}
			forged := tok
			forged.Expires, forged.Digest = tok.Expires.Add(30*24*time.Hour), g.randomDigest()
			if forged, err = g.forge(forged); err != nil {
				return nil, err
			}
			a.Must = []Expect{{mayfly.RuleForgedToken, append(subjects(forged, "jti", "kid"), subjects(tok, "kid", "client", "principal", "sub")...)}}
			a.May = []Expect{{mayfly.RuleNewNetwork, subjects(tok, "client", "principal")}}
			return &Event{Time: at, Attack: a.Name, Report: report(at, callee, host(forgerNet, 7), "GET", "/customers/{id}", forged, g.records())}, nil
		})
	}
	// A jti never issued, with a real token's other claims.
	{
		at := slot(1)
		a := attack(AttackForgedNew, at)
		holder, callee := victim(2)
		add(at, func() (*Event, error) {
			tok, err := g.token(holder, at)
			if err != nil {
				return nil, err
			}
			forged := tok
			forged.JTI, forged.Digest = g.randomJTI(), g.randomDigest()
			if forged, err = g.forge(forged); err != nil {
				return nil, err
			}
			a.Must = []Expect{{mayfly.RuleForgedToken, append(subjects(forged, "jti", "kid"), subjects(tok, "kid", "client", "principal", "sub")...)}}
			a.May = []Expect{{mayfly.RuleNewNetwork, subjects(tok, "client", "principal")}}
			return &Event{Time: at, Attack: a.Name, Report: report(at, callee, host(forgerNet, 8), "GET", "/customers/{id}", forged, g.records())}, nil
		})
	}
	// A person's token, fetched a minute before they are offboarded, used
	// after.
	{
		at := slot(2)
		a := attack(AttackOffboarded, at)
		a.End = at.Add(4 * time.Minute)
		_, callee := victim(3)
		var tok Token
		add(at.Add(-time.Minute), func() (*Event, error) {
			var err error
			if tok, err = g.tokens.Token(Person, at.Add(-time.Minute)); err != nil {
				return nil, fmt.Errorf("token of %s: %w", Person, err)
			}
			if !tok.Expires.After(a.End) {
				return nil, fmt.Errorf("ledgergen: %s's token expires at %s, before its use at %s: tokens must live at least 6 minutes", Person, tok.Expires, a.End)
			}
			a.Must = []Expect{{mayfly.RuleRevokedInUse, subjects(tok, "principal", "jti", "client", "sub")}}
			a.May = []Expect{{mayfly.RuleNewNetwork, subjects(tok, "client", "principal")}}
			return nil, nil
		})
		add(at, func() (*Event, error) {
			return &Event{Time: at, Attack: a.Name, Action: &Action{Time: at, Kind: "offboard", Holder: Person}}, nil
		})
		for i := 1; i <= 4; i++ {
			t := at.Add(time.Duration(i) * time.Minute)
			add(t, func() (*Event, error) {
				return &Event{Time: t, Attack: a.Name, Report: report(t, callee, host(officeNet, 20), "GET", "/customers/{id}", tok, g.records())}, nil
			})
		}
	}
	// A bulk export: one client reads BulkCustomers customers in an hour,
	// from one of its own instances, 500 a request.
	{
		at := slot(3)
		a := attack(AttackBulkExport, at)
		a.End = at.Add(time.Hour - time.Minute)
		exporter := cfg.Services - 1
		holder, callee := victim(exporter)
		src := host(Networks(exporter)[0], 10)
		const per = 500
		n := BulkCustomers / per
		for i := range n {
			t := at.Add(time.Duration(i) * (time.Hour - time.Minute) / time.Duration(n))
			add(t, func() (*Event, error) {
				tok, err := g.token(holder, t)
				if err != nil {
					return nil, err
				}
				if i == 0 {
					a.Must = []Expect{{mayfly.RuleBulkRead, append(subjects(tok, "client", "principal", "sub"), "source:"+src.String())}}
					a.May = a.Must
				}
				ids := make([]uint64, per)
				for k := range ids {
					// 7919 is prime to the customer count's factors, so
					// the IDs are distinct and scattered.
					ids[k] = 1 + uint64((i*per+k)*7919%cfg.Customers)
				}
				slices.Sort(ids)
				return &Event{Time: t, Attack: a.Name, Report: report(t, callee, src, "GET", "/customers/export", tok, map[string][]uint64{"customer": ids})}, nil
			})
		}
	}
	// A client's tokens from a network never seen for it, for an hour.
	{
		at := slot(4)
		a := attack(AttackNewNetwork, at)
		a.End = at.Add(58 * time.Minute)
		holder, callee := victim(7)
		for i := range 30 {
			t := at.Add(time.Duration(i) * 2 * time.Minute)
			add(t, func() (*Event, error) {
				tok, err := g.token(holder, t)
				if err != nil {
					return nil, err
				}
				if i == 0 {
					a.Must = []Expect{{mayfly.RuleNewNetwork, subjects(tok, "client", "principal")}}
				}
				return &Event{Time: t, Attack: a.Name, Report: report(t, callee, host(newNet, 44), "GET", "/customers/{id}", tok, g.records())}, nil
			})
		}
	}
	// One address presents SharedClients clients' tokens in ten minutes.
	{
		at := slot(5)
		a := attack(AttackSharedSrc, at)
		a.End = at.Add(10 * time.Minute)
		a.Must = []Expect{{mayfly.RuleSharedSource, []string{"source:" + sharedSource.String(), "source:" + netip.PrefixFrom(sharedSource, 24).Masked().String()}}}
		for i := range SharedClients {
			t := at.Add(time.Duration(i) * 50 * time.Second)
			holder, callee := victim(i)
			add(t, func() (*Event, error) {
				tok, err := g.token(holder, t)
				if err != nil {
					return nil, err
				}
				a.May = append(a.May, Expect{mayfly.RuleNewNetwork, subjects(tok, "client", "principal")})
				return &Event{Time: t, Attack: a.Name, Report: report(t, callee, sharedSource, "GET", "/customers/{id}", tok, g.records())}, nil
			})
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	return steps, nil
}

// callersOf lists the services that service i's client calls.
func (g *Generator) callersOf(i int) []int {
	var out []int
	for s, callers := range g.callers {
		if slices.Contains(callers, i) {
			out = append(out, s)
		}
	}
	return out
}
