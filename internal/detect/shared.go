package detect

import (
	"fmt"
	"time"

	"github.com/mayflyhq/mayfly"
)

// sharedState is what shared-source counts: per source address, the
// clients and subjects whose tokens it presented, with when last.
type sharedState struct {
	sources map[string]*presented
}

type presented struct {
	clients, subjects map[string]time.Time
	last, fired       time.Time
}

func (s *sharedState) init() { s.sources = map[string]*presented{} }

// prune forgets addresses quiet for a window.
func (s *sharedState) prune(now time.Time, window time.Duration) {
	for k, p := range s.sources {
		if now.Sub(p.last) > window {
			delete(s.sources, k)
		}
	}
}

// seen records name at t in m, which holds at most limit+1 names seen
// within window, and returns how many it holds.
func seen(m map[string]time.Time, name string, t time.Time, window time.Duration, limit int) int {
	if _, ok := m[name]; !ok && len(m) > limit {
		for k, at := range m {
			if t.Sub(at) > window {
				delete(m, k)
			}
		}
		if len(m) > limit {
			return len(m) + 1 // over the limit already: not kept
		}
	}
	if t.After(m[name]) {
		m[name] = t
	}
	// Names seen before the window count no longer.
	n := 0
	for _, at := range m {
		if t.Sub(at) <= window {
			n++
		}
	}
	return n
}

// sharedSource fires when r's source has presented tokens of more than
// the limit of clients or subjects within the window.
func (e *Engine) sharedSource(r *mayfly.LedgerReport, sigs []signal) []signal {
	if !r.SourceIP.IsValid() {
		return sigs
	}
	addr := r.SourceIP.Unmap().String()
	p := e.shared.sources[addr]
	if p == nil {
		if len(e.shared.sources) >= maxSources {
			e.shared.prune(r.Time, e.cfg.SharedWindow)
			if len(e.shared.sources) >= maxSources {
				return sigs
			}
		}
		p = &presented{clients: map[string]time.Time{}, subjects: map[string]time.Time{}}
		e.shared.sources[addr] = p
	}
	if r.Time.After(p.last) {
		p.last = r.Time
	}
	w, limit := e.cfg.SharedWindow, e.cfg.SharedMax
	clients, subjects := 0, 0
	if r.ClientID != "" {
		clients = seen(p.clients, r.ClientID, r.Time, w, limit)
	}
	if r.Subject != "" {
		subjects = seen(p.subjects, r.Subject, r.Time, w, limit)
	}
	n, what := clients, "clients"
	if subjects > clients {
		n, what = subjects, "subjects"
	}
	if n <= limit || (!p.fired.IsZero() && r.Time.Sub(p.fired) < w) {
		return sigs
	}
	p.fired = r.Time
	ev := evidence(r, "")
	ev.From, ev.To = r.Time.Add(-w), r.Time
	ev.Observed, ev.Limit = int64(n), int64(limit)
	ev.Detail = fmt.Sprintf("tokens of %d %s within %s", n, what, w)
	return append(sigs, signal{AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleSharedSource, Subject: "source:" + addr, Evidence: ev,
		Summary: fmt.Sprintf("source %s presented tokens of %d %s within %s, more than %d", addr, n, what, w, limit)}})
}
