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

func (s *Server) principalViews(ctx context.Context, ps ...*mayfly.Principal) ([]api.PrincipalView, error) {
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.OwnerID)
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.PrincipalView, 0, len(ps))
	for _, p := range ps {
		out = append(out, api.PrincipalView{Principal: *p, OwnerName: names[p.OwnerID]})
	}
	return out, nil
}

func (s *Server) clientViews(ctx context.Context, cs ...*mayfly.Client) ([]api.ClientView, error) {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.OwnerID)
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.ClientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, api.ClientView{Client: c, OwnerName: names[c.OwnerID]})
	}
	return out, nil
}

// createdClient is a client with its owner's name and, once, its secret.
func (s *Server) createdClient(ctx context.Context, c *mayfly.Client, secret string) (*api.CreatedClient, error) {
	names, err := s.names(ctx, c.OwnerID)
	if err != nil {
		return nil, err
	}
	return &api.CreatedClient{Client: c, OwnerName: names[c.OwnerID], Secret: secret}, nil
}

func (s *Server) credentialViews(ctx context.Context, cs ...*mayfly.AdminCredential) ([]api.CredentialView, error) {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.OwnerID)
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.CredentialView, 0, len(cs))
	for _, c := range cs {
		out = append(out, api.CredentialView{AdminCredential: *c, OwnerName: names[c.OwnerID]})
	}
	return out, nil
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
	ids := make([]string, 0, 2*len(recs))
	for _, r := range recs {
		ids = append(ids, r.ClientID, r.PrincipalID)
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.IssuanceView, 0, len(recs))
	for _, r := range recs {
		out = append(out, api.IssuanceView{Issuance: r, ClientName: names[r.ClientID], PrincipalName: names[r.PrincipalID]})
	}
	return out, nil
}

// auditItems names each entry's actor, principal and client as they are
// now: the entries themselves are hashed into the log and never change.
func (s *Server) auditItems(ctx context.Context, recs []mayfly.AuditRecord) ([]api.AuditItem, error) {
	ids := make([]string, 0, 3*len(recs))
	for _, rec := range recs {
		ids = append(ids, rec.Entry.Actor, rec.Entry.Principal, rec.Entry.Client)
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.AuditItem, 0, len(recs))
	for _, rec := range recs {
		e := rec.Entry
		out = append(out, api.AuditItem{Entry: e, LeafHash: rec.LeafHash,
			ActorName: names[e.Actor], PrincipalName: names[e.Principal], ClientName: names[e.Client]})
	}
	return out, nil
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
	ids := make([]string, 0, 3*len(cs))
	for _, c := range cs {
		ids = append(ids, c.PrincipalID, c.Actor, custodyAssetID(c))
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.CustodyView, 0, len(cs))
	for _, c := range cs {
		out = append(out, api.CustodyView{Custody: *c, PrincipalName: names[c.PrincipalID], ActorName: names[c.Actor], AssetName: names[custodyAssetID(c)]})
	}
	return out, nil
}

func (s *Server) offboardingViews(ctx context.Context, runs ...*mayfly.Offboarding) ([]api.OffboardingView, error) {
	var ids []string
	for _, o := range runs {
		ids = append(ids, o.PrincipalID, o.TransferTo, o.Actor)
		for _, ac := range o.Actions {
			ids = append(ids, ac.Subject)
		}
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.OffboardingView, 0, len(runs))
	for _, o := range runs {
		v := api.OffboardingView{Offboarding: *o, PrincipalName: names[o.PrincipalID], TransferToName: names[o.TransferTo],
			ActorName: names[o.Actor], Actions: make([]api.OffboardActionView, 0, len(o.Actions))}
		for _, ac := range o.Actions {
			v.Actions = append(v.Actions, api.OffboardActionView{OffboardAction: ac, SubjectName: names[ac.Subject]})
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) pendingViews(ctx context.Context, ps ...*mayfly.PendingAction) ([]api.PendingView, error) {
	ids := make([]string, 0, 5*len(ps))
	for _, p := range ps {
		ids = append(ids, p.Subject, p.RequestedBy, p.Requester, p.DecidedBy, p.Decider)
	}
	names, err := s.names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]api.PendingView, 0, len(ps))
	for _, p := range ps {
		out = append(out, api.PendingView{PendingAction: *p, SubjectName: names[p.Subject], RequestedByName: names[p.RequestedBy],
			RequesterName: names[p.Requester], DecidedByName: names[p.DecidedBy], DeciderName: names[p.Decider]})
	}
	return out, nil
}

// one returns the only view of a list of one, for the handlers that show
// a single object.
func one[T any](vs []T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &vs[0], nil
}
