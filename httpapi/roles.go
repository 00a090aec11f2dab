package httpapi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mayflyhq/mayfly"
)

// Who may call what. Every route that takes an admin credential names,
// where it is registered, the roles besides admin that may call it: admin
// may call them all, and a SCIM credential none. Routes lists them; a test
// checks every role against every route over HTTP.

// access is the roles besides admin that may call a route.
type access []mayfly.Role

var (
	adminOnly   = access{}
	reading     = access{mayfly.RoleAuditor, mayfly.RoleResponder}                       // what is: people, clients, tokens, the log
	keyReading  = access{mayfly.RoleAuditor, mayfly.RoleResponder, mayfly.RoleRingAdmin} // rings and keys
	responding  = access{mayfly.RoleResponder}                                           // containment
	ringAdmin   = access{mayfly.RoleRingAdmin}                                           // changing rings
	keyRevoking = access{mayfly.RoleRingAdmin, mayfly.RoleResponder}                     // a compromised key
)

func (a access) allows(r mayfly.Role) bool { return r == mayfly.RoleAdmin || slices.Contains(a, r) }

// roles lists every role a allows, admin first.
func (a access) roles() []mayfly.Role {
	return append([]mayfly.Role{mayfly.RoleAdmin}, a...)
}

// denial says why a credential of role may not call pattern.
func (a access) denial(role mayfly.Role, pattern string) string {
	if role == mayfly.RoleSCIM {
		return "a SCIM credential may only provision users, at /scim/v2"
	}
	var names []string
	for _, r := range a.roles() {
		names = append(names, string(r))
	}
	return fmt.Sprintf("a credential of role %s may not call %s; it needs the role %s", role, pattern, strings.Join(names, " or "))
}

// Route is a route that takes an admin credential, and the roles that may
// call it with one.
type Route struct {
	Pattern string        `json:"route"`
	Roles   []mayfly.Role `json:"roles"`
}

// declare records who may call pattern.
func (s *Server) declare(pattern string, a access) {
	s.routes = append(s.routes, Route{Pattern: pattern, Roles: a.roles()})
}

// Routes lists every route that takes an admin credential, in the order
// registered, with the roles that may call it.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }
