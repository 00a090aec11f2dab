package httpapi

import (
	"net/http"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/offboard"
)

// Statuses, offboarding, custody, credentials and client secrets.

func (s *Server) peopleRoutes() {
	s.admin("POST /v1/principals/{ref}/suspend", responding, s.suspendPrincipal)
	s.admin("POST /v1/principals/{ref}/reactivate", adminOnly, s.reactivatePrincipal)
	s.admin("POST /v1/principals/{ref}/offboard", responding, s.offboardPrincipal)
	s.admin("GET /v1/principals/{ref}/offboardings", reading, s.listOffboardings)
	s.admin("POST /v1/custody", adminOnly, s.grantCustody)
	s.admin("GET /v1/custody", reading, s.listCustody)
	s.admin("POST /v1/clients/{id}/rotate-secret", responding, s.rotateSecret)
	s.admin("POST /v1/credentials", adminOnly, s.createCredential)
	s.admin("GET /v1/credentials", reading, s.listCredentials)
	s.admin("POST /v1/credentials/{id}/revoke", responding, s.revokeCredential)
}

func (s *Server) suspendPrincipal(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	return s.setStatus(w, r, a, mayfly.Suspended)
}

func (s *Server) reactivatePrincipal(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	return s.setStatus(w, r, a, mayfly.Active)
}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential, status mayfly.PrincipalStatus) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	p, err := s.cfg.Identity.SetStatus(r.Context(), r.PathValue("ref"), status, reason)
	if err != nil {
		return err
	}
	v, err := one(s.principalViews(r.Context(), p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) offboardPrincipal(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.OffboardRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	o, err := s.cfg.Offboard.Offboard(r.Context(), r.PathValue("ref"), offboard.Options{Reason: req.Reason, TransferTo: req.TransferTo})
	if err != nil {
		return err
	}
	v, err := one(s.offboardingViews(r.Context(), o))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listOffboardings(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	p, err := s.cfg.Identity.Principal(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	runs, err := s.cfg.Offboard.Runs(r.Context(), p.ID)
	if err != nil {
		return err
	}
	vs, err := s.offboardingViews(r.Context(), runs...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) grantCustody(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.CustodyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	asset, id, err := custodyAsset(req.Ring, req.Client, req.RootKey)
	if err != nil {
		return err
	}
	if req.Kind == "" {
		req.Kind = mayfly.CustodyGranted
	}
	c, pa, err := s.cfg.Pending.GrantCustody(r.Context(), req.Principal, asset, id, req.Kind, req.Reason)
	if err != nil {
		return err
	}
	out := api.GrantedCustody{Custody: c, Pending: pa}
	st := http.StatusCreated
	if c == nil {
		st = http.StatusAccepted // waits for a second person
	} else {
		v, err := one(s.custodyViews(r.Context(), []*mayfly.Custody{c}))
		if err != nil {
			return err
		}
		out.PrincipalName, out.ActorName, out.AssetName = v.PrincipalName, v.ActorName, v.AssetName
	}
	writeJSON(w, st, out)
	return nil
}

func custodyAsset(ring, client string, root bool) (mayfly.Asset, string, error) {
	n := 0
	for _, set := range []bool{ring != "", client != "", root} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return "", "", mayfly.InvalidField("asset", "name exactly one of ring, client and root_key")
	case ring != "":
		return mayfly.AssetRing, ring, nil
	case client != "":
		return mayfly.AssetClientSecret, client, nil
	}
	return mayfly.AssetRootKey, mayfly.RootKeyAsset, nil
}

func (s *Server) listCustody(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f := mayfly.CustodyFilter{PrincipalID: q.Get("principal")}
	if q.Has("ring") || q.Has("client") || q.Has("root_key") {
		var err error
		if f.Asset, f.AssetID, err = custodyAsset(q.Get("ring"), q.Get("client"), q.Has("root_key")); err != nil {
			return err
		}
	}
	cs, err := s.cfg.Identity.Custody(r.Context(), f)
	if err != nil {
		return err
	}
	vs, err := s.custodyViews(r.Context(), cs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	c, secret, err := s.cfg.Identity.RotateClientSecret(r.Context(), r.PathValue("id"), reason, true)
	if err != nil {
		return err
	}
	v, err := s.createdClient(r.Context(), c, secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.CredentialRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	c, token, pa, err := s.cfg.Pending.NewCredential(r.Context(), identity.CredentialSpec{Name: req.Name, Role: req.Role, Owner: req.Owner})
	if err != nil {
		return err
	}
	st := http.StatusCreated
	if pa != nil && pa.Status == mayfly.Pending {
		st = http.StatusAccepted // the token works once a second person approves
	}
	names, err := s.names(r.Context(), c.OwnerID)
	if err != nil {
		return err
	}
	writeJSON(w, st, api.CreatedCredential{AdminCredential: c, OwnerName: names[c.OwnerID], Token: token, Pending: pa})
	return nil
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	cs, err := s.cfg.Identity.AdminCredentials(r.Context())
	if err != nil {
		return err
	}
	vs, err := s.credentialViews(r.Context(), cs...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	if err := s.cfg.Identity.RevokeAdminCredential(r.Context(), r.PathValue("id"), reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
