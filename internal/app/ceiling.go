package app

import (
	"context"
	"fmt"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/pending"
)

// Raising the key lifetime ceiling is one of the changes that could
// recreate the incident, so above the default it needs a second person.
// The flag says what this process asks for; the store keeps the highest
// ceiling approved, for every replica; a process runs at the lower of the
// two.

// CeilingSetting keeps the highest key lifetime ceiling approved.
const CeilingSetting = "keys.ceiling"

// approvedCeiling is the highest ceiling approved so far: the default if
// none above it was.
func approvedCeiling(ctx context.Context, st mayfly.SettingStore) (time.Duration, error) {
	b, err := st.Setting(ctx, CeilingSetting)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return mayfly.KeyLifetimeCeiling, nil
	}
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(string(b))
	if err != nil {
		return 0, fmt.Errorf("setting %s: %w", CeilingSetting, err)
	}
	return max(d, mayfly.KeyLifetimeCeiling), nil
}

// applyCeiling runs the key service at the flag's ceiling, but no higher
// than approved; after a change of settings, another replica's approval.
func (s *App) applyCeiling(ctx context.Context) error {
	approved, err := approvedCeiling(ctx, s.store)
	if err != nil {
		return err
	}
	s.Keys.SetCeiling(min(s.cfg.KeyLifetimeCeiling, approved))
	return nil
}

// raiseCeiling asks for the ceiling the flag sets, if that is above what
// was approved, as the operator who started the server: it needs someone
// else's approval once two people hold admin credentials.
func (s *App) raiseCeiling(ctx context.Context) error {
	approved, err := approvedCeiling(ctx, s.store)
	if err != nil || s.cfg.KeyLifetimeCeiling <= approved {
		return err
	}
	want := s.cfg.KeyLifetimeCeiling.String()
	a, carried, err := s.Pending.TwoPerson(ctx, pending.Request{Kind: mayfly.PendingCeiling, Subject: want, Params: map[string]string{"ceiling": want},
		Why: fmt.Sprintf("signing keys could sign for %s, above the approved ceiling of %s", want, approved), Requester: s.operatorID})
	if err != nil {
		return err
	}
	if !carried {
		s.cfg.Log.Warn("the raised key lifetime ceiling waits for a second person; running at the approved one until then",
			"asked", want, "running", approved, "pending", a.ID, "approve", "mayfly pending approve "+a.ID)
	}
	return nil
}

// setCeiling carries out an approved raise: the new ceiling is kept for
// every replica, with its entry, and this process runs at it.
func (s *App) setCeiling(ctx context.Context, a *mayfly.PendingAction) (string, error) {
	d, err := time.ParseDuration(a.Params["ceiling"])
	if err != nil || d <= 0 || d > mayfly.KeyLifetimeOverrideLimit {
		return "", mayfly.Errorf(mayfly.Invalid, "pending action %s asks for a ceiling of %q, which is not between 0 and %s", a.ID, a.Params["ceiling"], mayfly.KeyLifetimeOverrideLimit)
	}
	// Held across replicas from the read to the write, so that two raises
	// carried out at once cannot lower each other.
	unlock, err := s.store.Lock(ctx, CeilingSetting)
	if err != nil {
		return "", err
	}
	defer unlock()
	approved, err := approvedCeiling(ctx, s.store)
	if err != nil {
		return "", err
	}
	if d > approved {
		err = s.Audit.Update(ctx, func(tx mayfly.Tx) error {
			if err := s.store.ReplaceSetting(tx, CeilingSetting, []byte(d.String())); err != nil {
				return err
			}
			_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionConfigOverride, Details: map[string]string{
				"setting": "key-lifetime-ceiling", "value": d.String(), "previous": approved.String(), "pending": a.ID}})
			return err
		})
		if err != nil {
			return "", err
		}
	}
	if err := s.applyCeiling(ctx); err != nil {
		return "", err
	}
	return "key lifetime ceiling raised to " + d.String(), nil
}
