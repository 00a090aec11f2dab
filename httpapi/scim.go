package httpapi

// SCIM 2.0 provisioning (RFC 7643 schemas, RFC 7644 protocol): an identity
// provider (Okta, Entra ID, Google) creates, updates, deactivates and
// deletes people at /scim/v2/Users, with a bearer credential of role scim
// and nothing else. A SCIM user is a human principal; its id is the
// principal's ID and its userName the principal's name.
//
// What a request may do to a person is internal/scim's to decide; this
// file parses requests and writes answers. Where the RFCs leave a choice
// of protocol:
//
//   - An offboarded person is a deleted resource: GET and DELETE answer
//     404 and lists leave them out (RFC 7644 §3.6). PUT and PATCH answer
//     409 instead, saying why, unless they ask for no change (a retried
//     deactivation succeeds): an identity provider trying to bring someone
//     back should learn that offboarding is final, not be invited to
//     create them again.
//   - userName is matched without regard to case (caseExact false), for
//     filters and for uniqueness; externalId exactly (caseExact true).
//   - Mayfly keeps one display name and one email address. name.formatted is
//     displayName's mirror; givenName and familyName only form a display name
//     when none is given. Of several emails the primary one is kept, else the
//     work one, else the first. Attributes of the core and enterprise User
//     schemas that Mayfly does not keep (title, phoneNumbers, password, ...)
//     are accepted and ignored; unknown attributes in a PATCH path are
//     refused, unknown schemas too.
//   - A PATCH is validated whole before anything is written.
//   - Without If-Match, a change that races another is applied again on the
//     newer version; with If-Match, it fails with 412.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/scim"
)

// SCIMMaxResults bounds a page of users (ServiceProviderConfig
// filter.maxResults).
const SCIMMaxResults = 200

// scimHandler is a SCIM handler; it returns errors for the one mapping.
type scimHandler func(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error

func (s *Server) scimRoutes() {
	s.scim("GET "+api.SCIMPath+"/Users", s.scimList)
	s.scim("POST "+api.SCIMPath+"/Users", s.scimCreate)
	s.scim("GET "+api.SCIMPath+"/Users/{id}", s.scimGet)
	s.scim("PUT "+api.SCIMPath+"/Users/{id}", s.scimReplace)
	s.scim("PATCH "+api.SCIMPath+"/Users/{id}", s.scimPatch)
	s.scim("DELETE "+api.SCIMPath+"/Users/{id}", s.scimDelete)
	s.scim("GET "+api.SCIMPath+"/ServiceProviderConfig", s.scimConfig)
	s.scim("GET "+api.SCIMPath+"/ResourceTypes", s.scimResourceTypes)
	s.scim("GET "+api.SCIMPath+"/ResourceTypes/{id}", s.scimResourceTypes)
	s.scim("GET "+api.SCIMPath+"/Schemas", s.scimSchemas)
	s.scim("GET "+api.SCIMPath+"/Schemas/{id}", s.scimSchemas)
	s.scim(api.SCIMPath+"/", func(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
		switch strings.TrimPrefix(r.URL.Path, api.SCIMPath+"/") {
		case "Bulk", "Me": // RFC 7644 §3.7, §3.11: 501 when not supported
			return &scimFault{status: http.StatusNotImplemented, err: mayfly.Errorf(mayfly.Invalid, "%s is not supported", r.URL.Path)}
		}
		return mayfly.Errorf(mayfly.NotFound, "no SCIM endpoint for %s %s", r.Method, r.URL.Path)
	})
}

// scim authenticates a bearer credential of role scim before h runs. An
// admin credential is refused too: an identity provider holds a credential
// that can provision people and nothing more, and an admin credential is
// never pasted into one.
func (s *Server) scim(pattern string, h scimHandler) {
	s.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		a, r, err := s.scimCaller(r)
		if err != nil {
			s.scimError(w, r, err)
			return
		}
		if err := h(w, r, a); err != nil {
			s.scimError(w, r, err)
		}
	})
}

func (s *Server) scimCaller(r *http.Request) (*mayfly.AdminCredential, *http.Request, error) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, r, mayfly.Errorf(mayfly.Unauthenticated, "SCIM needs an Authorization: Bearer SCIM credential")
	}
	return s.login(r, bearer, func(role mayfly.Role) bool { return role == mayfly.RoleSCIM },
		func(mayfly.Role) string {
			return "only a SCIM credential may provision users; create one with 'mayfly scim token create'"
		})
}

// scimFault adds to an error what RFC 7644 §3.12 wants beyond Mayfly's
// codes: a scimType, and a status for the failures the codes do not name
// (412, 413, 415, 501).
type scimFault struct {
	scimType string
	status   int // 0: the status of err's code
	err      error
}

func (f *scimFault) Error() string { return f.err.Error() }
func (f *scimFault) Unwrap() error { return f.err }

// scimInvalid is a 400 with the given scimType.
func scimInvalid(scimType, format string, args ...any) error {
	return &scimFault{scimType: scimType, err: mayfly.Errorf(mayfly.Invalid, format, args...)}
}

// scimStatus is the one place where errors become SCIM statuses and
// scimTypes: the status table for Mayfly's codes, overridden by a
// scimFault. An invalid value with no more specific type is invalidValue.
// Only a 400 or a 409 carries a scimType (RFC 7644 §3.12).
func scimStatus(err error) (int, string) {
	code := mayfly.ErrorCode(err)
	st, typ := api.Status[code], ""
	if code == mayfly.Invalid {
		typ = "invalidValue"
	}
	var se *scim.Error
	if errors.As(err, &se) {
		typ = se.Type
	}
	var f *scimFault
	if errors.As(err, &f) {
		if f.status != 0 {
			st = f.status
		}
		if f.scimType != "" {
			typ = f.scimType
		}
	}
	if st != http.StatusBadRequest && st != http.StatusConflict {
		typ = ""
	}
	return st, typ
}

func (s *Server) scimError(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	st, typ := scimStatus(err)
	if st == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mayfly"`)
	}
	retryAfter(w, st, err)
	writeSCIM(w, st, api.SCIMError{Schemas: []string{api.SCIMErrorSchema}, Status: strconv.Itoa(st), SCIMType: typ, Detail: mayfly.ErrorMessage(err)})
}

func writeSCIM(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", api.SCIMContentType)
	writeJSON(w, code, v)
}

// decodeSCIM reads a SCIM request body into v. Unknown attributes are
// ignored, as identity providers send many that Mayfly does not keep;
// attribute names match without regard to case, as RFC 7643 §2.1 says.
func decodeSCIM(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != api.SCIMContentType && mt != "application/json") {
			return &scimFault{status: http.StatusUnsupportedMediaType, err: mayfly.Errorf(mayfly.Invalid, "content type must be %s or application/json", api.SCIMContentType)}
		}
	}
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	trailing := false
	if err == nil {
		_, err = dec.Token()
		if trailing = err != io.EOF; !trailing {
			err = nil
		}
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	switch {
	case err == nil && !trailing:
		return nil
	case errors.As(err, &tooBig):
		return &scimFault{status: http.StatusRequestEntityTooLarge, err: mayfly.Errorf(mayfly.Invalid, "request body exceeds %d bytes", MaxBodySize)}
	case trailing:
		return scimInvalid("invalidSyntax", "request body holds more than one JSON value")
	case errors.As(err, &syntax), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return scimInvalid("invalidSyntax", "request body is not valid JSON: %v", err)
	}
	return scimInvalid("invalidValue", "request body does not fit the SCIM schema: %v", err)
}

// flexBool is a SCIM boolean as identity providers send it: Entra ID sends
// "True" and "False" as strings.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = flexBool(v)
		return nil
	case string:
		if t, ok := map[string]bool{"true": true, "false": false}[strings.ToLower(v)]; ok {
			*b = flexBool(t)
			return nil
		}
	}
	return fmt.Errorf("%s is not a boolean", data)
}

// userInput is a User resource as a client sends it, to POST or PUT.
type userInput struct {
	Schemas     []string     `json:"schemas"`
	ID          *string      `json:"id"`
	ExternalID  *string      `json:"externalId"`
	UserName    *string      `json:"userName"`
	Name        *nameInput   `json:"name"`
	DisplayName *string      `json:"displayName"`
	Emails      []emailInput `json:"emails"`
	Active      *flexBool    `json:"active"`
}

type nameInput struct {
	Formatted  *string `json:"formatted"`
	GivenName  string  `json:"givenName"`
	FamilyName string  `json:"familyName"`
}

type emailInput struct {
	Value   string   `json:"value"`
	Type    string   `json:"type"`
	Primary flexBool `json:"primary"`
}

// checkSchemas requires the core User schema and allows the enterprise
// extension, which Entra ID sends by default.
func checkSchemas(schemas []string, required string, allowed ...string) error {
	if !slices.ContainsFunc(schemas, func(s string) bool { return strings.EqualFold(s, required) }) {
		return scimInvalid("invalidValue", "schemas must include %s", required)
	}
	for _, s := range schemas {
		if !strings.EqualFold(s, required) && !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(s, a) }) {
			return scimInvalid("invalidValue", "schema %q is not supported", s)
		}
	}
	return nil
}

// draft is what a request makes of a person: the attributes Mayfly keeps,
// the status asked for (nil: not asked), and the name parts given, from
// which a missing display name is formed.
type draft struct {
	userName, externalID, displayName, email string
	active                                   *bool
	displaySet                               bool    // displayName given in this request
	formatted                                *string // name.formatted given in this request
	given, family                            string
}

// draftOf is p as it stands.
func draftOf(p *mayfly.Principal) *draft {
	return &draft{userName: p.Name, externalID: p.ExternalID, displayName: p.DisplayName, email: p.Email}
}

// person is what d asks of a person.
func (d *draft) person() scim.Person {
	return scim.Person{UserName: d.userName, ExternalID: d.externalID, DisplayName: d.displayName, Email: d.email, Active: d.active}
}

// finish settles the display name: displayName, else name.formatted, else
// the one it had, else given and family names.
func (d *draft) finish() {
	if !d.displaySet && d.formatted != nil {
		d.displayName = *d.formatted
	}
	if d.displayName == "" {
		d.displayName = strings.TrimSpace(d.given + " " + d.family)
	}
}

// draft validates a POSTed or PUT resource and returns what it asks for.
// Attributes it leaves out are cleared, as a replacement does (RFC 7644
// §3.5.1), except active: leaving it out leaves the status alone.
func (in *userInput) draft() (*draft, error) {
	if err := checkSchemas(in.Schemas, api.SCIMUserSchema, api.SCIMEnterpriseSchema); err != nil {
		return nil, err
	}
	if in.UserName == nil || strings.TrimSpace(*in.UserName) == "" {
		return nil, scimInvalid("invalidValue", "userName is required")
	}
	d := &draft{userName: *in.UserName, externalID: deref(in.ExternalID), email: primaryEmail(in.Emails)}
	if in.DisplayName != nil {
		d.displayName, d.displaySet = *in.DisplayName, true
	}
	if in.Name != nil {
		d.formatted, d.given, d.family = in.Name.Formatted, in.Name.GivenName, in.Name.FamilyName
	}
	if in.Active != nil {
		d.active = new(bool(*in.Active))
	}
	d.finish()
	return d, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// primaryEmail picks the one address Mayfly keeps: the primary, else the
// work address, else the first.
func primaryEmail(es []emailInput) string {
	for _, e := range es {
		if e.Primary {
			return e.Value
		}
	}
	for _, e := range es {
		if strings.EqualFold(e.Type, "work") {
			return e.Value
		}
	}
	if len(es) > 0 {
		return es[0].Value
	}
	return ""
}

func (s *Server) scimUser(p *mayfly.Principal) api.SCIMUser {
	u := api.SCIMUser{
		Schemas: []string{api.SCIMUserSchema}, ID: p.ID, ExternalID: p.ExternalID, UserName: p.Name, DisplayName: p.DisplayName,
		Active: p.Status == mayfly.Active,
		Meta: api.SCIMMeta{ResourceType: "User", Created: p.CreatedAt, LastModified: p.UpdatedAt,
			Location: s.cfg.Issuer + api.SCIMPath + "/Users/" + p.ID, Version: etag(p)},
	}
	if u.Meta.LastModified.IsZero() {
		u.Meta.LastModified = p.CreatedAt
	}
	if p.DisplayName != "" {
		u.Name = &api.SCIMName{Formatted: p.DisplayName}
	}
	if p.Email != "" {
		u.Emails = []api.SCIMEmail{{Value: p.Email, Type: "work", Primary: true}}
	}
	return u
}

// etag is a person's version as a weak entity tag (RFC 7644 §3.14).
func etag(p *mayfly.Principal) string { return fmt.Sprintf(`W/"%d"`, p.Version) }

// etagIn reports whether a list of entity tags, as in If-Match, names tag.
// Tags compare without their weakness marks, as RFC 7644's own examples
// send weak tags in If-Match.
func etagIn(list, tag string) bool {
	want := strings.TrimPrefix(tag, "W/")
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// checkIfMatch fails with 412 if the request names versions and p is at
// none of them.
func checkIfMatch(r *http.Request, p *mayfly.Principal) error {
	h := strings.Join(r.Header.Values("If-Match"), ",")
	if h == "" || etagIn(h, etag(p)) {
		return nil
	}
	return &scimFault{status: http.StatusPreconditionFailed,
		err: mayfly.Errorf(mayfly.Conflict, "the user is at version %s, which If-Match does not name: read it again", etag(p))}
}

func (s *Server) writeUser(w http.ResponseWriter, code int, p *mayfly.Principal) {
	u := s.scimUser(p)
	w.Header().Set("ETag", u.Meta.Version)
	if code == http.StatusCreated {
		w.Header().Set("Location", u.Meta.Location)
	}
	writeSCIM(w, code, u)
}

func (s *Server) scimGet(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	p, err := s.cfg.SCIM.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if p.Status == mayfly.Offboarded {
		return scim.Gone(p)
	}
	if inm := strings.Join(r.Header.Values("If-None-Match"), ","); inm != "" && etagIn(inm, etag(p)) {
		w.Header().Set("ETag", etag(p))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	s.writeUser(w, http.StatusOK, p)
	return nil
}

func (s *Server) scimList(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f, err := parseFilter(q.Get("filter"))
	if err != nil {
		return err
	}
	start, count, err := page(q.Get("startIndex"), q.Get("count"))
	if err != nil {
		return err
	}
	ps, err := s.cfg.SCIM.People(r.Context())
	if err != nil {
		return err
	}
	ps = slices.DeleteFunc(ps, func(p *mayfly.Principal) bool { return !f.match(p) })
	// A stable order, so that pages do not overlap or skip.
	slices.SortFunc(ps, func(a, b *mayfly.Principal) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	out := api.SCIMListResponse[api.SCIMUser]{Schemas: []string{api.SCIMListSchema}, TotalResults: len(ps), StartIndex: start, Resources: []api.SCIMUser{}}
	from := min(start-1, len(ps))
	for _, p := range ps[from:min(from+count, len(ps))] {
		out.Resources = append(out.Resources, s.scimUser(p))
	}
	out.ItemsPerPage = len(out.Resources)
	writeSCIM(w, http.StatusOK, out)
	return nil
}

// page reads startIndex and count (RFC 7644 §3.4.2.4): a startIndex below
// 1 means 1, a negative count 0, and count is at most SCIMMaxResults.
func page(startParam, countParam string) (start, count int, err error) {
	start, count = 1, SCIMMaxResults
	if startParam != "" {
		if start, err = strconv.Atoi(startParam); err != nil {
			return 0, 0, scimInvalid("invalidValue", "startIndex %q is not an integer", startParam)
		}
	}
	if countParam != "" {
		if count, err = strconv.Atoi(countParam); err != nil {
			return 0, 0, scimInvalid("invalidValue", "count %q is not an integer", countParam)
		}
	}
	return max(start, 1), min(max(count, 0), SCIMMaxResults), nil
}

// filter is a parsed filter expression: attr eq value, or nothing.
type filter struct {
	attr  string // "username", "externalid", or "" to match everyone
	value string
}

func (f filter) match(p *mayfly.Principal) bool {
	switch f.attr {
	case "username":
		return strings.EqualFold(p.Name, f.value) // caseExact false
	case "externalid":
		return p.ExternalID == f.value // caseExact true
	}
	return true
}

// parseFilter parses the filters identity providers send to find a user
// before creating one: userName or externalId eq a string (RFC 7644
// §3.4.2.2). Anything else is refused, not answered wrongly.
func parseFilter(expr string) (filter, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return filter{}, nil
	}
	attr, rest := cutSpace(expr)
	op, value := cutSpace(rest)
	attr = strings.ToLower(attr)
	attr = strings.TrimPrefix(attr, strings.ToLower(api.SCIMUserSchema)+":")
	if attr != "username" && attr != "externalid" {
		return filter{}, scimInvalid("invalidFilter", "filters may test userName or externalId only")
	}
	if !strings.EqualFold(op, "eq") {
		return filter{}, scimInvalid("invalidFilter", "filters may use the eq operator only")
	}
	var v string
	if !strings.HasPrefix(value, `"`) || json.Unmarshal([]byte(value), &v) != nil {
		return filter{}, scimInvalid("invalidFilter", "a filter compares with one quoted JSON string, such as userName eq \"alice@example.com\"")
	}
	return filter{attr: attr, value: v}, nil
}

// cutSpace splits s at its first run of white space.
func cutSpace(s string) (before, after string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], unicode.IsSpace)
}

func (s *Server) scimCreate(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	ctx := r.Context()
	var in userInput
	if err := decodeSCIM(r, &in); err != nil {
		return err
	}
	d, err := in.draft()
	if err != nil {
		return err
	}
	p, err := s.cfg.SCIM.Create(ctx, a, d.person())
	if err != nil {
		return err
	}
	s.writeUser(w, http.StatusCreated, p)
	return nil
}

func (s *Server) scimReplace(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var in userInput
	if err := decodeSCIM(r, &in); err != nil {
		return err
	}
	d, err := in.draft()
	if err != nil {
		return err
	}
	if in.ID != nil && *in.ID != r.PathValue("id") {
		return scimInvalid("mutability", "id is read-only and does not match the URL")
	}
	return s.update(w, r, a, func(*mayfly.Principal) (*draft, error) { return d, nil })
}

// patchRequest is a PATCH body (RFC 7644 §3.5.2).
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func (s *Server) scimPatch(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	var req patchRequest
	if err := decodeSCIM(r, &req); err != nil {
		return err
	}
	ops, err := compilePatch(req)
	if err != nil {
		return err
	}
	return s.update(w, r, a, func(p *mayfly.Principal) (*draft, error) {
		d := draftOf(p)
		for _, op := range ops {
			if err := op.apply(d); err != nil {
				return nil, atOp(op.n, err)
			}
		}
		d.finish()
		return d, nil
	})
}

// update applies to the person in the URL the draft that change makes of
// them. Without If-Match, a change that raced another is made again on the
// newer version, as if it had come after it; with If-Match, it fails 412.
func (s *Server) update(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential, change func(*mayfly.Principal) (*draft, error)) error {
	ctx := r.Context()
	for attempt := 1; ; attempt++ {
		p, err := s.cfg.SCIM.Person(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := checkIfMatch(r, p); err != nil {
			return err
		}
		d, err := change(p)
		if err != nil {
			return err
		}
		err = s.cfg.SCIM.Apply(ctx, a, p, d.person())
		if errors.Is(err, scim.ErrRaced) {
			if attempt < 3 && r.Header.Get("If-Match") == "" {
				continue
			}
			if r.Header.Get("If-Match") != "" {
				err = &scimFault{status: http.StatusPreconditionFailed, err: err}
			}
		}
		if err != nil {
			return err
		}
		if p, err = s.cfg.Identity.Fresh(ctx, p.ID); err != nil {
			return err
		}
		s.writeUser(w, http.StatusOK, p)
		return nil
	}
}

func (s *Server) scimDelete(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	ctx := r.Context()
	p, err := s.cfg.SCIM.Person(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	// Deleted already, unless an offboarding was interrupted: then finish it.
	if deleted, err := s.cfg.SCIM.Deleted(ctx, p); err != nil || deleted {
		if err == nil {
			err = scim.Gone(p)
		}
		return err
	}
	if err := checkIfMatch(r, p); err != nil {
		return err
	}
	if err := s.cfg.SCIM.Delete(ctx, a, p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// patchStep is one validated PATCH operation.
type patchStep struct {
	n     int    // the operation's place in the request, from 0
	op    string // add, replace or remove
	path  attrPath
	value json.RawMessage
}

// compilePatch validates a PATCH body's structure and paths; values are
// checked as they are applied, to a draft, before anything is written.
func compilePatch(req patchRequest) ([]patchStep, error) {
	if err := checkSchemas(req.Schemas, api.SCIMPatchSchema); err != nil {
		return nil, err
	}
	if len(req.Operations) == 0 {
		return nil, scimInvalid("invalidValue", "a PATCH needs at least one operation")
	}
	var steps []patchStep
	for i, o := range req.Operations {
		s, err := compileOp(i, o)
		if err != nil {
			return nil, atOp(i, err)
		}
		steps = append(steps, s...)
	}
	return steps, nil
}

func compileOp(i int, o patchOp) ([]patchStep, error) {
	op := strings.ToLower(o.Op)
	if op != "add" && op != "replace" && op != "remove" {
		return nil, scimInvalid("invalidSyntax", "op %q is not add, replace or remove", o.Op)
	}
	if strings.TrimSpace(o.Path) == "" {
		return valueSteps(i, op, o.Value)
	}
	p, err := parsePath(o.Path)
	if err != nil {
		return nil, err
	}
	if op != "remove" && len(o.Value) == 0 {
		return nil, scimInvalid("invalidValue", "%s needs a value", op)
	}
	return []patchStep{{n: i, op: op, path: p, value: o.Value}}, nil
}

// atOp names the operation at fault in an error's message.
func atOp(i int, err error) error {
	var f *scimFault
	var me *mayfly.Error
	if !errors.As(err, &f) || !errors.As(f.err, &me) {
		return err
	}
	return &scimFault{scimType: f.scimType, status: f.status, err: &mayfly.Error{Code: me.Code, Msg: fmt.Sprintf("operation %d: %s", i+1, me.Msg)}}
}

// valueSteps expands an operation without a path, whose value is an object
// of attributes (Okta sends {"op":"replace","value":{"active":false}}).
func valueSteps(i int, op string, value json.RawMessage) ([]patchStep, error) {
	if op == "remove" {
		return nil, scimInvalid("noTarget", "remove needs a path")
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(value, &attrs); err != nil || attrs == nil {
		return nil, scimInvalid("invalidValue", "without a path, the value must be an object of attributes")
	}
	var steps []patchStep
	// Sorted, so that names differing only in case apply in a fixed order.
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		p, err := parsePath(k)
		if err != nil {
			return nil, err
		}
		steps = append(steps, patchStep{n: i, op: op, path: p, value: attrs[k]})
	}
	return steps, nil
}

// attrPath is a parsed PATCH path (RFC 7644 §3.5.2): an attribute, a value
// filter on a multi-valued one, and a sub-attribute, all in lower case.
type attrPath struct {
	attr    string
	filter  bool // attr[...]: which value is not examined, as Mayfly keeps one
	sub     string
	ignored bool // an attribute Mayfly does not keep
}

// The User attributes Mayfly keeps, and sub-attributes of each; and those it
// accepts and ignores.
var (
	keptAttrs = map[string][]string{
		"active": nil, "username": nil, "displayname": nil, "externalid": nil,
		"name":   {"formatted", "givenname", "familyname", "middlename", "honorificprefix", "honorificsuffix"},
		"emails": {"value", "type", "primary", "display"},
	}
	ignoredAttrs = []string{"title", "nickname", "profileurl", "usertype", "preferredlanguage", "locale", "timezone",
		"phonenumbers", "addresses", "ims", "photos", "entitlements", "roles", "x509certificates", "password", "groups"}
)

func parsePath(path string) (attrPath, error) {
	lower := strings.ToLower(strings.TrimSpace(path))
	if ent := strings.ToLower(api.SCIMEnterpriseSchema); lower == ent || strings.HasPrefix(lower, ent+":") {
		return attrPath{ignored: true}, nil
	}
	lower = strings.TrimPrefix(lower, strings.ToLower(api.SCIMUserSchema)+":")
	var p attrPath
	if i := strings.IndexByte(lower, '['); i >= 0 {
		j := strings.LastIndexByte(lower, ']')
		if j < i+2 {
			return p, scimInvalid("invalidPath", "path %q has an unclosed or empty value filter", path)
		}
		p.attr, p.filter = lower[:i], true
		rest := lower[j+1:]
		if rest != "" {
			sub, ok := strings.CutPrefix(rest, ".")
			if !ok {
				return p, scimInvalid("invalidPath", "path %q: a value filter is followed by nothing or .subAttribute", path)
			}
			p.sub = sub
		}
	} else {
		p.attr, p.sub, _ = strings.Cut(lower, ".")
	}
	switch subs, kept := keptAttrs[p.attr]; {
	case slices.Contains(ignoredAttrs, p.attr):
		p.ignored = true
	case p.attr == "id" || p.attr == "meta":
		return p, scimInvalid("mutability", "%s is read-only", p.attr)
	case !kept:
		return p, scimInvalid("invalidPath", "path %q names no attribute of a User", path)
	case p.filter && p.attr != "emails":
		return p, scimInvalid("invalidPath", "path %q: only multi-valued attributes take a value filter", path)
	case p.sub != "" && !slices.Contains(subs, p.sub):
		return p, scimInvalid("invalidPath", "path %q names no sub-attribute of %s", path, p.attr)
	}
	return p, nil
}

// apply performs one operation on d.
func (st patchStep) apply(d *draft) error {
	p := st.path
	if p.ignored {
		return nil
	}
	if st.op == "remove" {
		return p.remove(d)
	}
	v := st.value
	switch p.attr {
	case "active":
		var b flexBool
		if err := json.Unmarshal(v, &b); err != nil || string(v) == "null" {
			return scimInvalid("invalidValue", "active must be true or false")
		}
		d.active = new(bool(b))
		return nil
	case "username":
		s, err := str("userName", v)
		if err == nil && strings.TrimSpace(s) == "" {
			err = scimInvalid("invalidValue", "userName is required")
		}
		d.userName = s
		return err
	case "displayname":
		s, err := str("displayName", v)
		d.displayName, d.displaySet = s, true
		return err
	case "externalid":
		s, err := str("externalId", v)
		d.externalID = s
		return err
	case "name":
		return p.setName(d, v)
	}
	return p.setEmail(d, v)
}

func (p attrPath) setName(d *draft, v json.RawMessage) error {
	if p.sub == "" {
		var n nameInput
		if err := json.Unmarshal(v, &n); err != nil {
			return scimInvalid("invalidValue", "name must be an object")
		}
		d.formatted, d.given, d.family = n.Formatted, n.GivenName, n.FamilyName
		return nil
	}
	s, err := str("name."+p.sub, v)
	switch p.sub {
	case "formatted":
		d.formatted = &s
	case "givenname":
		d.given = s
	case "familyname":
		d.family = s
	}
	return err
}

func (p attrPath) setEmail(d *draft, v json.RawMessage) error {
	switch {
	case p.sub == "value":
		s, err := str("emails.value", v)
		d.email = s
		return err
	case p.sub != "":
		return nil // type, primary, display: Mayfly keeps the address only
	case p.filter:
		var e emailInput
		if err := json.Unmarshal(v, &e); err != nil {
			return scimInvalid("invalidValue", "an email must be an object with a value")
		}
		d.email = e.Value
		return nil
	}
	var es []emailInput
	if err := json.Unmarshal(v, &es); err != nil {
		return scimInvalid("invalidValue", "emails must be an array of objects with a value")
	}
	d.email = primaryEmail(es)
	return nil
}

func (p attrPath) remove(d *draft) error {
	switch p.attr {
	case "active":
		return scimInvalid("invalidValue", "active cannot be removed; set it to false")
	case "username":
		return scimInvalid("invalidValue", "userName is required and cannot be removed")
	case "displayname":
		d.displayName, d.displaySet = "", true
	case "externalid":
		d.externalID = ""
	case "emails":
		if p.sub == "" || p.sub == "value" {
			d.email = ""
		}
	case "name":
		switch p.sub {
		case "", "formatted":
			d.formatted, d.given, d.family = new(""), "", ""
		case "givenname":
			d.given = ""
		case "familyname":
			d.family = ""
		}
	}
	return nil
}

// str reads a string value; null clears the attribute.
func str(attr string, v json.RawMessage) (string, error) {
	var s *string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", scimInvalid("invalidValue", "%s must be a string", attr)
	}
	return deref(s), nil
}

// Discovery (RFC 7644 §4, RFC 7643 §5-7).

func (s *Server) scimMeta(resourceType, path string) api.SCIMMeta {
	return api.SCIMMeta{ResourceType: resourceType, Location: s.cfg.Issuer + api.SCIMPath + path}
}

func (s *Server) scimConfig(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	type supported struct {
		Supported bool `json:"supported"`
	}
	writeSCIM(w, http.StatusOK, map[string]any{
		"schemas":        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"patch":          supported{true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": SCIMMaxResults},
		"changePassword": supported{false},
		"sort":           supported{false},
		"etag":           supported{true},
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "a Mayfly SCIM credential, made with 'mayfly scim token create', as an Authorization: Bearer token",
		}},
		"meta": s.scimMeta("ServiceProviderConfig", "/ServiceProviderConfig"),
	})
	return nil
}

func (s *Server) scimResourceTypes(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	user := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":      "User", "name": "User", "endpoint": "/Users", "description": "People", "schema": api.SCIMUserSchema,
		"schemaExtensions": []any{},
		"meta":             s.scimMeta("ResourceType", "/ResourceTypes/User"),
	}
	return writeDiscovery(w, r, "resource type", map[string]any{"User": user})
}

func (s *Server) scimSchemas(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	schema := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":      api.SCIMUserSchema, "name": "User", "description": "A person",
		"attributes": userAttributes,
		"meta":       s.scimMeta("Schema", "/Schemas/"+api.SCIMUserSchema),
	}
	return writeDiscovery(w, r, "schema", map[string]any{api.SCIMUserSchema: schema})
}

// writeDiscovery answers for one discovery resource by id, or lists them all.
func writeDiscovery(w http.ResponseWriter, r *http.Request, kind string, byID map[string]any) error {
	if id := r.PathValue("id"); id != "" {
		v, ok := byID[id]
		if !ok {
			return mayfly.Errorf(mayfly.NotFound, "no %s %q", kind, id)
		}
		writeSCIM(w, http.StatusOK, v)
		return nil
	}
	out := api.SCIMListResponse[any]{Schemas: []string{api.SCIMListSchema}, TotalResults: len(byID), StartIndex: 1, ItemsPerPage: len(byID)}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out.Resources = append(out.Resources, byID[id])
	}
	writeSCIM(w, http.StatusOK, out)
	return nil
}

// schemaAttr describes an attribute (RFC 7643 §7).
type schemaAttr struct {
	Name            string       `json:"name"`
	Type            string       `json:"type"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description"`
	Required        bool         `json:"required"`
	CaseExact       bool         `json:"caseExact"`
	Mutability      string       `json:"mutability"`
	Returned        string       `json:"returned"`
	Uniqueness      string       `json:"uniqueness"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	SubAttributes   []schemaAttr `json:"subAttributes,omitempty"`
}

func stringAttr(name, desc string) schemaAttr {
	return schemaAttr{Name: name, Type: "string", Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none"}
}

// userAttributes are the User attributes Mayfly keeps.
var userAttributes = []schemaAttr{
	func() schemaAttr {
		a := stringAttr("userName", "Unique identifier of the person, the principal's name: 1-128 letters, digits or . _ @ + -, starting with a letter or digit.")
		a.Required, a.Uniqueness = true, "server"
		return a
	}(),
	{Name: "name", Type: "complex", Description: "The person's name. Mayfly keeps the formatted name, as displayName; given and family names form one when none is given.",
		Mutability: "readWrite", Returned: "default", Uniqueness: "none", SubAttributes: []schemaAttr{
			stringAttr("formatted", "The full name; the same as displayName."),
			{Name: "givenName", Type: "string", Description: "Forms displayName when none is given; not kept.", Mutability: "writeOnly", Returned: "never", Uniqueness: "none"},
			{Name: "familyName", Type: "string", Description: "Forms displayName when none is given; not kept.", Mutability: "writeOnly", Returned: "never", Uniqueness: "none"},
		}},
	stringAttr("displayName", "The name of the person, for display."),
	{Name: "emails", Type: "complex", MultiValued: true, Description: "Email addresses; Mayfly keeps one: the primary, else the work address, else the first.",
		Mutability: "readWrite", Returned: "default", Uniqueness: "none", SubAttributes: []schemaAttr{
			stringAttr("value", "The address."),
			{Name: "type", Type: "string", Description: "Always work.", Mutability: "readWrite", Returned: "default", Uniqueness: "none", CanonicalValues: []string{"work"}},
			{Name: "primary", Type: "boolean", Description: "Always true: the one address kept.", Mutability: "readWrite", Returned: "default", Uniqueness: "none"},
		}},
	{Name: "active", Type: "boolean", Description: "False once the person is suspended or offboarded. Setting it false suspends or offboards them, as the server is configured.",
		Mutability: "readWrite", Returned: "default", Uniqueness: "none"},
	func() schemaAttr {
		a := stringAttr("externalId", "The identity provider's identifier for the person.")
		a.CaseExact = true
		return a
	}(),
}
