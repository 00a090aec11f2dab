package offboard

import (
	"context"
	"slices"

	"github.com/mayflyhq/mayfly"
)

// Plan is what offboarding a person would do if it ran now: the same rules
// the steps follow, read from the same stored state, and nothing changed.
type Plan struct {
	Principal   *mayfly.Principal
	Services    []*mayfly.Principal       // offboarded with the person
	Clients     []*mayfly.Client          // revoked: the person's and their services'
	Credentials []*mayfly.AdminCredential // revoked: owned, or their token shown to the person
	Rings       []string                  // rekeyed: the person had custody of them
	Secrets     []*mayfly.Client          // client secrets the person was shown, replaced
	RootKey     bool                      // the root key is replaced, and every ring rekeyed
}

// Preview works out what an offboarding of ref would revoke and replace
// now. A person already offboarded has a plan only of what a resumed run
// would still do; Preview does not judge the cutoff of earlier runs, so it
// may list a ring or secret that such a run finds already replaced.
func (s *Service) Preview(ctx context.Context, ref string) (*Plan, error) {
	cfg := s.cfg
	p, err := cfg.Identity.Fresh(ctx, ref)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Principal: p}
	// What the person and their services own, read by owner: a preview
	// is a page, and reads no more than one person's share.
	principals, clients, err := cfg.Identity.Owned(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	owners := map[string]bool{p.ID: true}
	for _, sp := range principals {
		if sp.Status != mayfly.Offboarded {
			plan.Services = append(plan.Services, sp)
			owners[sp.ID] = true
		}
	}
	for _, c := range clients {
		if owners[c.OwnerID] && !c.Revoked() && !cfg.Revoker.Revoked(mayfly.RevokeClient, c.ID) {
			plan.Clients = append(plan.Clients, c)
		}
	}
	w := &work{s: s, o: &mayfly.Offboarding{PrincipalID: p.ID}}
	if plan.Credentials, err = w.credentialsToRevoke(ctx); err != nil {
		return nil, err
	}
	custody, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: p.ID})
	if err != nil {
		return nil, err
	}
	var seen []string
	for _, c := range custody {
		switch c.Asset {
		case mayfly.AssetRing:
			if !slices.Contains(plan.Rings, c.AssetID) {
				plan.Rings = append(plan.Rings, c.AssetID)
			}
		case mayfly.AssetRootKey:
			plan.RootKey = true
		case mayfly.AssetClientSecret:
			if slices.Contains(seen, c.AssetID) {
				continue
			}
			seen = append(seen, c.AssetID)
			cl, err := cfg.Store.Client(ctx, c.AssetID)
			if mayfly.ErrorCode(err) == mayfly.NotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			if !cl.Revoked() && !cfg.Revoker.Revoked(mayfly.RevokeClient, cl.ID) && len(cl.SecretHash) > 0 {
				plan.Secrets = append(plan.Secrets, cl)
			}
		}
	}
	slices.Sort(plan.Rings)
	return plan, nil
}

// Steps names an offboarding's steps, in the order they run.
func Steps() []string { return slices.Clone(steps) }
