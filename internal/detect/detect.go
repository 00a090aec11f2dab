// Package detect runs the detection rules over the access ledger's reports
// as the ingest hands them over, and raises what they find as alerts:
// forged-token, revoked-in-use, bulk-read, new-network, shared-source and
// stale-verifier (mayfly.Rules; the README says what each catches and when
// it misfires).
//
// # Invariants
//
//   - What a rule raises is raised in the transaction the ingest hands in,
//     so it commits with the batch that fired it, or not at all.
//   - forged-token never fires on a genuine token: digests are compared
//     only where both sides have one (canon.Digest, over the decoded
//     token, so a re-encoding is the same token), and a token without an
//     issuance record is looked for again after the issuance grace before
//     it counts as never issued.
//   - Containment is off unless configured per rule. It runs only after the
//     alert's transaction commits, through the same services as the admin
//     commands (which audit it), names the alert in its reason, and is
//     recorded on the alert (Raiser.Contained).
//   - Memory is bounded: every table of what was seen has a cap, and
//     forgets what has gone quiet.
//
// The rules' state is this process's: each replica learns from the reports
// it ingests, and a restart learns again.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
)

// Raiser raises and records alerts: the alert service.
type Raiser interface {
	Raise(tx mayfly.Tx, signals []mayfly.AlertSignal) ([]*mayfly.Alert, error)
	Contained(ctx context.Context, alertID, action string) error
}

// Deps are what an Engine works with. Containment acts through Keys and
// Identity, as the admin API does, so that each action is checked and
// audited as a person's would be.
type Deps struct {
	Raiser   Raiser
	Tokens   mayfly.TokenStore // issuance records
	Identity *identity.Service // clients' owners; suspensions and client revocations
	Keys     *keys.Service     // key revocations
	Revoker  *revoke.Service
	Clock    mayfly.Clock
	Log      *slog.Logger
}

// Bounds of the tables of what was seen.
const (
	maxCached   = 100000 // issuance records and client owners kept
	maxPending  = 10000  // tokens waiting for their issuance record
	maxKeys     = 100000 // bulk-read counters per kind
	maxNetworks = 1024   // networks learned per client or principal
	maxIdents   = 100000 // clients and principals whose networks are learned
	maxSources  = 100000 // addresses whose tokens are counted
	maxServices = 10000  // reporting services followed
	maxFired    = 100000 // rules and subjects whose last firing is kept
	// repeatEvery bounds how often one rule fires for one subject: an
	// attack repeats, and each firing is a write to the alert.
	repeatEvery = time.Second
	// maxAhead is how far ahead of Mayfly's clock a report may be dated
	// and still be counted by the rules that learn over time: one dated
	// years ahead would hold its keys' windows there, and their rules
	// quiet, until then.
	maxAhead = time.Hour
)

// Engine runs the rules. It implements ledger.Detector.
type Engine struct {
	cfg  Config
	deps Deps

	mu      sync.Mutex
	fired   map[string]time.Time // rule and subject -> last fired
	forged  forgedState
	revs    revocations
	bulk    bulkState
	nets    networkState
	shared  sharedState
	stale   staleState
	owners  map[string]string // client -> principal
	acted   map[string]bool   // containment actions begun
	lastGC  time.Time
	working sync.WaitGroup // containment under way
}

// New returns an Engine.
func New(cfg Config, deps Deps) (*Engine, error) {
	if err := cfg.Defaults(); err != nil {
		return nil, err
	}
	if deps.Raiser == nil || deps.Tokens == nil || deps.Identity == nil || deps.Keys == nil || deps.Revoker == nil || deps.Clock == nil {
		return nil, errors.New("detect: a raiser, token store, identity, keys, revoker and clock are needed")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, deps: deps, fired: map[string]time.Time{}, owners: map[string]string{}, acted: map[string]bool{}}
	e.forged.init()
	e.revs.init()
	e.bulk.init(cfg)
	e.nets.init()
	e.shared.init()
	e.stale.init()
	return e, nil
}

// Close waits for containment under way.
func (e *Engine) Close() { e.working.Wait() }

func (e *Engine) on(r mayfly.Rule) bool { return !e.cfg.Disable.Has(r) }

// signal is a firing, with what containment would act on.
type signal struct {
	mayfly.AlertSignal
	kid, client, principal string
	// contain is false where the rule's action must not run, such as a
	// key revocation for a token Mayfly's keys did not sign.
	contain bool
}

// key is what repeats of a firing within repeatEvery share. A firing that
// may contain is apart from one that may not: an unsigned report naming a
// key must not hold back, for a second at a time, the signed forgery that
// would revoke it.
func (s *signal) key() string {
	k := string(s.Rule) + " " + s.Subject
	if s.contain {
		k += " contain"
	}
	return k
}

// Detect runs the rules over reports.
func (e *Engine) Detect(ctx context.Context, tx mayfly.Tx, reports []mayfly.LedgerReport) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.deps.Clock.Now()
	e.revs.sync(e.deps.Revoker, now)
	var sigs []signal
	for i := range reports {
		r := &reports[i]
		e.stale.heard(r.Service, now)
		if r.Refused {
			continue // the service refused it: nothing was read
		}
		rec, err := e.issuance(ctx, r.JTI)
		if err != nil {
			return err
		}
		principal := ""
		if rec != nil {
			principal = rec.PrincipalID
		} else if principal, err = e.owner(ctx, r.ClientID); err != nil {
			return err
		}
		// Only a token Mayfly issued names its client and principal: a
		// forger chooses them, and containment must not act on whom it
		// chose.
		genuine := rec != nil && r.Check != mayfly.LedgerUnsigned && disagree(r, rec) == ""
		if e.on(mayfly.RuleForgedToken) {
			sigs = e.forgedToken(r, rec, principal, now, sigs)
		}
		if e.on(mayfly.RuleRevokedInUse) {
			sigs = e.revokedInUse(r, rec, principal, genuine, sigs)
		}
		if r.Time.After(now.Add(maxAhead)) {
			continue // see maxAhead
		}
		if e.on(mayfly.RuleBulkRead) {
			sigs = e.bulkRead(r, principal, genuine, sigs)
		}
		if e.on(mayfly.RuleNewNetwork) {
			sigs = e.newNetwork(r, principal, genuine, sigs)
		}
		if e.on(mayfly.RuleSharedSource) {
			sigs = e.sharedSource(r, sigs)
		}
	}
	sigs = e.flushBulk(sigs)
	more, err := e.duePending(ctx, now)
	if err != nil {
		return err
	}
	return e.raise(tx, append(sigs, more...), now)
}

// Heartbeat runs stale-verifier over a service's heartbeat.
func (e *Engine) Heartbeat(ctx context.Context, tx mayfly.Tx, hb mayfly.LedgerHeartbeat) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.deps.Clock.Now()
	e.stale.heard(hb.Service, now)
	if !e.on(mayfly.RuleStaleVerifier) {
		return nil
	}
	return e.raise(tx, e.staleFeed(hb, now), now)
}

// Tick fires what fires on time passing: tokens whose issuance record
// never came, services that went silent; and forgets what went quiet.
func (e *Engine) Tick(ctx context.Context, tx mayfly.Tx, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sigs, err := e.duePending(ctx, now)
	if err != nil {
		return err
	}
	if e.on(mayfly.RuleStaleVerifier) {
		sigs = e.silent(now, sigs)
	}
	if now.Sub(e.lastGC) >= time.Minute {
		e.lastGC = now
		e.gc(now)
	}
	return e.raise(tx, sigs, now)
}

// gc forgets what no longer matters.
func (e *Engine) gc(now time.Time) {
	for k, t := range e.fired {
		if now.Sub(t) > repeatEvery {
			delete(e.fired, k)
		}
	}
	e.revs.prune(now)
	e.shared.prune(now, e.cfg.SharedWindow)
	e.bulk.prune()
}

// forgetFired forgets firings older than repeatEvery, and, if a flood of
// subjects fired within it, all of them: a repeat is then raised again,
// which the alert's deduplication absorbs.
func (e *Engine) forgetFired(now time.Time) {
	for k, t := range e.fired {
		if now.Sub(t) >= repeatEvery || now.Sub(t) < 0 {
			delete(e.fired, k)
		}
	}
	if len(e.fired) >= maxFired {
		clear(e.fired)
	}
}

// raise raises sigs in tx, but repeats of a rule and subject within
// repeatEvery, and queues containment for after the commit.
func (e *Engine) raise(tx mayfly.Tx, sigs []signal, now time.Time) error {
	if len(sigs) == 0 {
		return nil
	}
	out := make([]mayfly.AlertSignal, 0, len(sigs))
	kept := sigs[:0:0]
	for _, s := range sigs {
		k := s.key()
		if t, ok := e.fired[k]; ok && now.Sub(t) < repeatEvery && now.Sub(t) >= 0 {
			continue
		}
		if len(e.fired) >= maxFired {
			e.forgetFired(now)
		}
		e.fired[k] = now
		out = append(out, s.AlertSignal)
		kept = append(kept, s)
	}
	if len(out) == 0 {
		return nil
	}
	alerts, err := e.deps.Raiser.Raise(tx, out)
	if err != nil {
		for _, s := range kept {
			delete(e.fired, s.key()) // not raised: the next firing may be
		}
		return err
	}
	if len(alerts) != len(out) {
		return fmt.Errorf("detect: raised %d signals, got %d alerts", len(out), len(alerts))
	}
	for i, a := range alerts {
		s := kept[i]
		action := e.cfg.Contain[s.Rule]
		if action == "" || !s.contain || a == nil {
			continue
		}
		target := s.target(action)
		if target == "" {
			continue
		}
		done := action + " " + target
		if contains(a.Actions, done) {
			continue
		}
		id := a.ID
		tx.AfterCommit(func() {
			// AfterCommit runs where the commit ran; an action commits
			// through the audit log itself, so it runs apart.
			e.working.Add(1)
			go func() {
				defer e.working.Done()
				e.contain(id, action, target, done)
			}()
		})
	}
	return nil
}

// target is what action acts on.
func (s *signal) target(action string) string {
	switch action {
	case RevokeKey:
		return s.kid
	case SuspendPrincipal:
		return s.principal
	case RevokeClient:
		return s.client
	}
	return ""
}

// contain carries out one action for alert id, and records it.
func (e *Engine) contain(id, action, target, done string) {
	e.mu.Lock()
	begun := e.acted[done]
	e.acted[done] = true
	e.mu.Unlock()
	if begun {
		return // another firing's action, under way or done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reason := fmt.Sprintf("contained automatically: alert %s", id)
	var err error
	switch action {
	case RevokeKey:
		_, err = e.deps.Keys.Revoke(ctx, target, reason)
	case SuspendPrincipal:
		_, err = e.deps.Identity.SetStatus(ctx, target, mayfly.Suspended, reason)
	case RevokeClient:
		_, err = e.deps.Identity.RevokeClient(ctx, target, reason)
	}
	if err != nil {
		e.deps.Log.Error("containment failed", "alert", id, "action", action, "target", target, "err", err)
		e.mu.Lock()
		delete(e.acted, done) // the next firing tries again
		e.mu.Unlock()
		return
	}
	e.deps.Log.Warn("contained", "alert", id, "action", action, "target", target)
	if err := e.deps.Raiser.Contained(ctx, id, done); err != nil {
		e.deps.Log.Error("recording containment on its alert failed", "alert", id, "action", done, "err", err)
	}
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// owner returns the principal owning client, "" if there is none.
func (e *Engine) owner(ctx context.Context, client string) (string, error) {
	if client == "" {
		return "", nil
	}
	if p, ok := e.owners[client]; ok {
		return p, nil
	}
	c, err := e.deps.Identity.Client(ctx, client)
	p := ""
	switch {
	case err == nil:
		p = c.OwnerID
	case !errors.Is(err, mayfly.ErrNotFound):
		return "", err
	}
	if len(e.owners) >= maxCached {
		clear(e.owners)
	}
	e.owners[client] = p
	return p, nil
}

// evidence is what a report says of itself, for an alert.
func evidence(r *mayfly.LedgerReport, principal string) mayfly.AlertEvidence {
	ev := mayfly.AlertEvidence{Time: r.Time, Service: r.Service, Method: r.Method, Route: r.Route,
		JTI: r.JTI, Digest: r.Digest, KID: r.KID, ClientID: r.ClientID, PrincipalID: principal, TokenSub: r.Subject}
	if r.SourceIP.IsValid() {
		ev.SourceIP = r.SourceIP.String()
	}
	return ev
}
