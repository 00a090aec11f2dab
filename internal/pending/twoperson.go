package pending

import (
	"context"
	"slices"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
)

// The changes that could recreate the incident, which need a second
// person: an admin credential of role admin, and custody of the root key.
// The third, raising the key lifetime ceiling, is asked for by the
// server's start (package app).

// NewCredential makes a credential. One of role admin for someone else
// needs a second person: its token is returned now, to the caller alone,
// and works once the credential exists, when a second person has approved
// it (or at once, unapproved, while fewer than two people hold admin
// credentials). The waiting action keeps the token's hash, never the
// token. An administrator making one for themselves needs no one: it
// gives no one a power they did not have, and it is how a person handed
// a credential replaces it with one only they have seen.
func (s *Service) NewCredential(ctx context.Context, spec identity.CredentialSpec) (*mayfly.AdminCredential, string, *mayfly.PendingAction, error) {
	if spec.Role != "" && spec.Role != mayfly.RoleAdmin {
		a, secret, err := s.cfg.Identity.NewCredential(ctx, spec)
		return a, secret, nil, err
	}
	a, secret, err := s.cfg.Identity.PrepareCredential(ctx, spec)
	if err != nil {
		return nil, "", nil, err
	}
	if c := identity.Caller(ctx); c != nil && c.Role == mayfly.RoleAdmin && c.OwnerID != "" && c.OwnerID == a.OwnerID {
		return a, secret, nil, s.cfg.Identity.SaveCredential(ctx, a, c.OwnerID, c.ID)
	}
	pa, _, err := s.TwoPerson(ctx, Request{Kind: mayfly.PendingAdminCredential, Subject: a.ID,
		Params: map[string]string{"name": a.Name, "role": string(a.Role), "owner": a.OwnerID},
		Why:    "a credential of role admin can do everything an administrator can", Material: a.Hash})
	if err != nil {
		return nil, "", pa, err
	}
	return a, secret, pa, nil
}

// createCredential makes the credential an approved action describes, as
// its requester asked for it.
func (s *Service) createCredential(ctx context.Context, pa *mayfly.PendingAction) (string, error) {
	if len(pa.Material) == 0 {
		return "", mayfly.Errorf(mayfly.Internal, "pending action %s holds no token hash", pa.ID)
	}
	creds, err := s.cfg.Identity.AdminCredentials(ctx)
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(creds, func(a *mayfly.AdminCredential) bool { return a.ID == pa.Subject }) {
		return "credential " + pa.Subject + " exists already", nil
	}
	// Its token was shown to whoever asked: it must not come to work for
	// someone who has left since.
	if pa.Requester != "" {
		p, err := s.cfg.Identity.Fresh(ctx, pa.Requester)
		if err != nil {
			return "", err
		}
		if p.Status != mayfly.Active {
			return "", mayfly.Errorf(mayfly.Conflict, "%s, who asked for credential %s and was shown its token, is %s; ask again for someone active", p.Name, pa.Subject, p.Status)
		}
	}
	a := &mayfly.AdminCredential{ID: pa.Subject, Name: pa.Params["name"], Role: mayfly.Role(pa.Params["role"]), OwnerID: pa.Params["owner"],
		Hash: pa.Material, CreatedAt: s.cfg.Clock.Now().UTC()}
	// The requester was shown the token when they asked.
	if err := s.cfg.Identity.SaveCredential(ctx, a, pa.Requester, pa.RequestedBy); err != nil {
		return "", err
	}
	return "credential " + a.ID + " (" + a.Name + ") created", nil
}

// GrantCustody records custody. Custody of the root key needs a second
// person: the record is made once one approves (or at once, unapproved,
// while fewer than two people hold admin credentials), and the action is
// returned instead.
func (s *Service) GrantCustody(ctx context.Context, ref string, asset mayfly.Asset, assetID string, kind mayfly.CustodyKind, reason string) (*mayfly.Custody, *mayfly.PendingAction, error) {
	if asset != mayfly.AssetRootKey {
		c, err := s.cfg.Identity.GrantCustody(ctx, ref, asset, assetID, kind, reason)
		return c, nil, err
	}
	p, err := s.cfg.Identity.Fresh(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if !kind.Valid() {
		return nil, nil, mayfly.InvalidField("kind", "custody kind %q is not one of created, shown, admin, operator, break_glass, granted", kind)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, nil, mayfly.InvalidField("reason", "custody needs a reason")
	}
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, nil, err
	}
	pa, carried, err := s.TwoPerson(ctx, Request{Kind: mayfly.PendingRootCustody, Subject: p.ID,
		Params: map[string]string{"kind": string(kind), "reason": reason},
		Why:    "custody of the root key can unseal every signing key"})
	if err != nil || !carried {
		return nil, pa, err
	}
	c, err := s.rootCustody(ctx, pa)
	return c, pa, err
}

// grantRootCustody records the custody an approved action describes,
// unless a record of it exists.
func (s *Service) grantRootCustody(ctx context.Context, pa *mayfly.PendingAction) (string, error) {
	if c, err := s.rootCustody(ctx, pa); err != nil || c != nil {
		return "custody recorded already", err
	}
	c, err := s.cfg.Identity.GrantCustody(ctx, pa.Subject, mayfly.AssetRootKey, mayfly.RootKeyAsset, mayfly.CustodyKind(pa.Params["kind"]),
		pa.Params["reason"]+" (pending action "+pa.ID+")")
	if err != nil {
		return "", err
	}
	return "custody of the root key recorded for " + c.PrincipalID, nil
}

// rootCustody finds the record an action made, if it made one.
func (s *Service) rootCustody(ctx context.Context, pa *mayfly.PendingAction) (*mayfly.Custody, error) {
	recs, err := s.cfg.Identity.Custody(ctx, mayfly.CustodyFilter{PrincipalID: pa.Subject, Asset: mayfly.AssetRootKey})
	if err != nil {
		return nil, err
	}
	for _, c := range recs {
		if strings.HasSuffix(c.Reason, "(pending action "+pa.ID+")") {
			return c, nil
		}
	}
	return nil, nil
}

// Outstanding lists what person asked for that is not carried out: what
// waits for a decision, and what was decided but not done.
func (s *Service) Outstanding(ctx context.Context, person string) ([]*mayfly.PendingAction, error) {
	acts, err := s.cfg.Store.PendingActions(ctx, mayfly.PendingFilter{})
	if err != nil {
		return nil, err
	}
	var out []*mayfly.PendingAction
	for _, a := range acts {
		if a.Requester == person && a.DoneAt.IsZero() && a.Status != mayfly.Rejected {
			out = append(out, a)
		}
	}
	return out, nil
}

// Withdraw saves a, in tx, as rejected by the service for reason: for a
// workflow that withdraws it with other changes and records the entry.
func (s *Service) Withdraw(tx mayfly.Tx, a *mayfly.PendingAction, reason string) error {
	next := *a
	next.Status, next.DecidedBy, next.Decider, next.DecidedAt, next.Reason = mayfly.Rejected, "mayfly", "", s.cfg.Clock.Now().UTC(), reason
	return s.cfg.Store.UpdatePending(tx, &next)
}
