package httpapi

import (
	"net/http"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// The scope routes: what a query's tokens read, exactly. A scope reads
// the whole window's buckets, so it runs within the bound on expensive
// requests.
func (s *Server) scopeRoutes() {
	if s.cfg.Scope == nil {
		return
	}
	s.admin("POST "+api.ScopePath, reading, s.expensive("scope", s.scope))
	s.admin("POST "+api.ScopeReportPath, reading, s.expensive("scope report", s.scopeReport))
}

func (s *Server) scopeReport(w http.ResponseWriter, r *http.Request, _ *mayfly.AdminCredential) error {
	var q mayfly.ScopeQuery
	if err := decode(r, &q); err != nil {
		return err
	}
	rep, err := s.cfg.Scope.Report(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) scope(w http.ResponseWriter, r *http.Request, _ *mayfly.AdminCredential) error {
	var q mayfly.ScopeQuery
	if err := decode(r, &q); err != nil {
		return err
	}
	a, err := s.cfg.Scope.Run(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}
