package app

import (
	"context"
	"slices"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/offboard"
	"github.com/mayflyhq/mayfly/internal/pending"
)

// registerPending says how each kind of pending action is carried out once
// approved. Each handler is idempotent: an approved action whose outcome
// was not recorded is handled again.
func (s *App) registerPending() {
	s.Pending.Register(mayfly.PendingCeiling, pending.Kind{TwoPerson: true, Handle: s.setCeiling})
	s.Pending.Register(mayfly.PendingSuspend, pending.Kind{Handle: func(ctx context.Context, a *mayfly.PendingAction) (string, error) {
		p, err := s.Identity.SetStatus(ctx, a.Subject, mayfly.Suspended, a.Params["reason"])
		if err != nil {
			return "", err
		}
		return "principal " + p.Name + " suspended", nil
	}})
	s.Pending.Register(mayfly.PendingOffboard, pending.Kind{Handle: func(ctx context.Context, a *mayfly.PendingAction) (string, error) {
		p, err := s.Identity.Fresh(ctx, a.Subject)
		if err != nil {
			return "", err
		}
		if p.Status == mayfly.Offboarded {
			runs, err := s.Offboard.Runs(ctx, p.ID)
			if err != nil {
				return "", err
			}
			if !slices.ContainsFunc(runs, func(o *mayfly.Offboarding) bool { return !o.Finished() }) {
				return "principal " + p.Name + " was offboarded already", nil
			}
		}
		o, err := s.Offboard.Offboard(ctx, p.ID, offboard.Options{Reason: a.Params["reason"]})
		if err != nil {
			return "", err
		}
		return "principal " + p.Name + " offboarded by run " + o.ID, nil
	}})
}
