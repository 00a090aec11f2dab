package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestFreeTextChecked: every route that takes a name, reason or
// description refuses one with a NUL, a line break, invalid UTF-8 or a
// lone surrogate, naming the field, and changes nothing; the same value
// without the fault is taken. Routes that take no body refuse one.
func TestFreeTextChecked(t *testing.T) {
	e := servertest.New(t)
	ctx := context.Background()
	owner := e.Human("alice")
	c, secret := e.NewClient(api.ClientRequest{Name: "victim", Owner: owner})
	tok := e.IssueToken(c.ID, secret, nil)
	jti := jtiOf(t, tok)
	kid := kidOf(t, tok)
	cred, err := e.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	rc, rsecret := e.NewClient(api.ClientRequest{Name: "receiver", Owner: owner, Scopes: []string{"ssf"}})
	rtok := e.IssueToken(rc.ID, rsecret, nil)
	r := send(t, e, "POST", api.SSFConfigPath, rtok, `{"delivery":{"method":"`+mayfly.DeliveryPoll+`"}}`)
	var stream api.SSFStreamConfig
	if err := json.Unmarshal(r.Body, &stream); err != nil || r.Status != 201 {
		t.Fatalf("stream: %d %s", r.Status, r.Body)
	}

	type route struct {
		method, path, bearer, body, field string
	}
	routes := []route{
		{"POST", "/v1/clients", e.Token, `{"name":%s,"owner":"alice"}`, "name"},
		{"POST", "/v1/credentials", e.Token, `{"name":%s}`, "name"},
		{"POST", "/v1/principals", e.Token, `{"name":%s,"kind":"human"}`, "name"},
		{"POST", "/v1/custody", e.Token, `{"principal":"alice","ring":"default","kind":"granted","reason":%s}`, "reason"},
		{"POST", "/v1/clients/" + c.ID + "/rotate-secret", e.Token, `{"reason":%s}`, "reason"},
		{"POST", "/v1/clients/" + c.ID + "/revoke", e.Token, `{"reason":%s}`, "reason"},
		{"POST", "/v1/tokens/" + jti + "/revoke", e.Token, `{"reason":%s}`, "reason"},
		{"POST", "/v1/keys/" + kid + "/revoke", e.Token, `{"reason":%s}`, "reason"},
		{"POST", "/v1/credentials/" + cred.ID + "/revoke", e.Token, `{"reason":%s}`, "reason"},
		{"POST", "/v1/principals/alice/suspend", e.Token, `{"reason":%s}`, "reason"},
		{"POST", "/v1/principals/alice/offboard", e.Token, `{"reason":%s}`, "reason"},
		{"POST", api.SSFConfigPath, rtok, `{"delivery":{"method":"` + mayfly.DeliveryPoll + `"},"description":%s}`, "description"},
		{"POST", api.SSFStatusPath, rtok, `{"stream_id":"` + stream.StreamID + `","status":"paused","reason":%s}`, "reason"},
		{"POST", api.SSFVerifyPath, rtok, `{"stream_id":"` + stream.StreamID + `","state":%s}`, "state"},
	}
	bad := map[string]string{
		"NUL":            `"a\u0000b"`,
		"line break":     `"a\nb"`,
		"invalid UTF-8":  "\"a\xff\xfeb\"",
		"lone surrogate": `"a\ud800b"`,
		"too long":       `"` + strings.Repeat("x", 600) + `"`,
	}
	for _, rt := range routes {
		for what, v := range bad {
			r := send(t, e, rt.method, rt.path, rt.bearer, strings.Replace(rt.body, "%s", v, 1))
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), rt.field) {
				t.Errorf("%s %s with a %s in %s: %d %s; want 400 naming %s", rt.method, rt.path, what, rt.field, r.Status, r.Body, rt.field)
			}
		}
	}
	if p, err := e.Admin.Principal(ctx, "alice"); err != nil || p.Status != mayfly.Active {
		t.Errorf("alice after refused requests: %+v, %v; want active and unchanged", p, err)
	}
	if cl, err := e.Admin.ClientByID(ctx, c.ID); err != nil || cl.Revoked() {
		t.Errorf("client after refused requests: %+v, %v; want it live", cl, err)
	}
	// The same fields with good text are taken.
	if r := send(t, e, "POST", "/v1/clients/"+c.ID+"/revoke", e.Token, `{"reason":"leaked in a paste, ticket #42"}`); r.Status != 200 {
		t.Errorf("revoke with a plain reason: %d %s", r.Status, r.Body)
	}

	for _, path := range []string{"/v1/rings/default/rotate", "/v1/audit/verify", "/v1/audit/key/rotate"} {
		if r := send(t, e, "POST", path, e.Token, `{"unexpected":true}`); r.Status != http.StatusBadRequest {
			t.Errorf("POST %s with a body: %d %s; want 400", path, r.Status, r.Body)
		}
	}
}

// send makes a request with a raw JSON body and a bearer credential.
func send(t *testing.T, e *servertest.Env, method, path, bearer, body string) *servertest.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	return e.Do(req)
}
