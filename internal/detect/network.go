package detect

import (
	"net/netip"
	"time"

	"github.com/mayflyhq/mayfly"
)

// networkState is what new-network learned: per client and principal,
// when it was first seen and the networks its tokens came from.
type networkState struct {
	idents map[string]*learned
}

type learned struct {
	first time.Time
	nets  map[netip.Prefix]struct{}
}

func (n *networkState) init() { n.idents = map[string]*learned{} }

// network is the network an address belongs to: its IPv4 /24 or IPv6 /48.
func network(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return netip.Prefix{}, false
	case a.Is4():
		return netip.PrefixFrom(a, 24).Masked(), true
	}
	return netip.PrefixFrom(a.WithZone(""), 48).Masked(), true
}

// newNetwork learns where r's client and principal come from during their
// learning period, and fires on a network new after it. Only a token
// Mayfly issued starts the learning of a client or principal: a forger
// chooses the names, and made-up ones must not fill the table of the
// learned (forged-token fires for them).
func (e *Engine) newNetwork(r *mayfly.LedgerReport, principal string, genuine bool, sigs []signal) []signal {
	net, ok := network(r.SourceIP)
	if !ok {
		return sigs
	}
	for _, k := range []string{"client:" + r.ClientID, "principal:" + principal} {
		if k == "client:" || k == "principal:" {
			continue
		}
		l := e.nets.idents[k]
		if l == nil {
			if !genuine || len(e.nets.idents) >= maxIdents {
				continue // full: a client first seen now is not learned
			}
			l = &learned{first: r.Time, nets: map[netip.Prefix]struct{}{}}
			e.nets.idents[k] = l
		}
		if _, ok := l.nets[net]; ok {
			continue
		}
		if r.Time.Sub(l.first) < e.cfg.Learning {
			if len(l.nets) < maxNetworks {
				l.nets[net] = struct{}{}
			}
			continue
		}
		// Known from now on: the alert covers it.
		if len(l.nets) < maxNetworks {
			l.nets[net] = struct{}{}
		}
		ev := evidence(r, principal)
		ev.From = l.first
		ev.Detail = "network " + net.String() + " was not seen in its learning period"
		sigs = append(sigs, signal{
			AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleNewNetwork, Subject: k, Evidence: ev,
				Summary: k + "'s tokens appeared from a new network, " + net.String()},
			kid: r.KID, client: r.ClientID, principal: principal,
		})
	}
	return sigs
}
