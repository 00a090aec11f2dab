// Package pending owns changes that wait for an administrator's decision:
// what a SCIM credential may not do alone, and what needs a second person.
// A request records what to do and why it waits; an approval records the
// decision, then carries the change out as the approver, with the handler
// its kind registered; a rejection records the decision and changes
// nothing.
//
// # Invariants
//
//   - Every request, decision and outcome is in the audit log, written in
//     the transaction that stores it.
//   - An action is decided once. An approved action whose carrying out
//     failed, or was cut short by a crash, is tried again by approving it
//     again; handlers are idempotent, so trying again never does a change
//     twice.
//   - No one decides their own request: not with the credential that made
//     it, nor with another credential of the same person. A kind that
//     needs a second person also refuses a decider no person owns.
//   - A request for what already waits (the same kind and subject) returns
//     the waiting one: an identity provider retries, and a retry must not
//     queue the change twice.
//   - A change that needs a second person waits for one once two people
//     hold admin credentials. Until then it is carried out at once, and
//     recorded as unapproved: listed by the doctor until a second person
//     approves it afterwards.
package pending

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
)

// Config configures a Service.
type Config struct {
	Store mayfly.PendingStore
	Audit mayfly.Updater
	// Identity makes the credentials and custody records that need a
	// second person, and says who holds admin credentials: with fewer
	// than two people, no second person can approve.
	Identity *identity.Service
	Clock    mayfly.Clock
	Rand     io.Reader
	Log      *slog.Logger
}

// Handler carries out an approved action, as the approver in ctx, and says
// what came of it. It must be idempotent: an action whose outcome was not
// recorded is handled again.
type Handler func(ctx context.Context, a *mayfly.PendingAction) (result string, err error)

// Kind is how a kind of action is carried out and decided.
type Kind struct {
	Handle Handler
	// TwoPerson kinds need a decider that belongs to a person other than
	// the requester.
	TwoPerson bool
}

// Service records pending actions and their decisions.
type Service struct {
	cfg   Config
	mu    sync.RWMutex
	kinds map[mayfly.PendingKind]Kind
}

// New returns a Service that knows how to carry out the changes it asks a
// second person for; other kinds are registered (see Register).
func New(cfg Config) *Service {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	s := &Service{cfg: cfg, kinds: map[mayfly.PendingKind]Kind{}}
	s.Register(mayfly.PendingAdminCredential, Kind{TwoPerson: true, Handle: s.createCredential})
	s.Register(mayfly.PendingRootCustody, Kind{TwoPerson: true, Handle: s.grantRootCustody})
	return s
}

// Register says how actions of kind k are carried out. The services that
// carry them out are assembled after this one, so they are registered
// rather than configured.
func (s *Service) Register(k mayfly.PendingKind, kind Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds[k] = kind
}

func (s *Service) kind(k mayfly.PendingKind) (Kind, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kind, ok := s.kinds[k]
	if !ok {
		return Kind{}, mayfly.Errorf(mayfly.Internal, "pending action kind %q has no handler", k)
	}
	return kind, nil
}

// Request is what a caller asks to have decided.
type Request struct {
	Kind    mayfly.PendingKind
	Subject string
	Params  map[string]string
	Why     string
	// Requester is the person asking, if not the owner of the credential
	// in ctx: the operator, for what the server's flags ask at start.
	Requester string
	// Material is what carrying it out needs and no one may read.
	Material []byte
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Request records r as waiting for a decision, asked by the credential in
// ctx, or returns the action of the same kind and subject already waiting.
// created says which.
func (s *Service) Request(ctx context.Context, r Request) (a *mayfly.PendingAction, created bool, err error) {
	if _, err := s.kind(r.Kind); err != nil {
		return nil, false, err
	}
	waiting, err := s.cfg.Store.PendingActions(ctx, mayfly.PendingFilter{Status: mayfly.Pending, Kind: r.Kind, Subject: r.Subject})
	if err != nil {
		return nil, false, err
	}
	if len(waiting) > 0 {
		return waiting[0], false, nil
	}
	if a, err = s.record(ctx, r, mayfly.Pending, mayfly.ActionPendingRequested); err != nil {
		return nil, false, err
	}
	s.cfg.Log.Warn("an action waits for an administrator's decision", "pending", a.ID, "kind", a.Kind, "subject", a.Subject, "why", a.Why)
	return a, true, nil
}

// TwoPerson asks for a change that needs a second person's approval. With
// two or more people holding admin credentials it waits for one (see
// Request); with fewer it is carried out now, as the caller in ctx, and
// recorded as unapproved. carried says which.
func (s *Service) TwoPerson(ctx context.Context, r Request) (a *mayfly.PendingAction, carried bool, err error) {
	kind, err := s.kind(r.Kind)
	if err != nil {
		return nil, false, err
	}
	if !kind.TwoPerson {
		return nil, false, mayfly.Errorf(mayfly.Internal, "pending action kind %q does not take a second person", r.Kind)
	}
	// Someone must answer for the request, or a second person's approval
	// would be no one's check on anyone.
	asking := []string{r.Requester}
	if r.Requester == "" {
		if asking, err = s.cfg.Identity.Holders(ctx, audit.Actor(ctx)); err != nil {
			return nil, false, err
		}
	}
	if len(asking) == 0 {
		return nil, false, mayfly.Errorf(mayfly.PermissionDenied, "%s needs a second person's approval, and this credential belongs to no one: ask with a credential of your own", r.Kind)
	}
	people, err := s.cfg.Identity.AdminPeople(ctx)
	if err != nil {
		return nil, false, err
	}
	if len(people) >= 2 {
		a, _, err = s.Request(ctx, r)
		return a, false, err
	}
	r.Why += fmt.Sprintf("; carried out without a second person's approval, as %d person(s) held an admin credential", len(people))
	// Recorded before it is carried out: a crash in between leaves an
	// unapproved action not done, which the doctor lists and an approval
	// carries out, never a change without its record.
	if a, err = s.record(ctx, r, mayfly.Unapproved, mayfly.ActionPendingUnapproved); err != nil {
		return nil, false, err
	}
	s.cfg.Log.Warn("a change that needs two people was made by one", "pending", a.ID, "kind", a.Kind, "subject", a.Subject, "people", len(people))
	a, err = s.carryOut(ctx, a, kind)
	return a, err == nil, err
}

// record stores a new action in status, with its entry.
func (s *Service) record(ctx context.Context, r Request, status mayfly.PendingStatus, action mayfly.Action) (*mayfly.PendingAction, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, mayfly.E("pending.Request", err)
	}
	a := &mayfly.PendingAction{ID: "pa_" + idEncoding.EncodeToString(b), Kind: r.Kind, Subject: r.Subject, Params: r.Params, Why: r.Why,
		RequestedBy: audit.Actor(ctx), Requester: r.Requester, RequestedAt: s.cfg.Clock.Now().UTC(), Status: status, Material: r.Material}
	if c := identity.Caller(ctx); c != nil && a.Requester == "" {
		a.Requester = c.OwnerID
	}
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.CreatePending(tx, a); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: action, Principal: principalOf(a),
			Details: details(a, map[string]string{"why": a.Why, "requester": a.Requester})})
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// principalOf is the principal an action concerns, for the audit index.
func principalOf(a *mayfly.PendingAction) string {
	switch a.Kind {
	case mayfly.PendingSuspend, mayfly.PendingOffboard:
		return a.Subject
	}
	return ""
}

// details are an action's audit entry details: its ID, kind and subject,
// and extra.
func details(a *mayfly.PendingAction, extra map[string]string) map[string]string {
	d := map[string]string{"pending": a.ID, "kind": string(a.Kind), "subject": a.Subject}
	for k, v := range extra {
		if v != "" {
			d[k] = v
		}
	}
	return d
}

// Get returns the action id names.
func (s *Service) Get(ctx context.Context, id string) (*mayfly.PendingAction, error) {
	a, err := s.cfg.Store.PendingAction(ctx, id)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil, mayfly.Errorf(mayfly.NotFound, "pending action %q not found", id)
	}
	return a, err
}

// List returns the actions f selects, oldest first.
func (s *Service) List(ctx context.Context, f mayfly.PendingFilter) ([]*mayfly.PendingAction, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, mayfly.InvalidField("status", "status %q is not pending, approved or rejected", f.Status)
	}
	return s.cfg.Store.PendingActions(ctx, f)
}

// Approve approves the action id names as the caller in ctx, and carries
// it out if it is not done. An action approved before whose carrying out
// did not finish is carried out again; one carried out unapproved is
// approved afterwards.
func (s *Service) Approve(ctx context.Context, id, reason string) (*mayfly.PendingAction, error) {
	a, kind, err := s.decidable(ctx, id, reason)
	if err != nil {
		return nil, err
	}
	if a.Status != mayfly.Approved { // decided already: carried out again, as whoever asks
		if a, err = s.decide(ctx, a, mayfly.Approved, reason); err != nil {
			return nil, err
		}
	}
	if !a.DoneAt.IsZero() {
		return a, nil
	}
	return s.carryOut(ctx, a, kind)
}

// carryOut runs a's handler as the caller in ctx, and records what came of
// it.
func (s *Service) carryOut(ctx context.Context, a *mayfly.PendingAction, kind Kind) (*mayfly.PendingAction, error) {
	result, herr := kind.Handle(ctx, a)
	if herr != nil {
		result = "failed: " + mayfly.ErrorMessage(herr)
	}
	done := *a
	done.Result = result
	if herr == nil {
		done.DoneAt = s.cfg.Clock.Now().UTC()
	}
	action := mayfly.ActionPendingDone
	if herr != nil {
		action = mayfly.ActionPendingFailed
	}
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.UpdatePending(tx, &done); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: action, Principal: principalOf(a),
			Details: details(a, map[string]string{"result": result})})
		return err
	})
	if herr != nil {
		return &done, mayfly.Errorf(mayfly.ErrorCode(herr), "pending action %s is %s, but carrying it out failed: %s; approve it to retry",
			a.ID, a.Status, mayfly.ErrorMessage(herr))
	}
	if err != nil {
		return nil, fmt.Errorf("pending action %s was carried out, but recording that failed: %w", a.ID, err)
	}
	return &done, nil
}

// Reject rejects the action id names as the caller in ctx.
func (s *Service) Reject(ctx context.Context, id, reason string) (*mayfly.PendingAction, error) {
	a, _, err := s.decidable(ctx, id, reason)
	if err != nil {
		return nil, err
	}
	switch {
	case a.Status == mayfly.Unapproved && !a.DoneAt.IsZero():
		return nil, mayfly.Errorf(mayfly.Conflict, "pending action %s was carried out already, without a second person; undo it by hand if it was wrong", a.ID)
	case a.Status != mayfly.Pending && a.Status != mayfly.Unapproved:
		return nil, mayfly.Errorf(mayfly.Conflict, "pending action %s is already %s", a.ID, a.Status)
	}
	return s.decide(ctx, a, mayfly.Rejected, reason)
}

// decidable reads the action and checks that the caller may decide it.
func (s *Service) decidable(ctx context.Context, id, reason string) (*mayfly.PendingAction, Kind, error) {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, Kind{}, err
	}
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, Kind{}, err
	}
	kind, err := s.kind(a.Kind)
	if err != nil {
		return nil, Kind{}, err
	}
	if a.Status == mayfly.Rejected {
		return nil, Kind{}, mayfly.Errorf(mayfly.Conflict, "pending action %s was rejected; that is final", a.ID)
	}
	if a.Status == mayfly.Approved {
		return a, kind, nil
	}
	if audit.Actor(ctx) == a.RequestedBy {
		return nil, Kind{}, mayfly.Errorf(mayfly.PermissionDenied, "pending action %s was requested with this credential; someone else must decide it", a.ID)
	}
	// Who could present the deciding credential, and who could have
	// asked: a token someone was shown is theirs to use as well.
	deciders, err := s.cfg.Identity.Holders(ctx, audit.Actor(ctx))
	if err != nil {
		return nil, Kind{}, err
	}
	requesters, err := s.requesters(ctx, a)
	if err != nil {
		return nil, Kind{}, err
	}
	for _, p := range deciders {
		switch {
		case slices.Contains(requesters, p):
			return nil, Kind{}, mayfly.Errorf(mayfly.PermissionDenied, "pending action %s was asked for by %s, who can present this credential too; someone else must decide it", a.ID, s.name(ctx, p))
		case p == beneficiary(a):
			return nil, Kind{}, mayfly.Errorf(mayfly.PermissionDenied, "pending action %s concerns %s, who can present this credential; someone else must decide it", a.ID, s.name(ctx, p))
		}
	}
	if kind.TwoPerson && len(deciders) == 0 {
		return nil, Kind{}, mayfly.Errorf(mayfly.PermissionDenied, "pending action %s needs a second person, and this credential belongs to no one: decide it with a credential of your own", a.ID)
	}
	return a, kind, nil
}

// name names a principal for a message, by its ID if it cannot be read.
func (s *Service) name(ctx context.Context, id string) string {
	if p, err := s.cfg.Identity.Principal(ctx, id); err == nil {
		return p.Name
	}
	return id
}

// requesters are the people who could have asked for a: the person named
// as asking, and everyone who can present the credential it was asked
// with.
func (s *Service) requesters(ctx context.Context, a *mayfly.PendingAction) ([]string, error) {
	people, err := s.cfg.Identity.Holders(ctx, a.RequestedBy)
	if err != nil {
		return nil, err
	}
	if a.Requester != "" && !slices.Contains(people, a.Requester) {
		people = append(people, a.Requester)
	}
	return people, nil
}

// beneficiary is the person an action is about, who may not decide it:
// whom it suspends, offboards or grants custody, or who would own the
// credential it makes.
func beneficiary(a *mayfly.PendingAction) string {
	switch a.Kind {
	case mayfly.PendingSuspend, mayfly.PendingOffboard, mayfly.PendingRootCustody:
		return a.Subject
	case mayfly.PendingAdminCredential:
		return a.Params["owner"]
	}
	return ""
}

// decide records the caller's decision on a waiting action.
func (s *Service) decide(ctx context.Context, a *mayfly.PendingAction, status mayfly.PendingStatus, reason string) (*mayfly.PendingAction, error) {
	next := *a
	next.Status, next.DecidedBy, next.DecidedAt, next.Reason = status, audit.Actor(ctx), s.cfg.Clock.Now().UTC(), reason
	if c := identity.Caller(ctx); c != nil {
		next.Decider = c.OwnerID
	}
	action := mayfly.ActionPendingApproved
	if status == mayfly.Rejected {
		action = mayfly.ActionPendingRejected
	}
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Store.UpdatePending(tx, &next); err != nil {
			if mayfly.ErrorCode(err) == mayfly.Conflict {
				return mayfly.Errorf(mayfly.Conflict, "pending action %s was decided by someone else meanwhile", a.ID)
			}
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: action, Principal: principalOf(a),
			Details: details(a, map[string]string{"reason": reason, "requested_by": a.RequestedBy})})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info(string(action), "pending", a.ID, "kind", a.Kind, "subject", a.Subject)
	return &next, nil
}
