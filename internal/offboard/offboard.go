// Package offboard owns the offboarding workflow: when a person leaves, it
// revokes every credential they own and replaces every secret they could
// have seen, and reports each action with its audit entry.
//
// # Invariants
//
//   - Each step's changes, their audit entries, and the run saved with the
//     step's report lines and the step marked done commit together, so a
//     run interrupted by a crash resumes at the step it had not finished
//     and its report misses nothing that was done. Every step works out
//     what is left to do from the stored state, so running a step twice
//     does nothing the second time.
//   - What a person "could have used" is judged against the cutoff: when
//     their first offboarding began. Keys and secrets replaced after it are
//     beyond their reach, so a second offboarding finds nothing to do.
//   - Runs for one principal are serialised across replicas by a store lock.
package offboard

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
)

// The steps, in the order they run.
const (
	StepStatus      = "status"      // offboarded, not-before mark, principal revoked
	StepCredentials = "credentials" // owned clients, services and admin credentials revoked or handed over
	StepRings       = "rings"       // rings they had custody of rekeyed
	StepSecrets     = "secrets"     // client secrets they were shown replaced
	StepRootKey     = "root_key"    // with the root key: every ring rekeyed, the audit log key and the root key replaced
)

// The root key comes last: replacing it needs its file to be writable, and
// a failure there must not hold back the other steps.
var steps = []string{StepStatus, StepCredentials, StepRings, StepSecrets, StepRootKey}

// RootKey rotates the root key and re-seals all key material under the new one.
type RootKey interface {
	// RotatedAt is when the root key in use was made.
	RotatedAt(ctx context.Context) (time.Time, error)
	// Rotate replaces it. also, if not nil, runs in the transaction that
	// records the rotation, with the index of its entry.
	Rotate(ctx context.Context, reason string, also func(tx mayfly.Tx, idx uint64) error) error
}

// Store is what offboarding keeps itself, its runs and the lock that
// serialises them, and what it reads of who owns what and had custody of
// what. It changes principals and clients only through identity.
type Store interface {
	mayfly.OffboardingStore
	mayfly.Coordinator
	Principals(ctx context.Context) ([]*mayfly.Principal, error)
	Client(ctx context.Context, id string) (*mayfly.Client, error)
	Clients(ctx context.Context) ([]*mayfly.Client, error)
	AdminCredentials(ctx context.Context) ([]*mayfly.AdminCredential, error)
	Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error)
}

// Config configures a Service.
type Config struct {
	Store    Store
	Identity *identity.Service
	Keys     *keys.Service
	Revoker  *revoke.Service
	Audit    Audit
	RootKey  RootKey // nil: the root key cannot be rotated here, and offboarding says so
	// Requests, if set, holds what people asked for that waits for a
	// decision: a departing person's requests are withdrawn.
	Requests Requests
	Clock    mayfly.Clock
	Rand     io.Reader
	Log      *slog.Logger
	// AfterStep, if set, runs after each step is saved; tests stop a run
	// there to prove it resumes.
	AfterStep func(step string) error
}

// Requests are the changes people asked for that wait for someone's
// decision (package pending).
type Requests interface {
	// Outstanding lists what person asked for that is not carried out.
	Outstanding(ctx context.Context, person string) ([]*mayfly.PendingAction, error)
	// Withdraw saves an action, in tx, as rejected for reason.
	Withdraw(tx mayfly.Tx, a *mayfly.PendingAction, reason string) error
}

// Audit is the audit log as offboarding uses it: the unit of work its steps
// commit through, and the log key it replaces when the root key's
// custodian leaves.
type Audit interface {
	mayfly.Updater
	// KeyMadeAt is when the log key in use was made.
	KeyMadeAt(ctx context.Context) (time.Time, error)
	// RotateKey replaces the log key; also, if not nil, runs in the
	// transaction that records it, with the new verifier key.
	RotateKey(ctx context.Context, also func(tx mayfly.Tx, vkey string) error) (string, error)
	// Search returns stored entries.
	Search(ctx context.Context, f mayfly.AuditFilter) ([]mayfly.AuditRecord, error)
}

// Service runs offboardings.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Service{cfg: cfg}
}

// Options are what the caller asks of an offboarding.
type Options struct {
	Reason string
	// TransferTo, if set, takes over the person's clients and services
	// instead of their being revoked; their secrets are replaced, since
	// the person saw them.
	TransferTo string
}

// Offboard runs, or resumes, the offboarding of the principal ref names and
// returns the run with its report.
func (s *Service) Offboard(ctx context.Context, ref string, opt Options) (*mayfly.Offboarding, error) {
	return s.offboard(ctx, ref, opt, "")
}

// offboard runs the offboarding of ref; with resume, only to finish that
// run, which another replica may have finished meanwhile.
func (s *Service) offboard(ctx context.Context, ref string, opt Options, resume string) (*mayfly.Offboarding, error) {
	p, err := s.cfg.Identity.Fresh(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := mayfly.CheckText("reason", opt.Reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	var to *mayfly.Principal
	if opt.TransferTo != "" {
		if to, err = s.cfg.Identity.Fresh(ctx, opt.TransferTo); err != nil {
			return nil, err
		}
		if to.ID == p.ID || to.Kind != mayfly.Human || to.Status != mayfly.Active {
			return nil, mayfly.InvalidField("transfer_to", "clients can be handed only to another active person; %q is a %s %s", to.Name, to.Status, to.Kind)
		}
	}
	unlock, err := s.cfg.Store.Lock(ctx, "offboard/"+p.ID)
	if err != nil {
		return nil, mayfly.E("offboard.Offboard", err)
	}
	defer unlock()
	runs, err := s.cfg.Store.Offboardings(ctx, p.ID, false)
	if err != nil {
		return nil, err
	}
	var o *mayfly.Offboarding
	for _, r := range runs {
		if !r.Finished() {
			o = r // resume it, with the options it was started with
		}
		if r.ID == resume && r.Finished() {
			return r, nil
		}
	}
	if o == nil {
		o = &mayfly.Offboarding{PrincipalID: p.ID, Reason: opt.Reason, Actor: audit.Actor(ctx), StartedAt: s.cfg.Clock.Now().UTC(), Done: []string{}, Actions: []mayfly.OffboardAction{}}
		if to != nil {
			o.TransferTo = to.ID
		}
		if o.ID, err = s.newID(); err != nil {
			return nil, err
		}
		// Stored with its first step: a run nothing was done for is not kept.
		runs = append(runs, o)
	}
	return o, s.run(ctx, o, runs[0].StartedAt)
}

// Runs returns the offboarding runs of a principal, oldest first.
func (s *Service) Runs(ctx context.Context, principalID string) ([]*mayfly.Offboarding, error) {
	return s.cfg.Store.Offboardings(ctx, principalID, false)
}

// Resume finishes every run that a crash interrupted.
func (s *Service) Resume(ctx context.Context) error {
	runs, err := s.cfg.Store.Offboardings(ctx, "", true)
	if err != nil {
		return err
	}
	for _, o := range runs {
		s.cfg.Log.Warn("resuming an interrupted offboarding", "offboarding", o.ID, "principal", o.PrincipalID, "done", o.Done)
		if _, err := s.offboard(audit.WithActor(ctx, o.Actor), o.PrincipalID, Options{}, o.ID); err != nil {
			return fmt.Errorf("resume offboarding %s: %w", o.ID, err)
		}
	}
	return nil
}

// run does the steps o has not done; each saves o as it commits.
func (s *Service) run(ctx context.Context, o *mayfly.Offboarding, cutoff time.Time) error {
	ctx = audit.WithActor(ctx, o.Actor)
	for _, step := range steps {
		if slices.Contains(o.Done, step) {
			continue
		}
		// A step plans from what is stored; if what it read changed before
		// it committed (an owner rotated a secret meanwhile), it plans again.
		var err error
		for try := 0; try < 3; try++ {
			w := &work{s: s, o: o, step: step, cutoff: cutoff}
			if err = w.do(ctx); mayfly.ErrorCode(err) != mayfly.Conflict {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("offboarding %s, step %s: %w", o.ID, step, err)
		}
		s.cfg.Identity.Forget(ctx)
		if s.cfg.AfterStep != nil {
			if err := s.cfg.AfterStep(step); err != nil {
				return err
			}
		}
	}
	n := len(o.Actions)
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		idx, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionOffboardingFinished, Principal: o.PrincipalID,
			Details: map[string]string{"offboarding": o.ID, "actions": fmt.Sprint(n), "reason": o.Reason}})
		if err != nil {
			return err
		}
		next := o.Clone()
		next.FinishedAt = s.cfg.Clock.Now().UTC()
		next.Actions = append(next.Actions, mayfly.OffboardAction{Step: "report", Action: mayfly.ActionOffboardingFinished, Subject: o.PrincipalID,
			Detail: fmt.Sprintf("%d actions", n), At: next.FinishedAt, Audit: idx})
		return s.save(tx, o, next)
	})
	if err != nil {
		return err
	}
	s.cfg.Log.Info("offboarding finished", "offboarding", o.ID, "principal", o.PrincipalID, "actions", n)
	return nil
}

// save stores next, the run o becomes, in tx, and makes o next once tx
// commits.
func (s *Service) save(tx mayfly.Tx, o, next *mayfly.Offboarding) error {
	if err := s.cfg.Store.SaveOffboarding(tx, next); err != nil {
		return err
	}
	tx.AfterCommit(func() { *o = *next })
	return nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (s *Service) newID() (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", mayfly.E("offboard.newID", err)
	}
	return "off_" + strings.ToLower(idEncoding.EncodeToString(b)), nil
}
