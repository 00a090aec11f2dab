package identity_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/tokentest"
)

// TestCredentialDefaultRole: a credential asked for without a role
// administers; the store keeps what it is given, so the default is here.
func TestCredentialDefaultRole(t *testing.T) {
	env := apptest.New(t)
	a, _, err := env.App.Identity.NewCredential(env.Admin(), identity.CredentialSpec{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := env.App.Store().AdminCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if c.ID == a.ID && c.Role != mayfly.RoleAdmin {
			t.Errorf("stored role %q; want %q", c.Role, mayfly.RoleAdmin)
		}
	}
}

// TestRevokeClientMarksClient: revoking a client stores the revocation,
// marks the client revoked at its time and records the entry, together.
func TestRevokeClientMarksClient(t *testing.T) {
	env := apptest.New(t)
	ctx := env.Admin()
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("alice")})
	env.Clock.Advance(time.Minute)
	rev, err := env.App.Identity.RevokeClient(ctx, c.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	st := env.App.Store()
	stored, err := st.Client(ctx, c.ID)
	if err != nil || !stored.RevokedAt.Equal(rev.At) || !stored.RevokedAt.Equal(env.Clock.Now()) {
		t.Errorf("stored client: revoked at %v (%v); want %v, the revocation's time", stored.RevokedAt, err, rev.At)
	}
	revs, err := st.Revocations(ctx, 0, env.Clock.Now())
	if err != nil || len(revs) != 1 || revs[0].Kind != mayfly.RevokeClient || revs[0].Subject != c.ID {
		t.Errorf("revocations: %v, %v; want the client's", revs, err)
	}
	recs, err := st.AuditEntries(ctx, mayfly.AuditFilter{Action: mayfly.ActionClientRevoked, Client: c.ID})
	if err != nil || len(recs) != 1 {
		t.Errorf("audit: %v, %v; want one %s entry", recs, err, mayfly.ActionClientRevoked)
	}
	if _, err := env.App.Identity.RevokeClient(ctx, c.ID, "again"); mayfly.ErrorCode(err) != mayfly.Conflict {
		t.Errorf("revoking again: %v; want a conflict", err)
	}
}

// TestCreateClientCustomerSettings: what a client may do with customers'
// tokens is kept as given, and settings that cannot work are refused.
func TestCreateClientCustomerSettings(t *testing.T) {
	env := apptest.New(t)
	ctx := env.Admin()
	owner := env.Human("alice")
	login, secret, err := env.App.Identity.CreateClient(ctx, identity.ClientSpec{Name: "login", Owner: owner, Exchange: []string{"customer", "customer"},
		JWKS: []byte(tokentest.LoginJWKS), AuthMethod: "client_secret_basic",
		Refresh: true, RefreshIdle: 24 * time.Hour, RefreshAbsolute: 30 * 24 * time.Hour, DPoP: mayfly.DPoPRequired})
	if err != nil || secret == "" {
		t.Fatalf("login service client: %v (secret shown: %v)", err, secret != "")
	}
	app, secret, err := env.App.Identity.CreateClient(ctx, identity.ClientSpec{Name: "app", Owner: owner, Public: true, DPoP: mayfly.DPoPRequired})
	if err != nil || secret != "" {
		t.Fatalf("public client: %v, secret %q; want no secret", err, secret)
	}
	for _, want := range []*mayfly.Client{login, app} {
		got, err := env.App.Store().Client(ctx, want.ID)
		if err != nil || fmtClient(got) != fmtClient(want) {
			t.Errorf("stored %s: %v, %v; want %v", want.Name, fmtClient(got), err, fmtClient(want))
		}
	}
	if fmtClient(login) != "[customer] true 24h0m0s 720h0m0s required false [client_secret_basic client_secret_post]" ||
		fmtClient(app) != "[] false 0s 0s required true [none]" {
		t.Errorf("created: %s; %s", fmtClient(login), fmtClient(app))
	}
	for _, spec := range []identity.ClientSpec{
		{Exchange: []string{"Customer"}},
		{Exchange: []string{"customer:1"}},
		{DPoP: "sometimes"},
		{RefreshIdle: time.Hour},
		{Refresh: true, RefreshIdle: time.Second},
		{Refresh: true, RefreshIdle: 48 * time.Hour, RefreshAbsolute: 24 * time.Hour},
		{Refresh: true, RefreshAbsolute: mayfly.MaxRefreshAbsolute + time.Hour},
		{Refresh: true, RefreshIdle: -time.Hour},
		{Public: true},
		{Public: true, DPoP: mayfly.DPoPRequired, Exchange: []string{"customer"}},
		{Public: true, DPoP: mayfly.DPoPRequired, JWKS: []byte(`{"keys":[]}`)},
	} {
		spec.Name, spec.Owner = "bad", owner
		if _, _, err := env.App.Identity.CreateClient(ctx, spec); mayfly.ErrorCode(err) != mayfly.Invalid {
			t.Errorf("CreateClient(%+v): %v; want Invalid", spec, err)
		}
	}
	// A login service without the keys its subject tokens are signed with
	// could never exchange one.
	if _, _, err := env.App.Identity.CreateClient(ctx, identity.ClientSpec{Name: "bad", Owner: owner, Exchange: []string{"customer"}}); mayfly.ErrorCode(err) != mayfly.Invalid || !strings.Contains(err.Error(), "jwks") {
		t.Errorf("an exchange client without jwks: %v; want Invalid, naming jwks", err)
	}
}

func fmtClient(c *mayfly.Client) string {
	return fmt.Sprint(c.Exchange, " ", c.Refresh, " ", c.RefreshIdle, " ", c.RefreshAbsolute, " ", c.DPoP, " ", c.Public, " ", c.AuthMethods())
}
