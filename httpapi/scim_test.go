package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// scimEnv is a Mayfly with a SCIM credential, as an identity provider holds.
type scimEnv struct {
	*servertest.Env
	t     testing.TB
	token string
	cred  string // the SCIM credential's ID
}

func newSCIMEnv(t testing.TB, opts ...servertest.Option) *scimEnv {
	t.Helper()
	env := servertest.New(t, opts...)
	cc, err := env.Admin.CreateCredential(context.Background(), api.CredentialRequest{Name: "okta", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	return &scimEnv{Env: env, t: t, token: cc.Token, cred: cc.ID}
}

// scimClient turns a hung request into a failure that names its input,
// which matters most to the fuzz targets.
var scimClient = &http.Client{Timeout: time.Minute}

// scimDo sends a request to the SCIM endpoint path with the bearer token;
// hdr are header names and values, an empty value removing the header. It
// takes tb so that fuzz targets can use it with their *testing.T.
func scimDo(tb testing.TB, base, token, method, path, body string, hdr ...string) *servertest.Response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+api.SCIMPath+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", api.SCIMContentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := scimClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &servertest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (e *scimEnv) req(method, path, body string, hdr ...string) *servertest.Response {
	e.t.Helper()
	return scimDo(e.t, e.URL, e.token, method, path, body, hdr...)
}

// user decodes a User resource from a response that must have status want.
func (e *scimEnv) user(r *servertest.Response, want int) api.SCIMUser {
	e.t.Helper()
	if r.Status != want {
		e.t.Fatalf("got status %d: %s; want %d", r.Status, r.Body, want)
	}
	var u api.SCIMUser
	if err := json.Unmarshal(r.Body, &u); err != nil || !slices.Equal(u.Schemas, []string{api.SCIMUserSchema}) || u.ID == "" {
		e.t.Fatalf("got %s (%v); want a User resource", r.Body, err)
	}
	if ct := r.Header.Get("Content-Type"); ct != api.SCIMContentType {
		e.t.Errorf("got content type %q; want %s", ct, api.SCIMContentType)
	}
	if et := r.Header.Get("ETag"); et != u.Meta.Version {
		e.t.Errorf("got ETag %q; want meta.version %q", et, u.Meta.Version)
	}
	return u
}

func (e *scimEnv) create(body string) api.SCIMUser {
	e.t.Helper()
	return e.user(e.req("POST", "/Users", body), http.StatusCreated)
}

func (e *scimEnv) get(id string) api.SCIMUser {
	e.t.Helper()
	return e.user(e.req("GET", "/Users/"+id, ""), http.StatusOK)
}

func (e *scimEnv) principal(id string) *mayfly.Principal {
	e.t.Helper()
	p, err := e.Admin.Principal(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return &p.Principal
}

// list runs a query on /Users and decodes the ListResponse.
func (e *scimEnv) list(query url.Values) api.SCIMListResponse[api.SCIMUser] {
	e.t.Helper()
	r := e.req("GET", "/Users?"+query.Encode(), "")
	var l api.SCIMListResponse[api.SCIMUser]
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &l) != nil || !slices.Equal(l.Schemas, []string{api.SCIMListSchema}) {
		e.t.Fatalf("list %v: got %d %s; want a ListResponse", query, r.Status, r.Body)
	}
	return l
}

// fixture reads a request body from testdata/scim, with {{id}} replaced.
func fixture(t testing.TB, name, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "scim", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "{{id}}", id)
}

// wantSCIMError checks that r is an RFC 7644 §3.12 error with the status
// and scimType given.
func wantSCIMError(t testing.TB, r *servertest.Response, status int, scimType string) {
	t.Helper()
	var e api.SCIMError
	err := json.Unmarshal(r.Body, &e)
	if r.Status != status || err != nil || e.Status != strconv.Itoa(status) || e.SCIMType != scimType ||
		!slices.Equal(e.Schemas, []string{api.SCIMErrorSchema}) || e.Detail == "" {
		t.Errorf("got %d %s; want %d with scimType %q", r.Status, r.Body, status, scimType)
	}
	if ct := r.Header.Get("Content-Type"); ct != api.SCIMContentType {
		t.Errorf("got content type %q; want %s", ct, api.SCIMContentType)
	}
}

const patchOp = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[%s]}`

// patch is a PATCH body of the given operations.
func patch(ops ...string) string { return fmt.Sprintf(patchOp, strings.Join(ops, ",")) }

func TestSCIMDiscovery(t *testing.T) {
	e := newSCIMEnv(t)
	var cfg struct {
		Patch, ChangePassword, Sort, Etag struct{ Supported bool }
		Bulk                              struct{ Supported bool }
		Filter                            struct {
			Supported  bool
			MaxResults int
		}
		AuthenticationSchemes []struct{ Type string }
	}
	r := e.req("GET", "/ServiceProviderConfig", "")
	if err := json.Unmarshal(r.Body, &cfg); r.Status != 200 || err != nil {
		t.Fatalf("ServiceProviderConfig: got %d %s", r.Status, r.Body)
	}
	if !cfg.Patch.Supported || !cfg.Filter.Supported || cfg.Filter.MaxResults != httpapi.SCIMMaxResults || !cfg.Etag.Supported ||
		cfg.Bulk.Supported || cfg.Sort.Supported || cfg.ChangePassword.Supported ||
		len(cfg.AuthenticationSchemes) != 1 || cfg.AuthenticationSchemes[0].Type != "oauthbearertoken" {
		t.Errorf("got ServiceProviderConfig %s; want patch, filter and etag only, with bearer tokens", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != api.SCIMContentType {
		t.Errorf("got content type %q", ct)
	}

	var types api.SCIMListResponse[struct{ ID, Endpoint, Schema string }]
	r = e.req("GET", "/ResourceTypes", "")
	if err := json.Unmarshal(r.Body, &types); err != nil || types.TotalResults != 1 || types.Resources[0].Endpoint != "/Users" || types.Resources[0].Schema != api.SCIMUserSchema {
		t.Errorf("ResourceTypes: got %d %s; want User at /Users", r.Status, r.Body)
	}
	if r := e.req("GET", "/ResourceTypes/User", ""); r.Status != 200 {
		t.Errorf("ResourceTypes/User: got %d %s", r.Status, r.Body)
	}
	wantSCIMError(t, e.req("GET", "/ResourceTypes/Group", ""), 404, "")

	type attr struct {
		Name, Uniqueness string
		Required         bool
		CaseExact        bool
	}
	var schemas api.SCIMListResponse[struct {
		ID         string
		Attributes []attr
	}]
	r = e.req("GET", "/Schemas", "")
	if err := json.Unmarshal(r.Body, &schemas); err != nil || schemas.TotalResults != 1 || schemas.Resources[0].ID != api.SCIMUserSchema {
		t.Fatalf("Schemas: got %d %s", r.Status, r.Body)
	}
	var names []string
	for _, a := range schemas.Resources[0].Attributes {
		names = append(names, a.Name)
		if a.Name == "userName" && (!a.Required || a.Uniqueness != "server" || a.CaseExact) {
			t.Errorf("got userName %+v; want required, unique, not case-exact", a)
		}
	}
	if want := []string{"userName", "name", "displayName", "emails", "active", "externalId"}; !slices.Equal(names, want) {
		t.Errorf("got User attributes %v; want %v", names, want)
	}
	if r := e.req("GET", "/Schemas/"+api.SCIMUserSchema, ""); r.Status != 200 {
		t.Errorf("Schemas/User: got %d %s", r.Status, r.Body)
	}
	wantSCIMError(t, e.req("POST", "/Bulk", `{}`), 501, "")
	wantSCIMError(t, e.req("GET", "/Groups", ""), 404, "")
}

// TestSCIMCreate creates people as RFC 7644, Okta and Entra ID do, and
// reads them back over SCIM and the admin API.
func TestSCIMCreate(t *testing.T) {
	e := newSCIMEnv(t)
	tests := []struct {
		fixture                              string
		userName, externalID, display, email string
	}{
		{"rfc7644-create.json", "bjensen", "bjensen", "Ms. Barbara J Jensen III", ""},
		{"okta-create.json", "isaac.brock@example.com", "00ujl29u0le5T6Aj10h7", "Isaac Brock", "isaac.brock@example.com"},
		{"entra-create.json", "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
			"givenName familyName", "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			r := e.req("POST", "/Users", fixture(t, tc.fixture, ""))
			u := e.user(r, http.StatusCreated)
			if !strings.HasPrefix(u.ID, "prn_") || u.UserName != tc.userName || u.ExternalID != tc.externalID || u.DisplayName != tc.display || !u.Active {
				t.Errorf("got %+v; want %s, %s, %q, active", u, tc.userName, tc.externalID, tc.display)
			}
			if u.Name == nil || u.Name.Formatted != tc.display {
				t.Errorf("got name %+v; want formatted %q", u.Name, tc.display)
			}
			if tc.email != "" && (len(u.Emails) != 1 || u.Emails[0].Value != tc.email || !u.Emails[0].Primary) {
				t.Errorf("got emails %+v; want %s, primary", u.Emails, tc.email)
			}
			if loc := r.Header.Get("Location"); loc != e.URL+api.SCIMPath+"/Users/"+u.ID || u.Meta.Location != loc {
				t.Errorf("got Location %q, meta.location %q; want the user's URL", loc, u.Meta.Location)
			}
			if u.Meta.ResourceType != "User" || u.Meta.Version != `W/"1"` || u.Meta.Created.IsZero() || u.Meta.LastModified.IsZero() {
				t.Errorf("got meta %+v", u.Meta)
			}
			if got := e.get(u.ID); got.UserName != u.UserName || got.Meta.Version != u.Meta.Version {
				t.Errorf("GET: got %+v; want %+v", got, u)
			}
			p := e.principal(u.ID)
			if p.Kind != mayfly.Human || p.Status != mayfly.Active || p.Name != tc.userName || p.ExternalID != tc.externalID || p.DisplayName != tc.display || p.Email != tc.email {
				t.Errorf("admin API: got %+v", p)
			}
		})
	}
	// Okta's password, if it syncs one, is neither kept nor logged.
	if strings.Contains(e.Log.String(), "1mz050nq-okta-sync") {
		t.Errorf("the password Okta sent is in the log")
	}
	// Created inactive: suspended, whatever the deactivation setting.
	u := e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"inactive","active":"False"}`)
	if u.Active || e.principal(u.ID).Status != mayfly.Suspended {
		t.Errorf("created with active False: got active %v, status %s; want suspended", u.Active, e.principal(u.ID).Status)
	}
	// Given and family names form a display name when none is given.
	u = e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jdoe","name":{"givenName":"Jane","familyName":"Doe"}}`)
	if u.DisplayName != "Jane Doe" {
		t.Errorf("got displayName %q; want Jane Doe", u.DisplayName)
	}
}

func TestSCIMFilterAndPages(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	// A second apart, as lists are in order of creation.
	next := func(body string) api.SCIMUser {
		e.Clock.Advance(time.Second)
		return e.create(body)
	}
	bj := next(fixture(t, "rfc7644-create.json", ""))
	ok := next(fixture(t, "okta-create.json", ""))
	en := next(fixture(t, "entra-create.json", ""))
	if _, err := e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "billing", Kind: mayfly.Service, Owner: bj.ID}); err != nil {
		t.Fatal(err)
	}
	gone := e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"leaver","externalId":"x9"}`)
	if r := e.req("DELETE", "/Users/"+gone.ID, ""); r.Status != 204 {
		t.Fatalf("DELETE: got %d %s", r.Status, r.Body)
	}

	ids := func(l api.SCIMListResponse[api.SCIMUser]) []string {
		var out []string
		for _, u := range l.Resources {
			out = append(out, u.ID)
		}
		return out
	}
	// People only: the bootstrap operator and the three; not the service, not the offboarded.
	all := e.list(nil)
	if all.TotalResults != 4 || all.StartIndex != 1 || all.ItemsPerPage != 4 || !slices.Equal(ids(all)[1:], []string{bj.ID, ok.ID, en.ID}) {
		t.Fatalf("got %v (total %d); want the operator, %s, %s, %s", ids(all), all.TotalResults, bj.ID, ok.ID, en.ID)
	}
	filters := []struct {
		filter string
		want   []string
	}{
		{`userName eq "bjensen"`, []string{bj.ID}},
		{`userName eq "BJensen"`, []string{bj.ID}}, // userName is not case-exact
		{`USERNAME EQ "bjensen"`, []string{bj.ID}}, // nor are attribute names and operators
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "isaac.brock@example.com"`, []string{ok.ID}},
		{`userName eq "Test_User_00aa00aa-0000-4000-8000-000000000000@testuser.com"`, nil}, // Entra ID's connection test
		{`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, []string{en.ID}},
		{`externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"`, nil}, // externalId is case-exact
		{`userName eq "leaver"`, nil},
		{`userName eq "billing"`, nil},
		{`  userName   eq   "bjensen"  `, []string{bj.ID}},
		{`userName eq "with \"quotes\" and \u00e9"`, nil},
	}
	for _, tc := range filters {
		l := e.list(url.Values{"filter": {tc.filter}})
		if got := ids(l); !slices.Equal(got, tc.want) || l.TotalResults != len(tc.want) || l.Resources == nil {
			t.Errorf("filter %s: got %v (total %d, resources %v); want %v", tc.filter, got, l.TotalResults, l.Resources, tc.want)
		}
	}
	pages := []struct {
		start, count string
		want         []string
	}{
		{"2", "2", []string{bj.ID, ok.ID}},
		{"4", "10", []string{en.ID}},
		{"0", "1", ids(all)[:1]},  // below 1 means 1
		{"1", "-5", nil},          // negative means 0
		{"1", "0", nil},           // just the count
		{"99999999999", "1", nil}, // past the end
	}
	for _, tc := range pages {
		l := e.list(url.Values{"startIndex": {tc.start}, "count": {tc.count}})
		if got := ids(l); !slices.Equal(got, tc.want) || l.TotalResults != 4 || l.ItemsPerPage != len(tc.want) {
			t.Errorf("startIndex %s count %s: got %v (total %d, per page %d); want %v", tc.start, tc.count, got, l.TotalResults, l.ItemsPerPage, tc.want)
		}
	}
	bad := []string{
		`userName co "bj"`, `userName sw "bj"`, `userName pr`, `title eq "x"`, `emails.value eq "x"`, `userName eq bjensen`,
		`userName eq "bjensen" and active eq true`, `userName eq "unterminated`, `(userName eq "bjensen")`, `userName eq 5`,
		`userName eq null`, `userName`, `eq "x"`, `not (userName eq "x")`,
	}
	for _, f := range bad {
		wantSCIMError(t, e.req("GET", "/Users?"+url.Values{"filter": {f}}.Encode(), ""), 400, "invalidFilter")
	}
	wantSCIMError(t, e.req("GET", "/Users?count=many", ""), 400, "invalidValue")
	wantSCIMError(t, e.req("GET", "/Users?startIndex=1.5", ""), 400, "invalidValue")
}

func TestSCIMPatch(t *testing.T) {
	e := newSCIMEnv(t)
	bj := e.create(fixture(t, "rfc7644-create.json", ""))
	steps := []struct {
		name      string
		body      string
		check     func(u api.SCIMUser) bool
		explain   string
		unchanged bool // the version stays
	}{
		{"rfc7644 add", fixture(t, "rfc7644-patch-add.json", ""),
			func(u api.SCIMUser) bool { return len(u.Emails) == 1 && u.Emails[0].Value == "babs@jensen.org" }, "email babs@jensen.org", false},
		{"rfc7644 replace", fixture(t, "rfc7644-patch-replace.json", ""),
			func(u api.SCIMUser) bool { return len(u.Emails) == 1 && u.Emails[0].Value == "bjenson@example.com" }, "email bjenson@example.com", false},
		{"rfc7644 remove", fixture(t, "rfc7644-patch-remove.json", ""),
			func(u api.SCIMUser) bool { return len(u.Emails) == 0 }, "no email", false},
		{"entra attributes", fixture(t, "entra-patch-attributes.json", ""), func(u api.SCIMUser) bool {
			return u.DisplayName == "Updated Display Name" && len(u.Emails) == 1 && u.Emails[0].Value == "updatedEmail@testuser.com" &&
				u.ExternalID == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ff" && u.Active
		}, "Entra's display name, email and externalId", false},
		{"userName", patch(`{"op":"replace","path":"userName","value":"barbara.jensen"}`),
			func(u api.SCIMUser) bool { return u.UserName == "barbara.jensen" }, "userName barbara.jensen", false},
		{"own name in another case", patch(`{"op":"replace","path":"userName","value":"Barbara.Jensen"}`),
			func(u api.SCIMUser) bool { return u.UserName == "Barbara.Jensen" }, "userName Barbara.Jensen", false},
		{"no path, several attributes", patch(`{"op":"replace","value":{"displayName":"Babs","externalId":"bj-2","name":{"givenName":"B"}}}`),
			func(u api.SCIMUser) bool { return u.DisplayName == "Babs" && u.ExternalID == "bj-2" }, "displayName Babs, externalId bj-2", false},
		{"name.formatted", patch(`{"op":"replace","path":"name.formatted","value":"Barbara Jensen"}`),
			func(u api.SCIMUser) bool {
				return u.DisplayName == "Barbara Jensen" && u.Name.Formatted == "Barbara Jensen"
			}, "displayName from name.formatted", false},
		{"remove displayName", patch(`{"op":"remove","path":"displayName"}`, `{"op":"remove","path":"externalId"}`),
			func(u api.SCIMUser) bool { return u.DisplayName == "" && u.Name == nil && u.ExternalID == "" }, "no displayName, no externalId", false},
		{"core schema prefix", patch(`{"op":"add","path":"urn:ietf:params:scim:schemas:core:2.0:User:displayName","value":"BJ"}`),
			func(u api.SCIMUser) bool { return u.DisplayName == "BJ" }, "displayName BJ", false},
		{"emails array", patch(`{"op":"replace","path":"emails","value":[{"value":"home@x.org","type":"home"},{"value":"work@x.org","type":"work"}]}`),
			func(u api.SCIMUser) bool { return len(u.Emails) == 1 && u.Emails[0].Value == "work@x.org" }, "the work address", false},
		{"ignored attributes only", patch(`{"op":"add","path":"phoneNumbers[type eq \"work\"].value","value":"555"}`, `{"op":"replace","path":"locale","value":"en"}`),
			func(u api.SCIMUser) bool { return u.DisplayName == "BJ" }, "nothing changed", true},
	}
	version := bj.Meta.Version
	for _, st := range steps {
		u := e.user(e.req("PATCH", "/Users/"+bj.ID, st.body), http.StatusOK)
		if !st.check(u) {
			t.Errorf("%s: got %+v; want %s", st.name, u, st.explain)
		}
		if moved := u.Meta.Version != version; moved == st.unchanged {
			t.Errorf("%s: got version %s after %s; want it moved: %v", st.name, u.Meta.Version, version, !st.unchanged)
		}
		if got := e.get(bj.ID); got.Meta.Version != u.Meta.Version || got.DisplayName != u.DisplayName {
			t.Errorf("%s: GET after PATCH: got %+v; want %+v", st.name, got, u)
		}
		version = u.Meta.Version
	}
	if p := e.principal(bj.ID); p.Name != "Barbara.Jensen" || p.Email != "work@x.org" || fmt.Sprintf(`W/"%d"`, p.Version) != version {
		t.Errorf("admin API: got %+v; want Barbara.Jensen, work@x.org, version %s", p, version)
	}
}

// scimPerson makes a person over SCIM with a client and a token, and a
// verifier client of someone else's to introspect with.
type scimPerson struct {
	u                  api.SCIMUser
	client, secret     string
	verifier, verifSec string
	token              string
}

func (e *scimEnv) person(body string) *scimPerson {
	e.t.Helper()
	p := &scimPerson{u: e.create(body)}
	c, sec := e.NewClient(api.ClientRequest{Name: "laptop", Owner: p.u.ID})
	v, vs := e.NewClient(api.ClientRequest{Name: "verifier", Owner: e.Human("resource-owner-" + strconv.Itoa(int(e.Clock.Now().Unix())))})
	p.client, p.secret, p.verifier, p.verifSec = c.ID, sec, v.ID, vs
	p.token = e.IssueToken(c.ID, sec, nil)
	if !e.Active(p.token, v.ID, vs) {
		e.t.Fatal("a fresh token is not active")
	}
	e.Clock.Advance(time.Second) // the not-before mark rejects tokens issued strictly before it
	return p
}

// tokenStatus is the token endpoint's status for the person's client.
func (e *scimEnv) tokenStatus(p *scimPerson) int {
	e.t.Helper()
	return e.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, p.client, p.secret).Status
}

// TestSCIMDeactivateSuspends: an identity provider's deactivation suspends
// the person, and their tokens stop being active; reactivation by the
// identity provider makes new tokens work, never the old ones.
func TestSCIMDeactivateSuspends(t *testing.T) {
	for _, idp := range []string{"okta", "entra"} {
		t.Run(idp, func(t *testing.T) {
			e := newSCIMEnv(t)
			p := e.person(fixture(t, idp+"-create.json", ""))
			u := e.user(e.req("PATCH", "/Users/"+p.u.ID, fixture(t, idp+"-deactivate.json", "")), http.StatusOK)
			if u.Active || e.principal(p.u.ID).Status != mayfly.Suspended {
				t.Fatalf("got active %v, status %s; want suspended", u.Active, e.principal(p.u.ID).Status)
			}
			if e.Active(p.token, p.verifier, p.verifSec) {
				t.Errorf("the suspended person's token is still active")
			}
			if st := e.tokenStatus(p); st != http.StatusUnauthorized {
				t.Errorf("the suspended person's client at the token endpoint: got %d; want 401", st)
			}
			if got := e.get(p.u.ID); got.Active {
				t.Errorf("GET: got active; want inactive")
			}
			// Deactivating again changes nothing.
			if again := e.user(e.req("PATCH", "/Users/"+p.u.ID, fixture(t, idp+"-deactivate.json", "")), 200); again.Meta.Version != u.Meta.Version {
				t.Errorf("second deactivation: got version %s; want %s", again.Meta.Version, u.Meta.Version)
			}

			e.Clock.Advance(time.Second)
			u = e.user(e.req("PATCH", "/Users/"+p.u.ID, fixture(t, idp+"-reactivate.json", "")), http.StatusOK)
			if !u.Active || e.principal(p.u.ID).Status != mayfly.Active {
				t.Fatalf("reactivated: got active %v; want active", u.Active)
			}
			if e.Active(p.token, p.verifier, p.verifSec) {
				t.Errorf("a token from before the suspension is active again")
			}
			if tok := e.IssueToken(p.client, p.secret, nil); !e.Active(tok, p.verifier, p.verifSec) {
				t.Errorf("a token issued after reactivation is not active")
			}
		})
	}
}

// TestSCIMAdminSuspensionStands: an identity provider cannot end a
// suspension an administrator made, as Okta's routine PUT with active true
// would.
func TestSCIMAdminSuspensionStands(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	u := e.create(fixture(t, "okta-create.json", ""))
	if _, err := e.Admin.Suspend(ctx, u.ID, "investigation"); err != nil {
		t.Fatal(err)
	}
	before := e.get(u.ID)
	wantSCIMError(t, e.req("PATCH", "/Users/"+u.ID, fixture(t, "okta-reactivate.json", "")), 409, "mutability")
	wantSCIMError(t, e.req("PUT", "/Users/"+u.ID, fixture(t, "okta-put.json", u.ID)), 409, "mutability")
	if got := e.get(u.ID); got.Active || got.Meta.Version != before.Meta.Version || got.DisplayName != before.DisplayName {
		t.Errorf("got %+v; want %+v unchanged", got, before)
	}
	// Profile changes that leave active alone still go through.
	if got := e.user(e.req("PATCH", "/Users/"+u.ID, patch(`{"op":"replace","path":"displayName","value":"I. Brock"}`)), 200); got.Active || got.DisplayName != "I. Brock" {
		t.Errorf("got %+v; want suspended, renamed", got)
	}
	if _, err := e.Admin.Reactivate(ctx, u.ID, "cleared"); err != nil {
		t.Fatal(err)
	}
	e.user(e.req("PATCH", "/Users/"+u.ID, fixture(t, "okta-deactivate.json", "")), 200)
	if got := e.user(e.req("PATCH", "/Users/"+u.ID, fixture(t, "okta-reactivate.json", "")), 200); !got.Active {
		t.Errorf("a SCIM suspension was not undone by SCIM")
	}
}

func TestSCIMOffboardOnDeactivate(t *testing.T) {
	e := newSCIMEnv(t, func(c *server.Config) { c.SCIMDeactivate = "offboard" })
	p := e.person(fixture(t, "entra-create.json", ""))
	u := e.user(e.req("PATCH", "/Users/"+p.u.ID, fixture(t, "entra-deactivate.json", "")), http.StatusOK)
	if u.Active {
		t.Errorf("got active after deactivation")
	}
	e.wantOffboarded(p)
	// A retried deactivation succeeds and does nothing.
	if r := e.req("PATCH", "/Users/"+p.u.ID, fixture(t, "entra-deactivate.json", "")); r.Status != 200 {
		t.Errorf("retried deactivation: got %d %s; want 200", r.Status, r.Body)
	}
	wantSCIMError(t, e.req("PATCH", "/Users/"+p.u.ID, fixture(t, "entra-reactivate.json", "")), 409, "mutability")
	wantSCIMError(t, e.req("PATCH", "/Users/"+p.u.ID, patch(`{"op":"replace","path":"displayName","value":"x"}`)), 409, "mutability")
	wantSCIMError(t, e.req("POST", "/Users", fixture(t, "entra-create.json", "")), 409, "uniqueness")
	runs, err := e.Admin.Offboardings(context.Background(), p.u.ID)
	if err != nil || len(runs) != 1 {
		t.Errorf("got %d offboarding runs (%v); want 1", len(runs), err)
	}
}

// wantOffboarded checks that the person is offboarded, by the SCIM
// credential, that nothing of theirs works, and that SCIM treats them as
// deleted.
func (e *scimEnv) wantOffboarded(p *scimPerson) {
	e.t.Helper()
	if st := e.principal(p.u.ID).Status; st != mayfly.Offboarded {
		e.t.Fatalf("got status %s; want offboarded", st)
	}
	runs, err := e.Admin.Offboardings(context.Background(), p.u.ID)
	if err != nil || len(runs) == 0 || !runs[0].Finished() || runs[0].Actor != e.cred {
		e.t.Errorf("got runs %+v (%v); want one finished, by %s", runs, err, e.cred)
	}
	r := e.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, p.client, p.secret)
	if r.Status != http.StatusUnauthorized || r.JSON()["error"] != "invalid_client" {
		e.t.Errorf("the offboarded person's client at the token endpoint: got %d %s; want 401 invalid_client", r.Status, r.Body)
	}
	if e.Active(p.token, p.verifier, p.verifSec) {
		e.t.Errorf("the offboarded person's token is still active")
	}
	wantSCIMError(e.t, e.req("GET", "/Users/"+p.u.ID, ""), 404, "")
	if l := e.list(url.Values{"filter": {`userName eq "` + p.u.UserName + `"`}}); l.TotalResults != 0 {
		e.t.Errorf("the offboarded person is still listed")
	}
}

func TestSCIMDelete(t *testing.T) {
	e := newSCIMEnv(t)
	p := e.person(fixture(t, "okta-create.json", ""))
	r := e.req("DELETE", "/Users/"+p.u.ID, "")
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE: got %d %s; want 204", r.Status, r.Body)
	}
	e.wantOffboarded(p)
	wantSCIMError(t, e.req("DELETE", "/Users/"+p.u.ID, ""), 404, "")
	if runs, _ := e.Admin.Offboardings(context.Background(), p.u.ID); len(runs) != 1 {
		t.Errorf("got %d offboarding runs after a second DELETE; want 1", len(runs))
	}
	// A suspended person is offboarded too.
	q := e.person(fixture(t, "entra-create.json", ""))
	e.user(e.req("PATCH", "/Users/"+q.u.ID, fixture(t, "entra-deactivate.json", "")), 200)
	if r := e.req("DELETE", "/Users/"+q.u.ID, ""); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE of a suspended person: got %d %s", r.Status, r.Body)
	}
	e.wantOffboarded(q)
}

func TestSCIMReplace(t *testing.T) {
	e := newSCIMEnv(t)
	bj := e.create(fixture(t, "rfc7644-create.json", ""))
	u := e.user(e.req("PUT", "/Users/"+bj.ID, fixture(t, "rfc7644-put.json", bj.ID), "If-Match", bj.Meta.Version), http.StatusOK)
	if u.DisplayName != "Ms. Barbara J Jensen III" || len(u.Emails) != 1 || u.Emails[0].Value != "bjensen@example.com" || u.ExternalID != "bjensen" || !u.Active {
		t.Errorf("got %+v; want the RFC 7644 §3.5.1 replacement", u)
	}
	e.user(e.req("PATCH", "/Users/"+bj.ID, fixture(t, "okta-deactivate.json", "")), 200)
	// What a replacement leaves out is cleared, except active.
	u = e.user(e.req("PUT", "/Users/"+bj.ID, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}`), http.StatusOK)
	if u.DisplayName != "" || u.Emails != nil || u.ExternalID != "" || u.Active {
		t.Errorf("got %+v; want attributes cleared, still inactive", u)
	}
	// Okta's profile update, with active true, reactivates a person SCIM suspended.
	ok := e.create(fixture(t, "okta-create.json", ""))
	e.user(e.req("PATCH", "/Users/"+ok.ID, fixture(t, "okta-deactivate.json", "")), 200)
	u = e.user(e.req("PUT", "/Users/"+ok.ID, fixture(t, "okta-put.json", ok.ID)), http.StatusOK)
	if u.DisplayName != "Isaac Brock-Smith" || u.Emails[0].Value != "isaac.brock-smith@example.com" || !u.Active {
		t.Errorf("got %+v; want Okta's update, active", u)
	}
}

func TestSCIMETags(t *testing.T) {
	e := newSCIMEnv(t)
	u := e.create(fixture(t, "rfc7644-create.json", ""))
	v1 := u.Meta.Version
	if r := e.req("GET", "/Users/"+u.ID, "", "If-None-Match", v1); r.Status != http.StatusNotModified || r.Header.Get("ETag") != v1 {
		t.Errorf("GET If-None-Match current: got %d; want 304", r.Status)
	}
	rename := patch(`{"op":"replace","path":"displayName","value":"Babs"}`)
	u2 := e.user(e.req("PATCH", "/Users/"+u.ID, rename, "If-Match", v1), http.StatusOK)
	v2 := u2.Meta.Version
	if v2 == v1 {
		t.Fatalf("the version did not move: %s", v2)
	}
	if r := e.req("GET", "/Users/"+u.ID, "", "If-None-Match", v1); r.Status != http.StatusOK {
		t.Errorf("GET If-None-Match stale: got %d; want 200", r.Status)
	}
	stale := []struct{ method, body string }{
		{"PATCH", patch(`{"op":"replace","path":"displayName","value":"Stale"}`)},
		{"PUT", fixture(t, "rfc7644-put.json", u.ID)},
		{"DELETE", ""},
	}
	for _, tc := range stale {
		wantSCIMError(t, e.req(tc.method, "/Users/"+u.ID, tc.body, "If-Match", v1), http.StatusPreconditionFailed, "")
		if got := e.get(u.ID); got.Meta.Version != v2 || got.DisplayName != "Babs" {
			t.Errorf("%s with a stale If-Match changed the user: got %+v", tc.method, got)
		}
	}
	if st := e.principal(u.ID).Status; st != mayfly.Active {
		t.Errorf("DELETE with a stale If-Match: got status %s; want active", st)
	}
	for _, tag := range []string{"*", `"` + strings.Trim(strings.TrimPrefix(v2, "W/"), `"`) + `"`, `W/"999", ` + v2} {
		got := e.user(e.req("PATCH", "/Users/"+u.ID, rename, "If-Match", tag), http.StatusOK)
		if got.Meta.Version != v2 {
			t.Errorf("If-Match %s with no change: got version %s; want %s", tag, got.Meta.Version, v2)
		}
	}
}

func TestSCIMUniqueness(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	bj := e.create(fixture(t, "rfc7644-create.json", ""))
	other := e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"other"}`)
	if _, err := e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "billing", Kind: mayfly.Service, Owner: bj.ID}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Admin.Principals(ctx)
	for _, name := range []string{"bjensen", "BJENSEN", "billing", "operator"} {
		wantSCIMError(t, e.req("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`"}`), 409, "uniqueness")
	}
	wantSCIMError(t, e.req("PATCH", "/Users/"+other.ID, patch(`{"op":"replace","path":"userName","value":"BJensen"}`)), 409, "uniqueness")
	wantSCIMError(t, e.req("PUT", "/Users/"+other.ID, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}`), 409, "uniqueness")
	after, _ := e.Admin.Principals(ctx)
	if len(after) != len(before) || e.get(other.ID).UserName != "other" {
		t.Errorf("got %d principals, other named %q; want %d, other", len(after), e.get(other.ID).UserName, len(before))
	}
}

// TestSCIMRefusesBadRequests: each bad request gets a SCIM error with the
// right status and scimType, and changes nothing.
func TestSCIMRefusesBadRequests(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	u := e.create(fixture(t, "okta-create.json", ""))
	svc, err := e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "billing", Kind: mayfly.Service, Owner: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	user := "/Users/" + u.ID
	huge := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"huge","displayName":"` + strings.Repeat("x", httpapi.MaxBodySize) + `"}`
	hugePatch := patch(`{"op":"replace","path":"displayName","value":"` + strings.Repeat("x", httpapi.MaxBodySize) + `"}`)
	core := `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		scimType                 string
	}{
		{"malformed JSON", "POST", "/Users", `{"schemas":[`, nil, 400, "invalidSyntax"},
		{"empty body", "POST", "/Users", ``, nil, 400, "invalidSyntax"},
		{"two values", "POST", "/Users", `{` + core + `,"userName":"two"}{}`, nil, 400, "invalidSyntax"},
		{"trailing brace", "POST", "/Users", `{` + core + `,"userName":"two"}}`, nil, 400, "invalidSyntax"},
		{"not an object", "POST", "/Users", `["userName"]`, nil, 400, "invalidValue"},
		{"wrong schema", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"g"}`, nil, 400, "invalidValue"},
		{"unknown extension", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:custom"],"userName":"c"}`, nil, 400, "invalidValue"},
		{"no schemas", "POST", "/Users", `{"userName":"noschema"}`, nil, 400, "invalidValue"},
		{"missing userName", "POST", "/Users", `{` + core + `,"displayName":"Nobody"}`, nil, 400, "invalidValue"},
		{"blank userName", "POST", "/Users", `{` + core + `,"userName":"  "}`, nil, 400, "invalidValue"},
		{"userName not a string", "POST", "/Users", `{` + core + `,"userName":5}`, nil, 400, "invalidValue"},
		{"userName with a space", "POST", "/Users", `{` + core + `,"userName":"has space"}`, nil, 400, "invalidValue"},
		{"userName like an ID", "POST", "/Users", `{` + core + `,"userName":"prn_x"}`, nil, 400, "invalidValue"},
		{"active not a boolean", "POST", "/Users", `{` + core + `,"userName":"maybe","active":"maybe"}`, nil, 400, "invalidValue"},
		{"emails not an array", "POST", "/Users", `{` + core + `,"userName":"e","emails":"e@x"}`, nil, 400, "invalidValue"},
		{"displayName too long", "POST", "/Users", `{` + core + `,"userName":"long","displayName":"` + strings.Repeat("x", 300) + `"}`, nil, 400, "invalidValue"},
		{"content type", "POST", "/Users", `{` + core + `,"userName":"ct"}`, []string{"Content-Type", "text/plain"}, 415, ""},
		{"huge body", "POST", "/Users", huge, nil, 413, ""},
		{"PUT id mismatch", "PUT", user, `{` + core + `,"id":"prn_other","userName":"isaac.brock@example.com"}`, nil, 400, "mutability"},
		{"PUT missing userName", "PUT", user, `{` + core + `}`, nil, 400, "invalidValue"},
		{"unknown op", "PATCH", user, patch(`{"op":"move","path":"displayName","value":"x"}`), nil, 400, "invalidSyntax"},
		{"no op", "PATCH", user, patch(`{"path":"displayName","value":"x"}`), nil, 400, "invalidSyntax"},
		{"no PatchOp schema", "PATCH", user, `{"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`, nil, 400, "invalidValue"},
		{"User schema in a PATCH", "PATCH", user, `{` + core + `,"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`, nil, 400, "invalidValue"},
		{"no operations", "PATCH", user, patch(), nil, 400, "invalidValue"},
		{"unknown attribute", "PATCH", user, patch(`{"op":"replace","path":"favouriteColour","value":"x"}`), nil, 400, "invalidPath"},
		{"unknown attribute without path", "PATCH", user, patch(`{"op":"replace","value":{"favouriteColour":"x"}}`), nil, 400, "invalidPath"},
		{"unknown sub-attribute", "PATCH", user, patch(`{"op":"replace","path":"name.nickname","value":"x"}`), nil, 400, "invalidPath"},
		{"sub-attribute of a simple one", "PATCH", user, patch(`{"op":"replace","path":"active.value","value":false}`), nil, 400, "invalidPath"},
		{"unclosed filter", "PATCH", user, patch(`{"op":"replace","path":"emails[type eq \"work\".value","value":"x"}`), nil, 400, "invalidPath"},
		{"filter on a simple attribute", "PATCH", user, patch(`{"op":"replace","path":"displayName[value eq \"x\"]","value":"x"}`), nil, 400, "invalidPath"},
		{"unknown schema in path", "PATCH", user, patch(`{"op":"replace","path":"urn:example:custom:color","value":"x"}`), nil, 400, "invalidPath"},
		{"remove without path", "PATCH", user, patch(`{"op":"remove"}`), nil, 400, "noTarget"},
		{"remove userName", "PATCH", user, patch(`{"op":"remove","path":"userName"}`), nil, 400, "invalidValue"},
		{"remove active", "PATCH", user, patch(`{"op":"remove","path":"active"}`), nil, 400, "invalidValue"},
		{"replace id", "PATCH", user, patch(`{"op":"replace","path":"id","value":"prn_x"}`), nil, 400, "mutability"},
		{"replace without value", "PATCH", user, patch(`{"op":"replace","path":"displayName"}`), nil, 400, "invalidValue"},
		{"value not an object", "PATCH", user, patch(`{"op":"replace","value":false}`), nil, 400, "invalidValue"},
		{"active not a boolean", "PATCH", user, patch(`{"op":"replace","path":"active","value":"nope"}`), nil, 400, "invalidValue"},
		{"active null", "PATCH", user, patch(`{"op":"replace","path":"active","value":null}`), nil, 400, "invalidValue"},
		{"displayName a number", "PATCH", user, patch(`{"op":"replace","path":"displayName","value":7}`), nil, 400, "invalidValue"},
		// Validated whole: an operation that would work is not applied
		// when a later one is bad.
		{"deactivate, then a bad op", "PATCH", user, patch(`{"op":"replace","path":"active","value":false}`, `{"op":"frobnicate"}`), nil, 400, "invalidSyntax"},
		{"deactivate, then a bad path", "PATCH", user, patch(`{"op":"replace","value":{"active":false}}`, `{"op":"add","path":"bogus","value":1}`), nil, 400, "invalidPath"},
		{"deactivate and a bad userName", "PATCH", user, patch(`{"op":"replace","path":"active","value":"False"}`, `{"op":"replace","path":"userName","value":"bad name"}`), nil, 400, "invalidValue"},
		{"deactivate and a long displayName", "PATCH", user, patch(`{"op":"replace","path":"active","value":false}`, `{"op":"replace","path":"displayName","value":"`+strings.Repeat("y", 300)+`"}`), nil, 400, "invalidValue"},
		{"huge PATCH", "PATCH", user, hugePatch, nil, 413, ""},
		{"unknown user", "GET", "/Users/prn_nosuchuser", "", nil, 404, ""},
		{"a user's name for an ID", "GET", "/Users/isaac.brock@example.com", "", nil, 404, ""},
		{"a service", "GET", "/Users/" + svc.ID, "", nil, 404, ""},
		{"PATCH a service", "PATCH", "/Users/" + svc.ID, fixture(t, "okta-deactivate.json", ""), nil, 404, ""},
		{"DELETE a service", "DELETE", "/Users/" + svc.ID, "", nil, 404, ""},
		{"PUT unknown user", "PUT", "/Users/prn_nosuchuser", fixture(t, "okta-put.json", "prn_nosuchuser"), nil, 404, ""},
		{"PATCH unknown user", "PATCH", "/Users/prn_nosuchuser", fixture(t, "okta-deactivate.json", ""), nil, 404, ""},
		{"DELETE unknown user", "DELETE", "/Users/prn_nosuchuser", "", nil, 404, ""},
		{"unknown endpoint", "GET", "/Groups", "", nil, 404, ""},
		{"method on the collection", "DELETE", "/Users", "", nil, 404, ""},
	}
	snapshot := func() string {
		ps, err := e.Admin.Principals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ps)
		return string(b)
	}
	want := snapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantSCIMError(t, e.req(tc.method, tc.path, tc.body, tc.hdr...), tc.status, tc.scimType)
			if got := snapshot(); got != want {
				t.Errorf("principals changed:\ngot  %s\nwant %s", got, want)
			}
		})
	}
	if e.principal(svc.ID).Status != mayfly.Active {
		t.Errorf("the service was touched")
	}
}

func TestSCIMAuthentication(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	second, err := e.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "entra", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Admin.RevokeCredential(ctx, second.ID, "rotated"); err != nil {
		t.Fatal(err)
	}
	body := fixture(t, "okta-create.json", "")
	for _, path := range []string{"/Users", "/Users/prn_x", "/ServiceProviderConfig", "/Schemas", "/ResourceTypes", "/Groups"} {
		for _, tc := range []struct {
			name, auth string
			status     int
		}{
			{"no credential", "", 401},
			{"not a bearer", "Basic " + e.token, 401},
			{"unknown bearer", "Bearer mfa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401},
			{"garbage bearer", "Bearer ../../etc/passwd", 401},
			{"revoked SCIM credential", "Bearer " + second.Token, 401},
			{"admin credential", "Bearer " + e.Token, 403},
		} {
			r := e.req("GET", path, "", "Authorization", tc.auth)
			wantSCIMError(t, r, tc.status, "")
			if got := r.Header.Get("WWW-Authenticate"); (tc.status == 401) != strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s at %s: got WWW-Authenticate %q", tc.name, path, got)
			}
		}
	}
	// Nothing was created by the refused requests.
	for _, auth := range []string{"", "Bearer " + e.Token, "Bearer " + second.Token} {
		e.req("POST", "/Users", body, "Authorization", auth)
	}
	if l := e.list(url.Values{"filter": {`userName eq "isaac.brock@example.com"`}}); l.TotalResults != 0 {
		t.Errorf("a refused POST created a user")
	}
	// The SCIM credential cannot use the admin API.
	req, _ := http.NewRequest("GET", e.URL+"/v1/principals", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if r := e.Do(req); r.Status != http.StatusForbidden {
		t.Errorf("SCIM credential at the admin API: got %d %s; want 403", r.Status, r.Body)
	}
	// application/json is accepted as well as application/scim+json.
	e.user(e.req("POST", "/Users", body, "Content-Type", "application/json; charset=utf-8"), http.StatusCreated)
}

// The fuzz targets run against a whole server, so that what they check is
// what an identity provider sees: every reply is a User or a SCIM error,
// never a server error, and a refused PATCH changes nothing.

func FuzzSCIMPatch(f *testing.F) {
	for _, name := range []string{"okta-deactivate.json", "okta-reactivate.json", "entra-deactivate.json", "entra-reactivate.json",
		"entra-patch-attributes.json", "rfc7644-patch-add.json", "rfc7644-patch-replace.json", "rfc7644-patch-remove.json"} {
		f.Add(fixture(f, name, ""))
	}
	f.Add(patch(`{"op":"replace","path":"userName","value":"operator"}`))
	f.Add(patch(`{"op":"replace","path":"active","value":false}`, `{"op":"bogus"}`))
	e := newSCIMEnv(f)
	u := e.create(fixture(f, "okta-create.json", ""))
	f.Fuzz(func(t *testing.T, body string) {
		get := func() *servertest.Response { return scimDo(t, e.URL, e.token, "GET", "/Users/"+u.ID, "") }
		before := get()
		r := scimDo(t, e.URL, e.token, "PATCH", "/Users/"+u.ID, body)
		switch {
		case r.Status == http.StatusOK:
			var got api.SCIMUser
			if err := json.Unmarshal(r.Body, &got); err != nil || got.ID != u.ID {
				t.Fatalf("got 200 %s; want user %s", r.Body, u.ID)
			}
		case r.Status >= 500 || !slices.Contains([]int{400, 409, 413, 415}, r.Status):
			t.Fatalf("got %d %s; want 200 or a client error", r.Status, r.Body)
		default:
			wantSCIMError(t, r, r.Status, scimTypeOf(r))
			if after := get(); string(after.Body) != string(before.Body) {
				t.Fatalf("refused with %d %s, but the user changed:\nbefore %s\nafter  %s", r.Status, r.Body, before.Body, after.Body)
			}
		}
	})
}

func FuzzSCIMFilter(f *testing.F) {
	for _, seed := range []string{`userName eq "bjensen"`, `externalId eq "x"`, `userName eq "a\"b"`, `userName co "x"`,
		`userName eq "x" and title pr`, `USERNAME Eq "\u00e9"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`, ``} {
		f.Add(seed)
	}
	e := newSCIMEnv(f)
	e.create(fixture(f, "rfc7644-create.json", ""))
	f.Fuzz(func(t *testing.T, filter string) {
		r := scimDo(t, e.URL, e.token, "GET", "/Users?"+url.Values{"filter": {filter}}.Encode(), "")
		switch r.Status {
		case http.StatusOK:
			var l api.SCIMListResponse[api.SCIMUser]
			if err := json.Unmarshal(r.Body, &l); err != nil || l.TotalResults != len(l.Resources) {
				t.Fatalf("got 200 %s; want a ListResponse", r.Body)
			}
		case http.StatusBadRequest:
			wantSCIMError(t, r, 400, "invalidFilter")
		default:
			t.Fatalf("got %d %s; want 200 or 400", r.Status, r.Body)
		}
	})
}

func scimTypeOf(r *servertest.Response) string {
	var e api.SCIMError
	json.Unmarshal(r.Body, &e)
	return e.SCIMType
}
