package httpapi

import (
	"context"
	"net/http"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// Pending actions: what waits for an administrator's decision.

func (s *Server) pendingRoutes() {
	s.admin("GET /v1/pending", reading, s.listPending)
	s.admin("GET /v1/pending/{id}", reading, s.showPending)
	s.admin("POST /v1/pending/{id}/approve", adminOnly, s.approvePending)
	s.admin("POST /v1/pending/{id}/reject", adminOnly, s.rejectPending)
}

func (s *Server) listPending(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f := mayfly.PendingFilter{Status: mayfly.PendingStatus(q.Get("status")), Kind: mayfly.PendingKind(q.Get("kind")), Subject: q.Get("subject")}
	list, err := s.cfg.Pending.List(r.Context(), f)
	if err != nil {
		return err
	}
	vs, err := s.pendingViews(r.Context(), list...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) showPending(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	p, err := s.cfg.Pending.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := one(s.pendingViews(r.Context(), p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// decisionReason reads the optional reason of a decision.
func decisionReason(r *http.Request) (string, error) {
	var req api.DecisionRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return "", err
		}
	}
	return req.Reason, nil
}

func (s *Server) approvePending(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	return s.decide(w, r, s.cfg.Pending.Approve)
}

func (s *Server) rejectPending(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	return s.decide(w, r, s.cfg.Pending.Reject)
}

// decide makes a decision on the pending action the path names, with the
// request's reason, and answers with the action as it then stands.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, decision func(ctx context.Context, id, reason string) (*mayfly.PendingAction, error)) error {
	reason, err := decisionReason(r)
	if err != nil {
		return err
	}
	p, err := decision(r.Context(), r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	v, err := one(s.pendingViews(r.Context(), p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
