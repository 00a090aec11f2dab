// Package scim owns what provisioning from an identity provider may do to
// the people Mayfly knows: the decisions behind SCIM 2.0 (RFC 7643, 7644)
// requests, which httpapi parses and answers. A SCIM user is a human
// principal.
//
// # Invariants
//
//   - Deactivation suspends the person, or, with Deactivate "offboard",
//     runs the whole offboarding workflow. A person created inactive is
//     suspended either way: they own nothing yet, and offboarding would
//     take their name for good.
//   - Reactivation ends only a suspension made through SCIM (the person
//     records who suspended them): a person an administrator suspended,
//     say during an investigation, stays suspended until an administrator
//     says otherwise, so an identity provider's routine push cannot end it.
//   - Provisioning cannot lock the operators out: a person with custody of
//     the root key, or without whom no working admin credential would be
//     left, is neither suspended nor offboarded through SCIM. The request
//     is refused with the reason, and waits as a pending action for an
//     administrator to approve or reject.
//   - Offboarding is final: an offboarded person is a deleted resource,
//     cannot be changed or brought back, and keeps their userName.
//   - userNames are unique without regard to case, which the store
//     enforces; two requests racing for one name cannot both win.
//   - Attributes are written in one versioned update, then the status
//     changes; a change made from a version another change replaced fails
//     with ErrRaced.
package scim

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/offboard"
	"github.com/mayflyhq/mayfly/internal/pending"
)

// What a deactivation does (Config.Deactivate).
const (
	Suspend  = "suspend"
	Offboard = "offboard"
)

// Config configures a Service.
type Config struct {
	Identity *identity.Service
	Offboard *offboard.Service
	Pending  *pending.Service // where what SCIM may not do alone waits
	// Deactivate is what active=false does: Suspend (the default) or
	// Offboard.
	Deactivate string
}

// Service decides what provisioning requests do.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Deactivate == "" {
		cfg.Deactivate = Suspend
	}
	return &Service{cfg: cfg}
}

// Person is what an identity provider says of a person: the attributes
// Mayfly keeps, and the status it asks for (nil: not asked).
type Person struct {
	UserName, ExternalID, DisplayName, Email string
	Active                                   *bool
}

// Of is p as it stands, without a status asked for.
func Of(p *mayfly.Principal) Person {
	return Person{UserName: p.Name, ExternalID: p.ExternalID, DisplayName: p.DisplayName, Email: p.Email}
}

// Error is a refusal with the SCIM error type (RFC 7644 section 3.12) that
// names its reason, such as "uniqueness" or "mutability".
type Error struct {
	Type string
	Err  *mayfly.Error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func refuse(typ string, code mayfly.Code, format string, args ...any) error {
	return &Error{Type: typ, Err: mayfly.Errorf(code, format, args...)}
}

// ErrRaced says another change to the person was stored first.
var ErrRaced = mayfly.Errorf(mayfly.Conflict, "the user changed while this request was applied: try again")

// Person reads, bypassing caches, the person a SCIM id names. Services are
// not SCIM users, and only an ID names one, never a principal's name.
func (s *Service) Person(ctx context.Context, id string) (*mayfly.Principal, error) {
	p, err := s.cfg.Identity.Fresh(ctx, id)
	if mayfly.ErrorCode(err) == mayfly.NotFound || (err == nil && (p.ID != id || p.Kind != mayfly.Human)) {
		return nil, mayfly.Errorf(mayfly.NotFound, "user %q not found", id)
	}
	return p, err
}

// Gone is the answer for an offboarded person: a deleted resource.
func Gone(p *mayfly.Principal) error {
	return mayfly.Errorf(mayfly.NotFound, "user %q not found: they were offboarded", p.ID)
}

// People lists the people SCIM sees: humans not offboarded.
func (s *Service) People(ctx context.Context) ([]*mayfly.Principal, error) {
	ps, err := s.cfg.Identity.Principals(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ps, func(p *mayfly.Principal) bool { return p.Kind != mayfly.Human || p.Status == mayfly.Offboarded }), nil
}

// Create creates a person; caller is the SCIM credential that asks.
func (s *Service) Create(ctx context.Context, caller *mayfly.AdminCredential, in Person) (*mayfly.Principal, error) {
	spec := identity.PrincipalSpec{Name: in.UserName, Kind: mayfly.Human, ExternalID: in.ExternalID, DisplayName: in.DisplayName, Email: in.Email}
	if in.Active != nil && !*in.Active {
		spec.Suspended = "created inactive through SCIM by " + caller.Name
	}
	p, err := s.cfg.Identity.Create(ctx, spec)
	if mayfly.ErrorCode(err) == mayfly.Conflict {
		return nil, s.taken(ctx, in.UserName, "")
	}
	return p, err
}

// taken explains why name cannot be had: someone other than self holds
// it, in some letter case. Read only once the store refused the name.
func (s *Service) taken(ctx context.Context, name, self string) error {
	ps, err := s.cfg.Identity.Principals(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ID != self && strings.EqualFold(p.Name, name) && p.Status == mayfly.Offboarded {
			return refuse("uniqueness", mayfly.Conflict, "userName %q belonged to a person who was offboarded, and offboarding is final: choose another", name)
		}
	}
	return refuse("uniqueness", mayfly.Conflict, "userName %q is taken", name)
}

// Apply makes p, as read, what in says: every check first, then the
// attributes in one versioned write, then the status.
func (s *Service) Apply(ctx context.Context, caller *mayfly.AdminCredential, p *mayfly.Principal, in Person) error {
	target, err := s.target(ctx, p, in.Active)
	if err != nil {
		return err
	}
	changed := in.UserName != p.Name || in.ExternalID != p.ExternalID || in.DisplayName != p.DisplayName || in.Email != p.Email
	if p.Status == mayfly.Offboarded && (changed || target != "") {
		return refuse("mutability", mayfly.Conflict, "user %q was offboarded; that is final", p.Name)
	}
	reason := "through SCIM by " + caller.Name
	if target == mayfly.Suspended || target == mayfly.Offboarded {
		if err := s.guard(ctx, p, target, "deactivated "+reason); err != nil {
			return err
		}
	}
	if changed {
		if err := s.setAttributes(ctx, p, in); err != nil {
			return err
		}
	}
	switch target {
	case mayfly.Active:
		_, err = s.cfg.Identity.SetStatus(ctx, p.ID, mayfly.Active, "reactivated "+reason)
	case mayfly.Suspended:
		_, err = s.cfg.Identity.SetStatus(ctx, p.ID, mayfly.Suspended, "deactivated "+reason)
	case mayfly.Offboarded:
		_, err = s.cfg.Offboard.Offboard(ctx, p.ID, offboard.Options{Reason: "deactivated " + reason})
	}
	return s.guarded(ctx, p, target, "deactivated "+reason, err)
}

func (s *Service) setAttributes(ctx context.Context, p *mayfly.Principal, in Person) error {
	next := *p
	next.Name, next.ExternalID, next.DisplayName, next.Email = in.UserName, in.ExternalID, in.DisplayName, in.Email
	err := s.cfg.Identity.UpdatePrincipal(ctx, &next)
	if mayfly.ErrorCode(err) != mayfly.Conflict {
		return err
	}
	// The store says only "conflict": the version moved, or the new name
	// is someone else's.
	cur, ferr := s.cfg.Identity.Fresh(ctx, p.ID)
	if ferr != nil {
		return ferr
	}
	if cur.Version != p.Version {
		return ErrRaced
	}
	return s.taken(ctx, in.UserName, p.ID)
}

// target is the status a request's active value asks of p, or "" for no
// change.
func (s *Service) target(ctx context.Context, p *mayfly.Principal, active *bool) (mayfly.PrincipalStatus, error) {
	switch {
	case active == nil:
		return "", nil
	case *active && p.Status == mayfly.Suspended:
		return mayfly.Active, s.suspendedBySCIM(ctx, p)
	case *active && p.Status == mayfly.Offboarded:
		return "", refuse("mutability", mayfly.Conflict, "user %q was offboarded; that is final and cannot be undone", p.Name)
	case *active:
		return "", nil
	case s.cfg.Deactivate == Offboard && p.Status != mayfly.Offboarded:
		return mayfly.Offboarded, nil
	case p.Status == mayfly.Active:
		return mayfly.Suspended, nil
	}
	return "", nil
}

// suspendedBySCIM refuses to reactivate a person whose suspension was not
// made with a SCIM credential.
func (s *Service) suspendedBySCIM(ctx context.Context, p *mayfly.Principal) error {
	if p.SuspendedBy != "" {
		creds, err := s.cfg.Identity.AdminCredentials(ctx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(creds, func(c *mayfly.AdminCredential) bool { return c.ID == p.SuspendedBy && c.Role == mayfly.RoleSCIM }) {
			return nil
		}
	}
	return refuse("mutability", mayfly.Conflict, "user %q was suspended by an administrator, not through SCIM; only an administrator can reactivate them", p.Name)
}

// Deleted reports whether p is gone: offboarded, and no offboarding of
// theirs is left for a DELETE to finish.
func (s *Service) Deleted(ctx context.Context, p *mayfly.Principal) (bool, error) {
	if p.Status != mayfly.Offboarded {
		return false, nil
	}
	runs, err := s.cfg.Offboard.Runs(ctx, p.ID)
	if err != nil {
		return false, err
	}
	return !slices.ContainsFunc(runs, func(o *mayfly.Offboarding) bool { return !o.Finished() }), nil
}

// Delete offboards p, or finishes an offboarding of theirs that a crash
// interrupted (see Deleted).
func (s *Service) Delete(ctx context.Context, caller *mayfly.AdminCredential, p *mayfly.Principal) error {
	reason := "deleted through SCIM by " + caller.Name
	if p.Status != mayfly.Offboarded { // an interrupted offboarding was decided already
		if err := s.guard(ctx, p, mayfly.Offboarded, reason); err != nil {
			return err
		}
	}
	_, err := s.cfg.Offboard.Offboard(ctx, p.ID, offboard.Options{Reason: reason})
	return s.guarded(ctx, p, mayfly.Offboarded, reason, err)
}

// guard refuses to suspend or offboard p, and has an administrator decide
// instead, if losing p would take away the means to administer Mayfly.
// It looks before anything changes; the change itself checks again under
// the lock that orders such changes (identity.Guard), and guarded turns
// its refusal into the same answer.
func (s *Service) guard(ctx context.Context, p *mayfly.Principal, target mayfly.PrincipalStatus, reason string) error {
	why, err := s.cfg.Identity.Indispensable(ctx, p, target == mayfly.Offboarded)
	if err != nil || why == "" {
		return err
	}
	return s.askAdmin(ctx, p, target, reason, why)
}

// guarded is err, unless it is identity.Guard's refusal of a change made
// at the same time as another: then an administrator is asked, as guard
// does.
func (s *Service) guarded(ctx context.Context, p *mayfly.Principal, target mayfly.PrincipalStatus, reason string, err error) error {
	var me *mayfly.Error
	if !errors.As(err, &me) || me.Op != identity.OpGuard {
		return err
	}
	why, err := s.cfg.Identity.Indispensable(ctx, p, target == mayfly.Offboarded)
	if err != nil {
		return err
	}
	if why == "" {
		why = me.Msg
	}
	return s.askAdmin(ctx, p, target, reason, why)
}

// askAdmin records the change as waiting for an administrator, and refuses
// it for now.
func (s *Service) askAdmin(ctx context.Context, p *mayfly.Principal, target mayfly.PrincipalStatus, reason, why string) error {
	kind, verb := mayfly.PendingSuspend, "suspending"
	if target == mayfly.Offboarded {
		kind, verb = mayfly.PendingOffboard, "offboarding"
	}
	a, _, err := s.cfg.Pending.Request(ctx, pending.Request{Kind: kind, Subject: p.ID, Params: map[string]string{"reason": reason}, Why: why})
	if err != nil {
		return err
	}
	return refuse("", mayfly.PermissionDenied, "%s; %s them through SCIM needs an administrator's confirmation, which pending action %s waits for (mayfly pending approve %s)",
		why, verb, a.ID, a.ID)
}
