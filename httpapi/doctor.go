package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/doctor"
)

// The inventory and policy report.

func (s *Server) doctorRoutes() {
	s.admin("GET /v1/doctor", reading, s.expensive("doctor report", s.doctor))
}

func (s *Server) doctor(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	if s.cfg.Doctor == nil {
		return mayfly.Errorf(mayfly.Unavailable, "this server was assembled without the doctor report")
	}
	opt, err := doctorOptions(r.URL.Query())
	if err != nil {
		return err
	}
	rep, err := s.cfg.Doctor.Report(r.Context(), opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// doctorOptions reads max_secret_age (90d or 2160h) and idle_days. Unknown
// parameters are refused: a misspelt one would otherwise run the report
// with the default and hide findings the caller asked for.
func doctorOptions(q url.Values) (doctor.Options, error) {
	var opt doctor.Options
	for name := range q {
		if !slices.Contains([]string{"max_secret_age", "idle_days"}, name) {
			return opt, mayfly.InvalidField(name, "unknown parameter %q; the report takes max_secret_age and idle_days", name)
		}
	}
	if v := q.Get("max_secret_age"); v != "" {
		d, err := mayfly.ParseAge(v)
		if err != nil {
			return opt, mayfly.InvalidField("max_secret_age", "max_secret_age: %v", err)
		}
		opt.MaxSecretAge = d
	}
	if v := q.Get("idle_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > mayfly.DoctorMaxDays {
			return opt, mayfly.InvalidField("idle_days", "idle_days %q is not a whole number of days between 1 and %d", v, mayfly.DoctorMaxDays)
		}
		opt.IdleDays = n
	}
	return opt, nil
}
