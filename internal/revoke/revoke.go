// Package revoke owns the revocation state: which tokens, clients, keys and
// principals are withdrawn. Revocations are numbered; the hot paths read an
// in-memory copy that is updated only after the store made them durable.
//
// # Invariants
//
// A revocation is written in the transaction of the change it belongs to,
// with that change's audit entry, and takes effect in this process as soon
// as that transaction commits, before whoever made the change hears of it.
// The store numbers revocations in the order they commit, across every
// process sharing it; Refresh reads them in that order from the last one
// it read, so it never passes over one.
package revoke

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Service records revocations and answers whether something is revoked.
type Service struct {
	store mayfly.RevocationStore
	clock mayfly.Clock

	mu sync.RWMutex
	// seq is the newest revocation read in sequence by Refresh. A local
	// Revoke does not move it: another process may have committed a lower
	// number that Refresh has not read yet.
	seq     int64
	version int64                                          // changes with every revocation applied, for caches
	set     map[mayfly.RevocationKind]map[string]time.Time // subject -> until (zero: forever)
	nbf     map[string]time.Time                           // not-before marks: subject -> the latest mark
	// Not-before marks on token subjects (a sub such as "customer:42")
	// and on their namespaces ("customer"), apart from the principal and
	// client marks above: a sub is not an ID of Mayfly's, so it must not
	// match one. Only revoked customers take room: none is kept per
	// customer until one is marked.
	subNBF, nsNBF map[string]time.Time
	// held says, per subject, whether its latest suspend or resume was a
	// suspend, and that one's seq: a hold can be lifted, so unlike the
	// rest it is order-dependent, and a revocation applied out of order
	// (a local one before an older one Refresh brings) must not undo a
	// newer one.
	held map[string]hold

	// feed holds, in sequence order, every revocation Refresh has read that
	// still matters: what a verifier that subscribes is sent. wake is
	// closed, and replaced, whenever feed grows.
	feed []*mayfly.Revocation
	wake chan struct{}
}

// New loads the revocations that still matter from store.
func New(ctx context.Context, store mayfly.RevocationStore, clock mayfly.Clock) (*Service, error) {
	s := &Service{store: store, clock: clock, set: map[mayfly.RevocationKind]map[string]time.Time{}, nbf: map[string]time.Time{},
		subNBF: map[string]time.Time{}, nsNBF: map[string]time.Time{}, held: map[string]hold{}, wake: make(chan struct{})}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Refresh applies revocations made durable since the last one seen.
func (s *Service) Refresh(ctx context.Context) error {
	s.mu.RLock()
	after := s.seq
	s.mu.RUnlock()
	revs, err := s.store.Revocations(ctx, after, s.clock.Now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	grew := false
	for _, r := range revs {
		if r.Seq <= s.seq {
			continue // a concurrent Refresh read it first
		}
		s.applyLocked(r)
		s.seq = r.Seq
		s.feed = append(s.feed, r)
		grew = true
	}
	if grew {
		close(s.wake)
		s.wake = make(chan struct{})
	}
	return nil
}

// Since returns the revocations numbered above after that still matter, in
// order, and a channel closed when there are more. A subscriber starts
// from 0 and continues from the last seq it was given; it waits on the
// channel, not a goroutine per event, however many subscribe.
func (s *Service) Since(after int64) ([]*mayfly.Revocation, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := sort.Search(len(s.feed), func(i int) bool { return s.feed[i].Seq > after })
	// The feed only grows at its end and is replaced whole when pruned, so
	// the tail can be handed out without a copy.
	return s.feed[i:len(s.feed):len(s.feed)], s.wake
}

// Seq is the newest revocation read in sequence: the point a subscriber
// that has everything stands at.
func (s *Service) Seq() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// hold is a subject's latest suspend or resume.
type hold struct {
	seq int64
	on  bool
}

func (s *Service) applyLocked(r *mayfly.Revocation) {
	s.version++
	switch r.Kind {
	case mayfly.RevokeResume:
		if r.At.After(s.nbf[r.Subject]) {
			s.nbf[r.Subject] = r.At
		}
		fallthrough
	case mayfly.RevokeSuspend:
		if h, ok := s.held[r.Subject]; !ok || r.Seq > h.seq {
			s.held[r.Subject] = hold{seq: r.Seq, on: r.Kind == mayfly.RevokeSuspend}
		}
		return
	case mayfly.RevokeNotBefore:
		later(s.nbf, r)
		return
	case mayfly.RevokeSubject:
		later(s.subNBF, r)
		return
	case mayfly.RevokeNamespace:
		later(s.nsNBF, r)
		return
	}
	m := s.set[r.Kind]
	if m == nil {
		m = map[string]time.Time{}
		s.set[r.Kind] = m
	}
	m[r.Subject] = r.Until
}

// later records r's mark in m unless m holds a later one for its subject:
// marks only move forward, whatever order they arrive in.
func later(m map[string]time.Time, r *mayfly.Revocation) {
	if r.At.After(m[r.Subject]) {
		m[r.Subject] = r.At
	}
}

// Revoke writes revocations in tx, which makes them effective once it
// commits. A zero At is set to now.
func (s *Service) Revoke(tx mayfly.Tx, rs ...*mayfly.Revocation) error {
	if len(rs) == 0 {
		return nil
	}
	now := s.clock.Now().UTC()
	for _, r := range rs {
		if r.At.IsZero() {
			r.At = now
		}
	}
	if err := s.store.Revoke(tx, rs...); err != nil {
		return err
	}
	tx.AfterCommit(func() {
		s.mu.Lock()
		for _, r := range rs {
			s.applyLocked(r)
		}
		s.mu.Unlock()
		// Subscribers get revocations in sequence order, which only
		// Refresh reads; if it fails here, the store's change feed
		// brings them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Refresh(ctx)
	})
	return nil
}

// NotBefore returns subject's not-before mark: tokens for it issued before
// the mark are rejected. Zero if it has none.
func (s *Service) NotBefore(subject string) time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nbf[subject]
}

// SubjectMark returns the latest not-before mark covering a token subject
// (a sub such as "customer:42"): its own (RevokeSubject) or its
// namespace's (RevokeNamespace, for the part before the first colon).
// Zero if neither is marked. Every access token with that sub issued
// before the mark is rejected, and so must be every refresh family of the
// subject begun before it: a refresh grant asks SubjectMark(sub) and
// refuses a family whose start is before the result, so that "log this
// customer out" and "log everyone out" end refresh too. It is two map
// reads, with nothing stored per subject that was never marked.
func (s *Service) SubjectMark(sub string) time.Time {
	if sub == "" {
		return time.Time{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	mark := s.subNBF[sub]
	if ns, _, ok := strings.Cut(sub, ":"); ok {
		if m := s.nsNBF[ns]; m.After(mark) {
			mark = m
		}
	}
	return mark
}

// Revoked reports whether subject of kind is revoked.
func (s *Service) Revoked(kind mayfly.RevocationKind, subject string) bool {
	s.mu.RLock()
	_, ok := s.set[kind][subject]
	s.mu.RUnlock()
	return ok
}

// Reasons returns the reasons of the revocations of kind that still
// matter, by subject: the latest where a subject was revoked twice. A
// revocation without a reason is left out.
func (s *Service) Reasons(kind mayfly.RevocationKind) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]string{}
	for _, r := range s.feed {
		if r.Kind == kind && r.Reason != "" {
			out[r.Subject] = r.Reason
		}
	}
	return out
}

// Suspended reports whether a suspension holds every token of subject, a
// principal or client.
func (s *Service) Suspended(subject string) bool {
	s.mu.RLock()
	h := s.held[subject]
	s.mu.RUnlock()
	return h.on
}

// Version changes whenever a revocation is applied, so that caches of
// what is revoked know to rebuild.
func (s *Service) Version() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// Prune forgets token revocations whose tokens have expired, here and in
// the store. It keeps them MaxTokenTTL longer than needed, so that a clock
// stepped back does not revive a revoked token.
func (s *Service) Prune(ctx context.Context) error {
	now := s.clock.Now().Add(-mayfly.MaxTokenTTL)
	s.mu.Lock()
	for _, m := range s.set {
		for subj, until := range m {
			if !until.IsZero() && !until.After(now) {
				delete(m, subj)
			}
		}
	}
	// A new slice: subscribers may hold the old one's tail.
	var feed []*mayfly.Revocation
	for _, r := range s.feed {
		if r.Until.IsZero() || r.Until.After(now) {
			feed = append(feed, r)
		}
	}
	s.feed = feed
	s.mu.Unlock()
	return s.store.PruneRevocations(ctx, now)
}
