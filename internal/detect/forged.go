package detect

import (
	"cmp"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// forgedState is what forged-token keeps: issuance records by jti, the
// jtis known never issued, and the tokens whose record is looked for
// again.
type forgedState struct {
	records map[string]*mayfly.Issuance // nil: looked for after the grace, never issued
	pending map[string]*pendingToken
	due     time.Time // the earliest of pending's, zero if none
}

// pendingToken is a token reported before its issuance record was found:
// each spelling of it reported while it waits (other claims under the
// same jti), each compared with the record when due.
type pendingToken struct {
	spellings []spelling
	due       time.Time
}

type spelling struct {
	report    mayfly.LedgerReport // without its records
	principal string
}

// maxSpellings bounds the spellings of one jti held: beyond them, the jti
// is a forger's at once.
const maxSpellings = 4

// sameToken reports whether a and b state the same token to forged-token.
func sameToken(a, b *mayfly.LedgerReport) bool {
	return a.Digest == b.Digest && a.KID == b.KID && a.ClientID == b.ClientID && a.Check == b.Check &&
		a.IssuedAt.Equal(b.IssuedAt) && a.Expires.Equal(b.Expires)
}

func (f *forgedState) init() {
	f.records = map[string]*mayfly.Issuance{}
	f.pending = map[string]*pendingToken{}
}

// issuance returns jti's issuance record, or nil if there is none (yet).
// Reports repeat a token many times: found records are kept.
func (e *Engine) issuance(ctx context.Context, jti string) (*mayfly.Issuance, error) {
	if jti == "" {
		return nil, nil
	}
	if rec, ok := e.forged.records[jti]; ok {
		return rec, nil
	}
	if _, ok := e.forged.pending[jti]; ok {
		return nil, nil // looked for again when due
	}
	return e.lookup(ctx, jti)
}

// lookup reads jti's record from the store, and keeps it if found.
func (e *Engine) lookup(ctx context.Context, jti string) (*mayfly.Issuance, error) {
	recs, err := e.deps.Tokens.Issuances(ctx, mayfly.IssuanceFilter{JTI: jti, Limit: 1})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	e.keep(jti, &recs[0])
	return &recs[0], nil
}

func (e *Engine) keep(jti string, rec *mayfly.Issuance) {
	if len(e.forged.records) >= maxCached {
		// Forget an arbitrary tenth: a forgotten record is read again.
		n := maxCached / 10
		for k := range e.forged.records {
			if n--; n < 0 {
				break
			}
			delete(e.forged.records, k)
		}
	}
	e.forged.records[jti] = rec
}

// forgedToken checks r's token against its issuance record.
func (e *Engine) forgedToken(r *mayfly.LedgerReport, rec *mayfly.Issuance, principal string, now time.Time, sigs []signal) []signal {
	switch {
	case r.Check == mayfly.LedgerUnsigned:
		// Mayfly's keys did not sign it: nothing of Mayfly's to revoke.
		return append(sigs, e.forgedSignal(r, principal, "its signature is not by a key of Mayfly's", false))
	case rec != nil:
		if why := disagree(r, rec); why != "" {
			return append(sigs, e.forgedSignal(r, principal, why, true))
		}
		return sigs
	case r.JTI == "":
		return append(sigs, e.forgedSignal(r, principal, "it has no jti", true))
	}
	if _, ok := e.forged.records[r.JTI]; ok {
		return append(sigs, e.forgedSignal(r, principal, "Mayfly never issued its jti", true))
	}
	if p, ok := e.forged.pending[r.JTI]; ok {
		for i := range p.spellings {
			if sameToken(&p.spellings[i].report, r) {
				return sigs
			}
		}
		if len(p.spellings) < maxSpellings {
			p.spellings = append(p.spellings, hold(r, principal))
			return sigs
		}
		// More tokens under one jti than Mayfly ever issues (one): which
		// are forged is known only when the record is.
		return append(sigs, e.forgedSignal(r, principal, "its jti was reported with more than "+strconv.Itoa(maxSpellings)+" sets of claims", false))
	}
	if len(e.forged.pending) >= maxPending {
		// Too many unknown tokens at once to wait on each: the store was
		// just asked, and a record is durable before its token leaves,
		// but a replica's reads may lag. It alerts, and containment waits
		// for the tokens held, whose grace has passed when they fire.
		e.keep(r.JTI, nil)
		return append(sigs, e.forgedSignal(r, principal, "Mayfly never issued its jti (judged without the grace: too many unknown tokens at once)", false))
	}
	p := &pendingToken{spellings: []spelling{hold(r, principal)}, due: now.Add(e.cfg.IssuanceGrace)}
	e.forged.pending[r.JTI] = p
	if e.forged.due.IsZero() || p.due.Before(e.forged.due) {
		e.forged.due = p.due
	}
	return sigs
}

// hold is what a pending token keeps of a report.
func hold(r *mayfly.LedgerReport, principal string) spelling {
	s := spelling{report: *r, principal: principal}
	s.report.Records, s.report.Token = nil, ""
	return s
}

// Due is when the first token waiting for its issuance record is to be
// looked for again, zero if none waits: the ingest calls Tick then, so
// that forged-token fires a grace after the report, not at the next
// second's tick.
func (e *Engine) Due() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.forged.due
}

// duePending looks again for the records of pending tokens that are due,
// and fires for those that still have none, or one they disagree with.
func (e *Engine) duePending(ctx context.Context, now time.Time) ([]signal, error) {
	var sigs []signal
	e.forged.due = time.Time{}
	for jti, p := range e.forged.pending {
		if now.Before(p.due) {
			if e.forged.due.IsZero() || p.due.Before(e.forged.due) {
				e.forged.due = p.due
			}
			continue
		}
		rec, err := e.lookup(ctx, jti)
		if err != nil {
			e.forged.due = p.due // due still: the next tick looks again
			return nil, err
		}
		delete(e.forged.pending, jti)
		if !e.on(mayfly.RuleForgedToken) {
			continue
		}
		if rec == nil {
			e.keep(jti, nil)
		}
		for i := range p.spellings {
			sp := &p.spellings[i]
			if rec == nil {
				sigs = append(sigs, e.forgedSignal(&sp.report, sp.principal, "Mayfly never issued its jti", true))
			} else if why := disagree(&sp.report, rec); why != "" {
				sigs = append(sigs, e.forgedSignal(&sp.report, sp.principal, why, true))
			}
		}
	}
	return sigs, nil
}

// disagree says what of the report's token disagrees with its issuance
// record, "" if nothing does. What either side lacks is not compared: the
// digest is missing from records made before Mayfly kept it.
func disagree(r *mayfly.LedgerReport, rec *mayfly.Issuance) string {
	var why []string
	if r.Digest != "" && rec.Digest != "" && r.Digest != rec.Digest {
		why = append(why, "digest")
	}
	// A client's own token's sub is the client; an exchanged one's, the
	// customer it was issued for, with the client as its actor.
	if r.Subject != "" && r.Subject != cmp.Or(rec.Subject, rec.ClientID) {
		why = append(why, "sub")
	}
	if r.KID != "" && r.KID != rec.KID {
		why = append(why, "kid")
	}
	if r.ClientID != "" && r.ClientID != rec.ClientID {
		why = append(why, "client")
	}
	if !r.IssuedAt.IsZero() && r.IssuedAt.Unix() != rec.IssuedAt.Unix() {
		why = append(why, "iat")
	}
	if !r.Expires.IsZero() && r.Expires.Unix() != rec.ExpiresAt.Unix() {
		why = append(why, "exp")
	}
	if len(why) == 0 {
		return ""
	}
	return "its " + strings.Join(why, ", ") + " disagree with the issuance record of its jti"
}

// forgedSignal fires for r's token. The alert is about the key if it is
// one of Mayfly's; otherwise about the service that accepted the token (a
// verifier trusting a key that is not Mayfly's), since a kid or jti a
// reporter makes up would open a new alert each.
func (e *Engine) forgedSignal(r *mayfly.LedgerReport, principal, why string, contain bool) signal {
	subject := "kid:" + r.KID
	if _, err := e.deps.Keys.Key(r.KID); r.KID == "" || err != nil {
		subject, contain = "service:"+r.Service, false
		why += "; its kid " + strconv.Quote(r.KID) + " is not a key of Mayfly's"
	}
	ev := evidence(r, principal)
	ev.Detail = why
	return signal{
		AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleForgedToken, Subject: subject, Evidence: ev,
			Summary: "service " + r.Service + " accepted a token Mayfly did not issue: " + why},
		kid: r.KID, client: r.ClientID, principal: principal, contain: contain,
	}
}
