package httpapi

import (
	"net/http"
	"strconv"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func (s *Server) auditRoutes() {
	s.admin("GET /v1/audit", reading, s.expensive("audit search", s.auditSearch))
	s.admin("GET /v1/audit/{index}", reading, s.auditShow)
	s.admin("POST /v1/audit/verify", reading, noBody(s.expensive("audit verification", s.auditVerify)))
	s.admin("GET /v1/audit/proof/{index}", reading, s.auditProof)
	s.admin("GET /v1/audit/consistency", reading, s.auditConsistency)
	s.admin("GET /v1/audit/export", reading, s.expensive("audit export", s.auditExport))
	s.admin("GET /v1/audit/checkpoint", reading, s.auditCheckpoint)
	s.admin("GET /v1/audit/key", reading, s.auditKey)
	s.admin("POST /v1/audit/key/rotate", adminOnly, noBody(s.auditRotateKey))
}

func uintParam(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, mayfly.InvalidField(name, "%s %q is not a non-negative number", name, v)
	}
	return n, nil
}

func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f := mayfly.AuditFilter{Action: mayfly.Action(q.Get("action")), Principal: q.Get("principal"), Client: q.Get("client"), KID: q.Get("kid"), Newest: q.Get("newest") == "true"}
	var err error
	if f.From, err = uintParam(r, "from", 0); err != nil {
		return err
	}
	limit, err := uintParam(r, "limit", 100)
	if err != nil {
		return err
	}
	f.Limit = int(min(limit, 10000))
	if f.Since, err = timeParam(q.Get("since")); err != nil {
		return mayfly.InvalidField("since", "since: %v", err)
	}
	if f.Until, err = timeParam(q.Get("until")); err != nil {
		return mayfly.InvalidField("until", "until: %v", err)
	}
	recs, err := s.cfg.Audit.Search(r.Context(), f)
	if err != nil {
		return err
	}
	out, err := s.auditItems(r.Context(), recs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// entryAt returns the entry the {index} path value names.
func (s *Server) entryAt(r *http.Request) (*mayfly.AuditRecord, error) {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		return nil, mayfly.InvalidField("index", "index %q is not a non-negative number", r.PathValue("index"))
	}
	recs, err := s.cfg.Audit.Search(r.Context(), mayfly.AuditFilter{From: idx, To: idx + 1})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, mayfly.Errorf(mayfly.NotFound, "no audit entry %d", idx)
	}
	return &recs[0], nil
}

func (s *Server) auditShow(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	rec, err := s.entryAt(r)
	if err != nil {
		return err
	}
	it, err := one(s.auditItems(r.Context(), []mayfly.AuditRecord{*rec}))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, it)
	return nil
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	rep, err := s.cfg.Audit.Verify(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) auditProof(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	rec, err := s.entryAt(r)
	if err != nil {
		return err
	}
	cp, err := s.cfg.Audit.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	out := api.InclusionProof{Index: rec.Index, Size: cp.Size, Checkpoint: cp.Note, LeafHash: rec.LeafHash}
	if out.Size, err = uintParam(r, "size", cp.Size); err != nil {
		return err
	}
	if out.Size != cp.Size {
		out.Checkpoint = ""
	}
	if out.Proof, err = s.cfg.Audit.Inclusion(r.Context(), rec.Index, out.Size); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var out api.ConsistencyProof
	var err error
	if out.Old, err = uintParam(r, "old", 0); err != nil {
		return err
	}
	if out.New, err = uintParam(r, "new", s.cfg.Audit.Size()); err != nil {
		return err
	}
	if out.Proof, err = s.cfg.Audit.Consistency(r.Context(), out.Old, out.New); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	from, err := timeParam(r.URL.Query().Get("from"))
	if err != nil {
		return mayfly.InvalidField("from", "from: %v", err)
	}
	to, err := timeParam(r.URL.Query().Get("to"))
	if err != nil {
		return mayfly.InvalidField("to", "to: %v", err)
	}
	b, err := s.cfg.Audit.Export(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	cp, err := s.cfg.Audit.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	if cp == nil {
		return mayfly.Errorf(mayfly.NotFound, "the audit log is empty")
	}
	writeJSON(w, http.StatusOK, cp)
	return nil
}

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	writeJSON(w, http.StatusOK, api.LogKey{Origin: s.cfg.Audit.Origin(), VerifierKey: s.cfg.Audit.VerifierKey()})
	return nil
}

func (s *Server) auditRotateKey(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	vkey, err := s.cfg.Audit.RotateKey(r.Context(), nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.LogKey{Origin: s.cfg.Audit.Origin(), VerifierKey: vkey})
	return nil
}
