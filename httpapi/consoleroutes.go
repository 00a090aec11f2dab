package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi/console"
)

// The web console (package console), mounted at /console. It follows the
// admin API's role table: a console action is allowed to the roles that
// may call the API route it stands for.

func (s *Server) consoleRoutes() {
	var alerts = s.cfg.Alerts
	c, err := console.New(console.Config{
		Keys: s.cfg.Keys, Identity: s.cfg.Identity, Token: s.cfg.Token, Audit: s.cfg.Audit, Offboard: s.cfg.Offboard,
		Revoker: s.cfg.Revoker, Doctor: s.cfg.Doctor, Alerts: alerts, Clock: s.cfg.Clock, Log: s.cfg.Log,
		Allows: s.Allows, Guard: s.guardAdmin, SourceIP: s.sourceIP, HTTPS: strings.HasPrefix(s.cfg.Issuer, "https://"),
		Rules: s.cfg.Rules, Subscribers: s.Subscribers, Reporters: s.Reporters, Closing: s.closing,
	})
	if err != nil {
		panic("console: " + err.Error()) // its templates and messages are embedded: a test finds this
	}
	s.mux.Handle(console.Path, c)
	s.mux.Handle(console.Path+"/", c)
}

// Allows reports whether a credential of role may call the admin API
// route pattern.
func (s *Server) Allows(pattern string, role mayfly.Role) bool {
	if role == mayfly.RoleSCIM {
		return false
	}
	for _, r := range s.routes {
		if r.Pattern == pattern {
			return slices.Contains(r.Roles, role)
		}
	}
	return false
}

var _ http.Handler = (*console.Handler)(nil)
