package detect

import (
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/revoke"
)

// revocations indexes, by subject, when each thing was withdrawn, read in
// sequence from the revocation state the token service keeps, which only
// says whether a thing is withdrawn, not since when.
type revocations struct {
	seq     int64
	revoked map[mayfly.RevocationKind]map[string]revoked
	nbf     map[string]time.Time // latest not-before mark
	held    map[string]revoked   // latest suspend or resume; Until unused
	// Marks on token subjects (customers) and namespaces: at is the mark,
	// until when this engine first saw it. A namespace's mark may lie
	// before the revocation that set it ("log out everyone issued before
	// T"), and a verifier could not have refused a token before it heard
	// of the revocation, so the grace runs from when it was seen, not
	// from the mark. After a restart that is the restart, which can only
	// leave a report unflagged, never flag one wrongly.
	subNBF, nsNBF map[string]revoked
}

type revoked struct {
	at, until time.Time
	on        bool // for held: suspended, not resumed
	cause     mayfly.Cause
}

func (rv *revocations) init() {
	rv.revoked = map[mayfly.RevocationKind]map[string]revoked{}
	rv.nbf = map[string]time.Time{}
	rv.held = map[string]revoked{}
	rv.subNBF = map[string]revoked{}
	rv.nsNBF = map[string]revoked{}
}

// sync applies what the revocation state read since the last call; now
// is when.
func (rv *revocations) sync(s *revoke.Service, now time.Time) {
	revs, _ := s.Since(rv.seq)
	for _, r := range revs {
		rv.seq = r.Seq
		switch r.Kind {
		case mayfly.RevokeSubject, mayfly.RevokeNamespace:
			m := rv.subNBF
			if r.Kind == mayfly.RevokeNamespace {
				m = rv.nsNBF
			}
			if r.At.After(m[r.Subject].at) {
				m[r.Subject] = revoked{at: r.At, until: later(r.At, now)}
			}
		case mayfly.RevokeResume:
			if r.At.After(rv.nbf[r.Subject]) {
				rv.nbf[r.Subject] = r.At
			}
			rv.held[r.Subject] = revoked{at: r.At, on: false}
		case mayfly.RevokeSuspend:
			rv.held[r.Subject] = revoked{at: r.At, on: true, cause: r.Cause}
		case mayfly.RevokeNotBefore:
			if r.At.After(rv.nbf[r.Subject]) {
				rv.nbf[r.Subject] = r.At
			}
		default:
			m := rv.revoked[r.Kind]
			if m == nil {
				m = map[string]revoked{}
				rv.revoked[r.Kind] = m
			}
			if old, ok := m[r.Subject]; !ok || r.At.Before(old.at) {
				m[r.Subject] = revoked{at: r.At, until: r.Until, cause: r.Cause}
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// subjectMark returns the mark on sub, its own or its namespace's, that a
// verifier had heard of by by and that sub's token issued at issued
// predates, and what it was.
func (rv *revocations) subjectMark(sub string, issued, by time.Time) (time.Time, string, bool) {
	if x, ok := rv.subNBF[sub]; ok && !x.until.After(by) && issued.Before(x.at) {
		return x.at, "subject " + sub + " was logged out", true
	}
	if ns, _, ok := strings.Cut(sub, ":"); ok {
		if x, ok := rv.nsNBF[ns]; ok && !x.until.After(by) && issued.Before(x.at) {
			return x.at, "namespace " + ns + " was logged out", true
		}
	}
	return time.Time{}, "", false
}

// prune forgets revocations of tokens that have expired, as the revocation
// state does, MaxTokenTTL late.
func (rv *revocations) prune(now time.Time) {
	now = now.Add(-mayfly.MaxTokenTTL)
	for _, m := range rv.revoked {
		for subj, r := range m {
			if !r.until.IsZero() && r.until.Before(now) {
				delete(m, subj)
			}
		}
	}
}

// revokedInUse fires for a token accepted once its jti, key, client,
// principal or subject had been withdrawn for longer than the grace. It
// contains only for a genuine token: a forged one is forged-token's.
func (e *Engine) revokedInUse(r *mayfly.LedgerReport, rec *mayfly.Issuance, principal string, genuine bool, sigs []signal) []signal {
	rv := &e.revs
	// Withdrawn by then, the propagation grace past.
	by := r.Time.Add(-e.cfg.RevocationGrace)
	issued := r.IssuedAt
	if rec != nil {
		issued = rec.IssuedAt
	}
	if t, ok := mayfly.JTITime(r.JTI); ok && !t.Before(issued) && t.Before(issued.Add(time.Second)) {
		issued = t // to the millisecond, as the verifier compares
	}
	fire := func(subject, what string, at time.Time, cause mayfly.Cause) []signal {
		ev := evidence(r, principal)
		ev.Detail = what + " since " + at.UTC().Format(time.RFC3339)
		if cause != "" {
			ev.Detail += " (" + string(cause) + ")"
		}
		return append(sigs, signal{
			AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleRevokedInUse, Subject: subject, Evidence: ev,
				Summary: "service " + r.Service + " accepted a token whose " + what},
			kid: r.KID, client: r.ClientID, principal: principal, contain: genuine,
		})
	}
	// Most of a person first: the incident is a departed person's tokens.
	type who struct{ kind, id, name string }
	for _, w := range []who{{"principal", principal, "principal"}, {"sub", r.Subject, "subject"}, {"client", r.ClientID, "client"}} {
		if w.id == "" || (w.kind == "sub" && (w.id == principal || w.id == r.ClientID)) {
			continue
		}
		subject := w.kind + ":" + w.id
		for _, kind := range []mayfly.RevocationKind{mayfly.RevokePrincipal, mayfly.RevokeClient} {
			if x, ok := rv.revoked[kind][w.id]; ok && !x.at.After(by) {
				return fire(subject, w.name+" "+w.id+" was revoked", x.at, x.cause)
			}
		}
		if h, ok := rv.held[w.id]; ok && h.on && !h.at.After(by) {
			return fire(subject, w.name+" "+w.id+" was suspended", h.at, h.cause)
		}
		if m, ok := rv.nbf[w.id]; ok && !m.After(by) && !issued.IsZero() && issued.Before(m) {
			return fire(subject, w.name+" "+w.id+" had its tokens withdrawn", m, "")
		}
		if w.kind == "sub" && !issued.IsZero() {
			if m, what, ok := rv.subjectMark(w.id, issued, by); ok {
				return fire(subject, what, m, "")
			}
		}
	}
	if x, ok := rv.revoked[mayfly.RevokeKey][r.KID]; ok && r.KID != "" && !x.at.After(by) {
		return fire("kid:"+r.KID, "key "+r.KID+" was revoked", x.at, x.cause)
	}
	if x, ok := rv.revoked[mayfly.RevokeToken][r.JTI]; ok && r.JTI != "" && !x.at.After(by) {
		return fire("jti:"+r.JTI, "jti was revoked", x.at, x.cause)
	}
	return sigs
}
