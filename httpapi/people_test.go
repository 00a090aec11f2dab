package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestPeopleEndpointsRefuseBadInput: every malformed or disallowed request
// to the lifecycle endpoints gets a clear error and changes nothing.
func TestPeopleEndpointsRefuseBadInput(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	env.Human("alice")
	if _, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "billing", Kind: mayfly.Service, Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	jwksClient, _ := env.NewClient(api.ClientRequest{Owner: "alice", JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)})
	scim, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "idp", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body, bearer string
		status                           int
		field                            string
	}{
		{"custody with two assets", "POST", "/v1/custody", `{"principal":"alice","ring":"default","root_key":true,"reason":"x"}`, "", 400, "asset"},
		{"custody with no asset", "POST", "/v1/custody", `{"principal":"alice","reason":"x"}`, "", 400, "asset"},
		{"custody of an unknown kind", "POST", "/v1/custody", `{"principal":"alice","ring":"default","kind":"owns","reason":"x"}`, "", 400, "kind"},
		{"custody without a reason", "POST", "/v1/custody", `{"principal":"alice","ring":"default"}`, "", 400, "reason"},
		{"custody of an unknown ring", "POST", "/v1/custody", `{"principal":"alice","ring":"nope","reason":"x"}`, "", 404, ""},
		{"custody for nobody", "POST", "/v1/custody", `{"principal":"nobody","ring":"default","reason":"x"}`, "", 404, ""},
		{"custody with an unknown field", "POST", "/v1/custody", `{"principal":"alice","ring":"default","reason":"x","extra":1}`, "", 400, ""},
		{"offboard nobody", "POST", "/v1/principals/nobody/offboard", ``, "", 404, ""},
		{"offboard handing over to oneself", "POST", "/v1/principals/alice/offboard", `{"transfer_to":"alice"}`, "", 400, "transfer_to"},
		{"offboard handing over to a service", "POST", "/v1/principals/alice/offboard", `{"transfer_to":"billing"}`, "", 400, "transfer_to"},
		{"offboard with a long reason", "POST", "/v1/principals/alice/offboard", `{"reason":"` + strings.Repeat("x", 600) + `"}`, "", 400, "reason"},
		{"offboard with bad JSON", "POST", "/v1/principals/alice/offboard", `{"reason":`, "", 400, ""},
		{"suspend nobody", "POST", "/v1/principals/nobody/suspend", ``, "", 404, ""},
		{"rotate an unknown client's secret", "POST", "/v1/clients/mfc_nope/rotate-secret", ``, "", 404, ""},
		{"rotate a private_key_jwt client's secret", "POST", "/v1/clients/" + jwksClient.ID + "/rotate-secret", ``, "", 409, ""},
		{"credential with an unknown role", "POST", "/v1/credentials", `{"name":"x","role":"root"}`, "", 400, "role"},
		{"credential owned by a service", "POST", "/v1/credentials", `{"name":"x","owner":"billing"}`, "", 400, "owner"},
		{"credential without a name", "POST", "/v1/credentials", `{"name":""}`, "", 400, "name"},
		{"revoke an unknown credential", "POST", "/v1/credentials/adm_nope/revoke", ``, "", 404, ""},
		{"a SCIM credential on the admin API", "GET", "/v1/principals", ``, scim.Token, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, env)
			req, _ := http.NewRequest(tt.method, env.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			bearer := tt.bearer
			if bearer == "" {
				bearer = env.Token
			}
			req.Header.Set("Authorization", "Bearer "+bearer)
			r := env.Do(req)
			body := r.JSON()
			if r.Status != tt.status || body["message"] == "" || body["message"] == nil {
				t.Fatalf("got %d %s; want %d with a message", r.Status, r.Body, tt.status)
			}
			if tt.field != "" && body["field"] != tt.field {
				t.Errorf("field %v; want %q", body["field"], tt.field)
			}
			if after := snapshot(t, env); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot summarises the state these endpoints could change.
func snapshot(t *testing.T, env *servertest.Env) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	ps, err := env.Admin.Principals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		b.WriteString(p.Name + ":" + string(p.Status) + " ")
	}
	cs, _ := env.Admin.Clients(ctx)
	for _, c := range cs {
		b.WriteString(c.ID + ":" + c.OwnerID + ":" + c.SecretRotatedAt.String() + ":" + c.RevokedAt.String() + " ")
	}
	cu, _ := env.Admin.Custody(ctx, "", "")
	creds, _ := env.Admin.Credentials(ctx)
	runs, _ := env.Admin.Offboardings(ctx, "alice")
	b.WriteString(strings.Repeat("c", len(cu)) + strings.Repeat("a", len(creds)) + strings.Repeat("o", len(runs)))
	// What a refused request must not have revoked or rotated either.
	revs, _ := env.Server.Store().Revocations(ctx, 0, env.Clock.Now())
	keys, _ := env.Admin.Keys(ctx, "")
	b.WriteString(" revocations:" + fmt.Sprint(len(revs)) + " keys:")
	for _, k := range keys {
		b.WriteString(k.KID + "=" + string(k.State) + " ")
	}
	return b.String()
}
