// Package alert owns alerts' life: raising them (deduplicated by the
// store, one alert per rule and subject until resolved), moving them
// open -> acknowledged -> resolved, recording what containment did, and
// carrying every change to people: the streams that wait on Changes,
// signed webhooks (Standard Webhooks) and OCSF Detection Findings as JSON
// Lines for a SIEM.
//
// # Invariants
//
//   - A new alert and each change of state is in the audit log
//     (alert.raised, alert.acknowledged, alert.resolved, alert.contained),
//     in the transaction that makes it; a firing that only counts is not.
//   - A state moves forward only: acknowledging needs an open alert,
//     resolving one not yet resolved; anything else is a Conflict that
//     says where the alert stands.
//   - A change is delivered (webhooks, OCSF, counters) by the process that
//     made it, once its transaction commits: every replica's streams read
//     the store, but each change leaves the building once.
package alert

import (
	"context"
	"encoding/base32"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// Audit actions of alerts.
const (
	ActionRaised       mayfly.Action = api.AlertRaised
	ActionAcknowledged mayfly.Action = api.AlertAcknowledged
	ActionResolved     mayfly.Action = api.AlertResolved
	ActionContained    mayfly.Action = api.AlertContained
)

// MaxNote bounds a note, in characters.
const MaxNote = 2000

// Config configures a Service.
type Config struct {
	Store mayfly.AlertStore
	Audit mayfly.Updater
	Clock mayfly.Clock
	Rand  io.Reader
	Log   *slog.Logger
	// Webhooks receive every change; none if empty.
	Webhooks []Webhook
	// OCSF, if set, receives every change as one line of JSON, an OCSF
	// Detection Finding.
	OCSF io.Writer
}

// Service raises and changes alerts, and delivers their changes.
type Service struct {
	cfg Config

	mu   sync.Mutex
	wake chan struct{} // closed at the next change

	ocsfMu   sync.Mutex
	hooks    []*deliverer
	counters map[mayfly.Rule]*ruleCounters
	failures atomic.Int64 // webhook deliveries that failed an attempt
	dropped  atomic.Int64 // webhook events given up on
	stop     context.CancelFunc
	done     sync.WaitGroup
}

type ruleCounters struct{ raised, firings atomic.Int64 }

// New returns a Service, and starts its webhook deliverers, which Close
// stops.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, wake: make(chan struct{}), counters: map[mayfly.Rule]*ruleCounters{}}
	for _, r := range mayfly.Rules {
		s.counters[r] = &ruleCounters{}
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	for _, w := range cfg.Webhooks {
		d := newDeliverer(s, w)
		s.hooks = append(s.hooks, d)
		s.done.Go(func() { d.run(ctx) })
	}
	return s
}

// Close stops webhook delivery; events still queued are dropped.
func (s *Service) Close() {
	s.stop()
	s.done.Wait()
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (s *Service) newID() (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", mayfly.E("alert.Raise", err)
	}
	return "alt_" + idEncoding.EncodeToString(b), nil
}

// event is one change to deliver.
type event struct {
	typ     string
	alert   *mayfly.Alert
	created bool
}

// Raise adds each signal to its alert, creating those that are new (an
// alert.raised entry each), in tx. It returns the alerts as stored, in
// signal order; Count == 1 tells a new one.
func (s *Service) Raise(tx mayfly.Tx, signals []mayfly.AlertSignal) ([]*mayfly.Alert, error) {
	now := s.cfg.Clock.Now().UTC()
	out := make([]*mayfly.Alert, 0, len(signals))
	var events []event
	for _, sig := range signals {
		if !validRule(sig.Rule) || sig.Subject == "" {
			return nil, mayfly.Errorf(mayfly.Invalid, "an alert needs a known rule and a subject; got rule %q, subject %q", sig.Rule, sig.Subject)
		}
		id, err := s.newID()
		if err != nil {
			return nil, err
		}
		a, created, err := s.cfg.Store.RaiseAlert(tx, sig, id, now)
		if err != nil {
			return nil, err
		}
		typ := api.AlertUpdated
		if created {
			typ = api.AlertRaised
			if _, err := tx.Audit(mayfly.AuditEntry{Action: ActionRaised, Details: map[string]string{
				"alert": a.ID, "rule": string(a.Rule), "subject": a.Subject, "summary": a.Summary}}); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
		events = append(events, event{typ: typ, alert: a, created: created})
	}
	tx.AfterCommit(func() { s.publish(events) })
	return out, nil
}

func validRule(r mayfly.Rule) bool {
	for _, v := range mayfly.Rules {
		if r == v {
			return true
		}
	}
	return false
}

// Get returns an alert.
func (s *Service) Get(ctx context.Context, id string) (*mayfly.Alert, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return s.cfg.Store.Alert(ctx, id)
}

// checkID refuses what no alert ID can be before a store sees it: a
// database may take a NUL or broken UTF-8 for an error of its own.
func checkID(id string) error {
	if len(id) > 64 || strings.ContainsRune(id, 0) || !utf8.ValidString(id) {
		return mayfly.Errorf(mayfly.NotFound, "no alert %q", id)
	}
	return nil
}

// List returns the matching alerts, newest last-seen first.
func (s *Service) List(ctx context.Context, f mayfly.AlertFilter) ([]*mayfly.Alert, error) {
	if f.Rule != "" && !validRule(f.Rule) {
		return nil, mayfly.InvalidField("rule", "%q is not a rule; the rules are %v", f.Rule, mayfly.Rules)
	}
	switch f.State {
	case "", mayfly.AlertOpen, mayfly.AlertAcknowledged, mayfly.AlertResolved:
	default:
		return nil, mayfly.InvalidField("state", "%q is not a state: open, acknowledged or resolved", f.State)
	}
	if f.Limit < 0 {
		return nil, mayfly.InvalidField("limit", "limit %d is below 0", f.Limit)
	}
	return s.cfg.Store.Alerts(ctx, f)
}

// Ack acknowledges an open alert as actor, with an optional note.
func (s *Service) Ack(ctx context.Context, id, actor, note string) (*mayfly.Alert, error) {
	return s.transition(ctx, id, actor, note, mayfly.AlertAcknowledged)
}

// Resolve resolves an alert that is open or acknowledged. A rule that
// fires again for its subject afterwards raises a new alert.
func (s *Service) Resolve(ctx context.Context, id, actor, note string) (*mayfly.Alert, error) {
	return s.transition(ctx, id, actor, note, mayfly.AlertResolved)
}

func (s *Service) transition(ctx context.Context, id, actor, note string, to mayfly.AlertState) (*mayfly.Alert, error) {
	if utf8.RuneCountInString(note) > MaxNote {
		return nil, mayfly.InvalidField("note", "the note is longer than %d characters", MaxNote)
	}
	action, typ := ActionAcknowledged, api.AlertAcknowledged
	if to == mayfly.AlertResolved {
		action, typ = ActionResolved, api.AlertResolved
	}
	return s.change(ctx, id, typ, func(a *mayfly.Alert) (mayfly.AuditEntry, error) {
		switch {
		case a.State == mayfly.AlertResolved:
			return mayfly.AuditEntry{}, mayfly.Errorf(mayfly.Conflict, "alert %s is resolved already (by %s); a new firing raises a new alert", a.ID, a.UpdatedBy)
		case a.State == to:
			return mayfly.AuditEntry{}, mayfly.Errorf(mayfly.Conflict, "alert %s is %s already (by %s); it can only be resolved now", a.ID, a.State, a.UpdatedBy)
		}
		a.State, a.UpdatedBy, a.Note = to, actor, note
		return mayfly.AuditEntry{Action: action, Actor: actor, Details: map[string]string{
			"alert": a.ID, "rule": string(a.Rule), "subject": a.Subject, "note": note}}, nil
	})
}

// Contained records what containment did because of an alert.
func (s *Service) Contained(ctx context.Context, alertID, action string) error {
	if action == "" {
		return mayfly.Errorf(mayfly.Invalid, "a containment action must say what it did")
	}
	_, err := s.change(ctx, alertID, api.AlertContained, func(a *mayfly.Alert) (mayfly.AuditEntry, error) {
		a.Actions = append(a.Actions, action)
		return mayfly.AuditEntry{Action: ActionContained, Details: map[string]string{
			"alert": a.ID, "rule": string(a.Rule), "subject": a.Subject, "action": action}}, nil
	})
	return err
}

// change applies edit to the alert as stored and records its entry, all in
// one transaction; if the alert changed in between (a firing, another
// person), it reads it again and retries.
func (s *Service) change(ctx context.Context, id, typ string, edit func(a *mayfly.Alert) (mayfly.AuditEntry, error)) (*mayfly.Alert, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		a, err := s.cfg.Store.Alert(ctx, id)
		if err != nil {
			return nil, err
		}
		entry, err := edit(a)
		if err != nil {
			return nil, err
		}
		a.UpdatedAt = s.cfg.Clock.Now().UTC()
		err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
			if err := s.cfg.Store.UpdateAlert(tx, a); err != nil {
				return err
			}
			_, err := tx.Audit(entry)
			return err
		})
		if errors.Is(err, mayfly.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.publish([]event{{typ: typ, alert: a}})
		return a, nil
	}
}

// Changes returns a channel closed at the next change to alerts this
// process hears of: a stream takes it, then reads what is new, then
// waits on it.
func (s *Service) Changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Refresh wakes the streams: another process, or this one, changed
// alerts (the store's change notice).
func (s *Service) Refresh(context.Context) error {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// Since returns up to limit alerts changed after seq, oldest change first.
func (s *Service) Since(ctx context.Context, seq int64, limit int) ([]*mayfly.Alert, error) {
	return s.cfg.Store.Alerts(ctx, mayfly.AlertFilter{AfterSeq: seq, BySeq: true, Limit: limit})
}

// publish delivers committed changes: counters, OCSF lines, webhooks, and
// a wake-up for this process's streams.
func (s *Service) publish(events []event) {
	for _, e := range events {
		if c := s.counters[e.alert.Rule]; c != nil && (e.typ == api.AlertRaised || e.typ == api.AlertUpdated) {
			c.firings.Add(1)
			if e.created {
				c.raised.Add(1)
			}
		}
		s.writeOCSF(e)
		for _, d := range s.hooks {
			d.enqueue(e)
		}
	}
	s.Refresh(context.Background())
}

func (s *Service) writeOCSF(e event) {
	if s.cfg.OCSF == nil {
		return
	}
	b, err := jsonLine(api.NewOCSF(e.alert, e.created))
	if err == nil {
		s.ocsfMu.Lock()
		_, err = s.cfg.OCSF.Write(b)
		s.ocsfMu.Unlock()
	}
	if err != nil {
		s.cfg.Log.Error("writing an alert's OCSF finding failed", "alert", e.alert.ID, "err", err)
	}
}

// Stats are the process's alert counters, for metrics.
type Stats struct {
	Raised, Firings map[mayfly.Rule]int64
	// WebhookFailures counts failed delivery attempts; WebhookDropped the
	// events given up on after every retry, or for a full queue.
	WebhookFailures, WebhookDropped int64
}

// Stats returns the counters since the process started.
func (s *Service) Stats() Stats {
	st := Stats{Raised: map[mayfly.Rule]int64{}, Firings: map[mayfly.Rule]int64{},
		WebhookFailures: s.failures.Load(), WebhookDropped: s.dropped.Load()}
	for r, c := range s.counters {
		st.Raised[r], st.Firings[r] = c.raised.Load(), c.firings.Load()
	}
	return st
}
