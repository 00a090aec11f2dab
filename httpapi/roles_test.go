package httpapi_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// The role matrix, written out by hand: which roles besides admin may call
// each route that takes an admin credential. A route the server declares
// that is not here, or declares otherwise, fails TestRoleMatrix.
const (
	ring = mayfly.RoleRingAdmin
	resp = mayfly.RoleResponder
	aud  = mayfly.RoleAuditor
)

var roleMatrix = map[string][]mayfly.Role{
	"POST /v1/principals":                   nil,
	"GET /v1/principals":                    {aud, resp},
	"GET /v1/principals/{ref}":              {aud, resp},
	"POST /v1/clients":                      nil,
	"GET /v1/clients":                       {aud, resp},
	"GET /v1/clients/{id}":                  {aud, resp},
	"POST /v1/clients/{id}/revoke":          {resp},
	"POST /v1/clients/{id}/rotate-secret":   {resp},
	"POST /v1/rings":                        {ring},
	"GET /v1/rings":                         {aud, resp, ring},
	"GET /v1/rings/{name}":                  {aud, resp, ring},
	"POST /v1/rings/{name}/rotate":          {ring},
	"GET /v1/keys":                          {aud, resp, ring},
	"GET /v1/keys/{kid}":                    {aud, resp, ring},
	"POST /v1/keys/{kid}/revoke":            {resp, ring},
	"GET /v1/tokens":                        {aud, resp},
	"POST /v1/tokens/{jti}/revoke":          {resp},
	"POST /v1/subjects/{subject}/revoke":    {resp},
	"POST /v1/subjects/revoke":              {resp},
	"POST /v1/principals/{ref}/suspend":     {resp},
	"POST /v1/principals/{ref}/reactivate":  nil,
	"POST /v1/principals/{ref}/offboard":    {resp},
	"GET /v1/principals/{ref}/offboardings": {aud, resp},
	"POST /v1/custody":                      nil,
	"GET /v1/custody":                       {aud, resp},
	"POST /v1/credentials":                  nil,
	"GET /v1/credentials":                   {aud, resp},
	"POST /v1/credentials/{id}/revoke":      {resp},
	"GET /v1/audit":                         {aud, resp},
	"GET /v1/audit/{index}":                 {aud, resp},
	"POST /v1/audit/verify":                 {aud, resp},
	"GET /v1/audit/proof/{index}":           {aud, resp},
	"GET /v1/audit/consistency":             {aud, resp},
	"GET /v1/audit/export":                  {aud, resp},
	"GET /v1/audit/checkpoint":              {aud, resp},
	"GET /v1/audit/key":                     {aud, resp},
	"GET /v1/ledger":                        {aud, resp},
	"GET /v1/ledger/gaps":                   {aud, resp},
	"POST /v1/scope":                        {aud, resp},
	"POST /v1/scope/report":                 {aud, resp},
	"POST /v1/audit/key/rotate":             nil,
	"GET /v1/doctor":                        {aud, resp},
	"GET /v1/pending":                       {aud, resp},
	"GET /v1/pending/{id}":                  {aud, resp},
	"POST /v1/pending/{id}/approve":         nil,
	"POST /v1/pending/{id}/reject":          nil,
	"GET /v1/alerts":                        {aud, resp},
	"GET /v1/alerts/stream":                 {aud, resp},
	"GET /v1/alerts/{id}":                   {aud, resp},
	"POST /v1/alerts/{id}/ack":              {resp},
	"POST /v1/alerts/{id}/resolve":          {resp},
	"POST /oauth2/introspect":               {aud, resp},
	"GET /v1/revocations/stream":            {aud, resp},
	"POST /ssf/stream":                      nil,
	"GET /ssf/stream":                       {aud, resp},
	"PATCH /ssf/stream":                     nil,
	"PUT /ssf/stream":                       nil,
	"DELETE /ssf/stream":                    nil,
	"GET /ssf/status":                       {aud, resp},
	"POST /ssf/status":                      nil,
	"POST /ssf/subjects/add":                nil,
	"POST /ssf/subjects/remove":             nil,
	"POST /ssf/verify":                      nil,
	"POST /ssf/poll/{id}":                   nil,
}

// TestRoleMatrix: every route that takes an admin credential declares who
// may call it, the declaration is the matrix above, and over HTTP each
// role gets exactly that: through to the handler where allowed (whatever
// the handler then says of a made-up ID or an empty body), 403 elsewhere.
func TestRoleMatrix(t *testing.T) {
	srv := servertest.New(t)
	ctx := context.Background()
	routes := srv.Server.Handler().(*httpapi.Server).Routes()
	declared := map[string][]mayfly.Role{}
	for _, r := range routes {
		declared[r.Pattern] = r.Roles
	}
	for _, p := range slices.Sorted(maps.Keys(declared)) {
		want, ok := roleMatrix[p]
		if !ok {
			t.Errorf("route %s is not in the role matrix: decide who may call it, and add it", p)
			continue
		}
		want = append([]mayfly.Role{mayfly.RoleAdmin}, want...)
		if got := declared[p]; !sameRoles(got, want) {
			t.Errorf("route %s: declared for %v; the matrix says %v", p, got, want)
		}
	}
	for p := range roleMatrix {
		if _, ok := declared[p]; !ok {
			t.Errorf("the matrix names %s, which the server does not declare", p)
		}
	}

	tokens := map[mayfly.Role]string{}
	for _, role := range mayfly.Roles {
		cc, err := srv.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "as " + string(role), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = cc.Token
	}
	param := regexp.MustCompile(`\{[a-z]+\}`)
	for _, r := range routes {
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = param.ReplaceAllString(path, "nosuch")
		for _, role := range mayfly.Roles {
			st := call(t, srv, method, path, tokens[role])
			switch want := refused(r.Pattern, role); {
			case slices.Contains(r.Roles, role) && (st == http.StatusForbidden || st == http.StatusUnauthorized):
				t.Errorf("%s as %s: %d; the role may call it", r.Pattern, role, st)
			case !slices.Contains(r.Roles, role) && st != want:
				t.Errorf("%s as %s: %d; want %d", r.Pattern, role, st, want)
			}
		}
	}
}

// refused is the status a role that may not call a route gets: 403, but
// where a client may call it too (introspection, the revocation stream)
// a SCIM credential is no credential at all, and gets 401.
func refused(pattern string, role mayfly.Role) int {
	if role == mayfly.RoleSCIM && (pattern == "POST "+api.IntrospectPath || pattern == "GET "+api.StreamPath) {
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

func sameRoles(a, b []mayfly.Role) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// call sends a request that carries the credential and nothing a handler
// could act on, and returns the status. A stream's status is read from
// its headers.
func call(t *testing.T, srv *servertest.Env, method, path, token string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body *strings.Reader
	ct := "application/json"
	switch {
	case path == api.IntrospectPath:
		body, ct = strings.NewReader(url.Values{"token": {"x"}}.Encode()), "application/x-www-form-urlencoded"
	case method != "GET":
		body = strings.NewReader("{}")
	default:
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ct)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	res.Body.Close() // a stream ends here
	return res.StatusCode
}
