package httpapi

import (
	"net/http"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// Subjects (such as customers) have no rows to list or show: only their
// revocations, which log them out.
func (s *Server) subjectRoutes() {
	s.admin("POST /v1/subjects/{subject}/revoke", responding, s.revokeSubject)
	s.admin("POST /v1/subjects/revoke", responding, s.revokeNamespace)
}

func (s *Server) revokeSubject(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	reason, err := revokeReason(r, a)
	if err != nil {
		return err
	}
	rev, err := s.cfg.Identity.RevokeSubject(r.Context(), r.PathValue("subject"), reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &api.RevocationView{Revocation: *rev})
	return nil
}

func (s *Server) revokeNamespace(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req api.NamespaceRevokeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = "revoked by admin " + a.Name
	}
	rev, err := s.cfg.Identity.RevokeNamespace(r.Context(), req.Namespace, req.Before, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &api.RevocationView{Revocation: *rev})
	return nil
}
