package httpapi

import (
	"context"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// The responses that show IDs name them too (see api/names.go). Each
// handler gathers every ID of its response and looks their names up in
// one call, never one per row.

func (s *Server) names(ctx context.Context, ids ...string) (map[string]string, error) {
	return s.cfg.Identity.Names(ctx, ids...)
}

// named makes the view of each item: ids adds the IDs an item shows to a
// list, their names are looked up in one call, and view makes the item's
// view with them.
func named[T, V any](s *Server, ctx context.Context, items []T, ids func([]string, T) []string, view func(T, map[string]string) V) ([]V, error) {
	var all []string
	for _, it := range items {
		all = ids(all, it)
	}
	names, err := s.names(ctx, all...)
	if err != nil {
		return nil, err
	}
	out := make([]V, 0, len(items))
	for _, it := range items {
		out = append(out, view(it, names))
	}
	return out, nil
}

func (s *Server) principalViews(ctx context.Context, ps ...*mayfly.Principal) ([]api.PrincipalView, error) {
	return named(s, ctx, ps, func(ids []string, p *mayfly.Principal) []string { return append(ids, p.OwnerID) },
		func(p *mayfly.Principal, n map[string]string) api.PrincipalView {
			return api.PrincipalView{Principal: *p, OwnerName: n[p.OwnerID]}
		})
}

func (s *Server) clientViews(ctx context.Context, cs ...*mayfly.Client) ([]api.ClientView, error) {
	return named(s, ctx, cs, func(ids []string, c *mayfly.Client) []string { return append(ids, c.OwnerID) },
		func(c *mayfly.Client, n map[string]string) api.ClientView {
			return api.ClientView{Client: c, OwnerName: n[c.OwnerID], Auth: c.AuthMethods()}
		})
}

// createdClient is a client with its owner's name and, once, its secret.
func (s *Server) createdClient(ctx context.Context, c *mayfly.Client, secret string) (*api.CreatedClient, error) {
	names, err := s.names(ctx, c.OwnerID)
	if err != nil {
		return nil, err
	}
	return &api.CreatedClient{Client: c, OwnerName: names[c.OwnerID], Auth: c.AuthMethods(), Secret: secret}, nil
}

func (s *Server) credentialViews(ctx context.Context, cs ...*mayfly.AdminCredential) ([]api.CredentialView, error) {
	return named(s, ctx, cs, func(ids []string, c *mayfly.AdminCredential) []string { return append(ids, c.OwnerID) },
		func(c *mayfly.AdminCredential, n map[string]string) api.CredentialView {
			return api.CredentialView{AdminCredential: *c, OwnerName: n[c.OwnerID]}
		})
}

// revocationView names what a revocation revoked, when that is a client or
// a principal: a key's ID and a token's jti name nothing else.
func (s *Server) revocationView(ctx context.Context, r *mayfly.Revocation) (*api.RevocationView, error) {
	v := &api.RevocationView{Revocation: *r}
	if r.Kind == mayfly.RevokeClient || r.Kind == mayfly.RevokePrincipal {
		names, err := s.names(ctx, r.Subject)
		if err != nil {
			return nil, err
		}
		v.SubjectName = names[r.Subject]
	}
	return v, nil
}

func (s *Server) issuanceViews(ctx context.Context, recs []mayfly.Issuance) ([]api.IssuanceView, error) {
	return named(s, ctx, recs, func(ids []string, r mayfly.Issuance) []string { return append(ids, r.ClientID, r.PrincipalID) },
		func(r mayfly.Issuance, n map[string]string) api.IssuanceView {
			return api.IssuanceView{Issuance: r, ClientName: n[r.ClientID], PrincipalName: n[r.PrincipalID]}
		})
}

// auditItems names each entry's actor, principal and client as they are
// now: the entries themselves are hashed into the log and never change.
func (s *Server) auditItems(ctx context.Context, recs []mayfly.AuditRecord) ([]api.AuditItem, error) {
	return named(s, ctx, recs, func(ids []string, rec mayfly.AuditRecord) []string {
		return append(ids, rec.Entry.Actor, rec.Entry.Principal, rec.Entry.Client)
	}, func(rec mayfly.AuditRecord, n map[string]string) api.AuditItem {
		e := rec.Entry
		return api.AuditItem{Entry: e, LeafHash: rec.LeafHash, ActorName: n[e.Actor], PrincipalName: n[e.Principal], ClientName: n[e.Client]}
	})
}

// custodyAssetID is the ID a custody record's asset has, if it has one
// that names something: a client's or a credential's. A ring is named by
// its name already.
func custodyAssetID(c *mayfly.Custody) string {
	if c.Asset == mayfly.AssetClientSecret || c.Asset == mayfly.AssetCredential {
		return c.AssetID
	}
	return ""
}

func (s *Server) custodyViews(ctx context.Context, cs []*mayfly.Custody) ([]api.CustodyView, error) {
	return named(s, ctx, cs, func(ids []string, c *mayfly.Custody) []string {
		return append(ids, c.PrincipalID, c.Actor, custodyAssetID(c))
	}, func(c *mayfly.Custody, n map[string]string) api.CustodyView {
		return api.CustodyView{Custody: *c, PrincipalName: n[c.PrincipalID], ActorName: n[c.Actor], AssetName: n[custodyAssetID(c)]}
	})
}

func (s *Server) offboardingViews(ctx context.Context, runs ...*mayfly.Offboarding) ([]api.OffboardingView, error) {
	return named(s, ctx, runs, func(ids []string, o *mayfly.Offboarding) []string {
		ids = append(ids, o.PrincipalID, o.TransferTo, o.Actor)
		for _, ac := range o.Actions {
			ids = append(ids, ac.Subject)
		}
		return ids
	}, func(o *mayfly.Offboarding, n map[string]string) api.OffboardingView {
		v := api.OffboardingView{Offboarding: *o, PrincipalName: n[o.PrincipalID], TransferToName: n[o.TransferTo],
			ActorName: n[o.Actor], Actions: make([]api.OffboardActionView, 0, len(o.Actions))}
		for _, ac := range o.Actions {
			v.Actions = append(v.Actions, api.OffboardActionView{OffboardAction: ac, SubjectName: n[ac.Subject]})
		}
		return v
	})
}

func (s *Server) pendingViews(ctx context.Context, ps ...*mayfly.PendingAction) ([]api.PendingView, error) {
	return named(s, ctx, ps, func(ids []string, p *mayfly.PendingAction) []string {
		return append(ids, p.Subject, p.RequestedBy, p.Requester, p.DecidedBy, p.Decider)
	}, func(p *mayfly.PendingAction, n map[string]string) api.PendingView {
		return api.PendingView{PendingAction: *p, SubjectName: n[p.Subject], RequestedByName: n[p.RequestedBy],
			RequesterName: n[p.Requester], DecidedByName: n[p.DecidedBy], DeciderName: n[p.Decider]}
	})
}

// one returns the only view of a list of one, for the handlers that show
// a single object.
func one[T any](vs []T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &vs[0], nil
}
