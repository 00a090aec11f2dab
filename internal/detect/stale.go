package detect

import (
	"fmt"
	"time"

	"github.com/mayflyhq/mayfly"
)

// staleState is what stale-verifier follows: per reporting service, when
// it was last heard from, and whether it is known stale.
type staleState struct {
	services map[string]*service
}

type service struct {
	heard  time.Time // by this process's clock
	silent bool      // fired for its silence, not heard since
	behind bool      // fired for its feed, not fresh since
}

func (s *staleState) init() { s.services = map[string]*service{} }

func (s *staleState) heard(name string, now time.Time) {
	if name == "" {
		return
	}
	v := s.services[name]
	if v == nil {
		if len(s.services) >= maxServices {
			return
		}
		v = &service{}
		s.services[name] = v
	}
	v.heard, v.silent = now, false
}

// staleFeed fires when a heartbeat says the service's revocation feed is
// behind Mayfly's, or silent, for longer than the bound.
func (e *Engine) staleFeed(hb mayfly.LedgerHeartbeat, now time.Time) []signal {
	v := e.stale.services[hb.Service]
	if v == nil || (hb.RevocationSeq == 0 && hb.RevocationAge == 0) {
		return nil // it follows no feed
	}
	// When the service says it sent the heartbeat, but never after it
	// came: a clock ahead of Mayfly's must not make a lag of its own.
	at := hb.Time
	if at.IsZero() || at.After(now) {
		at = now
	}
	var why string
	var lag time.Duration
	if hb.RevocationAge > e.cfg.StaleLag {
		why, lag = fmt.Sprintf("its revocation feed last delivered %s ago", hb.RevocationAge.Round(time.Millisecond)), hb.RevocationAge
	} else if revs, _ := e.deps.Revoker.Since(hb.RevocationSeq); len(revs) > 0 {
		// The first revocation it lacks, made this long ago.
		if d := at.Sub(revs[0].At); d > e.cfg.StaleLag {
			why, lag = fmt.Sprintf("it lacks revocation %d, made %s ago", revs[0].Seq, d.Round(time.Millisecond)), d
		}
	}
	if why == "" {
		v.behind = false
		return nil
	}
	if v.behind {
		return nil // one firing per episode
	}
	v.behind = true
	ev := mayfly.AlertEvidence{Time: at, Service: hb.Service, Observed: lag.Milliseconds(), Limit: e.cfg.StaleLag.Milliseconds(),
		Detail: why + fmt.Sprintf(" (it has applied up to %d of %d)", hb.RevocationSeq, e.deps.Revoker.Seq())}
	return []signal{{AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleStaleVerifier, Subject: "service:" + hb.Service, Evidence: ev,
		Summary: "service " + hb.Service + " verifies tokens on stale revocations: " + why}}}
}

// silent fires for services that reported and then fell silent for
// longer than the bound.
func (e *Engine) silent(now time.Time, sigs []signal) []signal {
	for name, v := range e.stale.services {
		if v.silent || now.Sub(v.heard) <= e.cfg.StaleSilence {
			continue
		}
		v.silent = true
		d := now.Sub(v.heard)
		ev := mayfly.AlertEvidence{Time: now, Service: name, From: v.heard, To: now, Observed: d.Milliseconds(), Limit: e.cfg.StaleSilence.Milliseconds(),
			Detail: fmt.Sprintf("nothing heard for %s", d.Round(time.Second))}
		sigs = append(sigs, signal{AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleStaleVerifier, Subject: "service:" + name, Evidence: ev,
			Summary: fmt.Sprintf("service %s stopped reporting %s ago", name, d.Round(time.Second))}})
	}
	return sigs
}
