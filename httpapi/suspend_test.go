package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// estate is a person with the layout the README walks through, person ->
// service -> client, plus a client of their own and a second service that
// can be suspended on its own; and someone else's client, which nothing
// here may touch.
type estate struct {
	env              *servertest.Env
	alice            string // the person
	svc, batch       string // her services
	orders, ordSec   string // the service's client
	tool, toolSec    string // her own client
	job, jobSec      string // batch's client
	other, otherSec  string // bob's client, the control
	verifier, verSec string // a resource server's, to introspect with
	stolen           *servertest.Stolen
}

func newEstate(t *testing.T) *estate {
	t.Helper()
	ctx := context.Background()
	env := servertest.New(t)
	e := &estate{env: env, alice: env.Human("alice")}
	for _, s := range []struct {
		name string
		id   *string
	}{{"orders-svc", &e.svc}, {"batch-svc", &e.batch}} {
		p, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: s.name, Kind: mayfly.Service, Owner: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		*s.id = p.ID
	}
	for _, c := range []struct {
		name, owner string
		id, sec     *string
	}{
		{"orders", e.svc, &e.orders, &e.ordSec},
		{"alice-tool", e.alice, &e.tool, &e.toolSec},
		{"nightly-job", e.batch, &e.job, &e.jobSec},
		{"billing", env.Human("bob"), &e.other, &e.otherSec},
		{"verifier", env.Human("resource-owner"), &e.verifier, &e.verSec},
	} {
		cl, sec := env.NewClient(api.ClientRequest{Name: c.name, Owner: c.owner})
		*c.id, *c.sec = cl.ID, sec
	}
	e.stolen = env.Steal("default")
	return e
}

func (e *estate) active(tok string) bool { return e.env.Active(tok, e.verifier, e.verSec) }

// mints reports whether the client gets a token.
func (e *estate) mints(id, secret string) bool {
	return e.env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, id, secret).Status == http.StatusOK
}

// forge mints, with the copied key, a token for client as Mayfly would.
func (e *estate) forge(client, principal string) string {
	return e.stolen.Forge(client, principal, e.env.URL)
}

func (e *estate) status(t *testing.T, ref string, status mayfly.PrincipalStatus) {
	t.Helper()
	ctx := context.Background()
	var err error
	if status == mayfly.Suspended {
		_, err = e.env.Admin.Suspend(ctx, ref, "test")
	} else {
		_, err = e.env.Admin.Reactivate(ctx, ref, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestSuspensionReachesServices: suspending a person stops everything
// offboarding would reach, including the clients of the services they own
// and tokens minted with copied key material after the suspension;
// reactivation brings back exactly what the suspension stopped, and no
// token minted before it.
func TestSuspensionReachesServices(t *testing.T) {
	e := newEstate(t)
	env := e.env
	ordTok := env.IssueToken(e.orders, e.ordSec, nil)
	toolTok := env.IssueToken(e.tool, e.toolSec, nil)
	jobTok := env.IssueToken(e.job, e.jobSec, nil)
	otherTok := env.IssueToken(e.other, e.otherSec, nil)
	for _, tok := range []string{ordTok, toolTok, jobTok, otherTok, e.forge(e.orders, e.svc)} {
		if !e.active(tok) {
			t.Fatal("before any suspension, a token is inactive: the test would prove nothing")
		}
	}

	// batch-svc is suspended on its own first; alice's suspension must not
	// end that one when she comes back.
	env.Clock.Advance(time.Second)
	e.status(t, e.batch, mayfly.Suspended)
	env.Clock.Advance(time.Second)
	e.status(t, e.alice, mayfly.Suspended)

	for _, c := range []struct{ name, id, sec string }{{"the service's client", e.orders, e.ordSec}, {"her client", e.tool, e.toolSec}, {"the other service's client", e.job, e.jobSec}} {
		if e.mints(c.id, c.sec) {
			t.Errorf("suspended: %s got a token", c.name)
		}
	}
	for name, tok := range map[string]string{"the service's client's": ordTok, "her client's": toolTok, "the other service's client's": jobTok} {
		if e.active(tok) {
			t.Errorf("suspended: %s earlier token is active", name)
		}
	}
	env.Clock.Advance(time.Second)
	during := e.forge(e.orders, e.svc)
	if e.active(during) {
		t.Errorf("suspended: a token forged for the service's client after the suspension is active")
	}
	if e.active(e.forge(e.tool, e.alice)) {
		t.Errorf("suspended: a token forged for her client after the suspension is active")
	}
	if _, err := env.Admin.CreateClient(context.Background(), api.ClientRequest{Name: "new", Owner: e.svc}); mayfly.ErrorCode(err) != mayfly.Invalid {
		t.Errorf("suspended: a new client for her service: got %v; want invalid", err)
	}
	if !e.active(otherTok) || !e.mints(e.other, e.otherSec) {
		t.Errorf("someone else's client was stopped by alice's suspension")
	}

	// Reactivating the service while its owner is suspended lifts nothing.
	env.Clock.Advance(time.Second)
	e.status(t, e.batch, mayfly.Active)
	if e.mints(e.job, e.jobSec) {
		t.Errorf("a service reactivated while its owner is suspended: its client got a token")
	}
	e.status(t, e.batch, mayfly.Suspended)

	env.Clock.Advance(time.Second)
	e.status(t, e.alice, mayfly.Active)
	if !e.mints(e.orders, e.ordSec) || !e.mints(e.tool, e.toolSec) {
		t.Errorf("reactivated: her service's client or her own client gets no token")
	}
	if tok := env.IssueToken(e.orders, e.ordSec, nil); !e.active(tok) {
		t.Errorf("reactivated: a token the service's client got since is inactive")
	}
	for name, tok := range map[string]string{"minted before the suspension": ordTok, "forged during the suspension": during} {
		if e.active(tok) {
			t.Errorf("reactivated: a token %s is active again", name)
		}
	}
	if e.mints(e.job, e.jobSec) || e.active(jobTok) {
		t.Errorf("reactivating alice ended batch-svc's own suspension")
	}

	env.Clock.Advance(time.Second)
	e.status(t, e.batch, mayfly.Active)
	if tok := env.IssueToken(e.job, e.jobSec, nil); !e.active(tok) {
		t.Errorf("batch-svc reactivated under an active owner: its client's new token is inactive")
	}
	if e.active(jobTok) {
		t.Errorf("batch-svc reactivated: a token from before its suspension is active again")
	}
	// Every hold and every lift has the audit entry of the change that
	// made it.
	apptest.CheckAuditCoverage(t, env.Server.Store())
}

// TestSCIMDeactivationReachesServices: an identity provider's deactivation
// is a suspension, and reaches the same things.
func TestSCIMDeactivationReachesServices(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	u := e.create(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol"}`)
	svc, err := e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "carol-svc", Kind: mayfly.Service, Owner: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	c, sec := e.NewClient(api.ClientRequest{Name: "svc-client", Owner: svc.ID})
	v, vs := e.NewClient(api.ClientRequest{Name: "verifier", Owner: e.Human("resource-owner")})
	tok := e.IssueToken(c.ID, sec, nil)
	e.Clock.Advance(time.Second)
	e.user(e.req("PATCH", "/Users/"+u.ID, patch(`{"op":"replace","path":"active","value":false}`)), http.StatusOK)
	if e.Active(tok, v.ID, vs) {
		t.Errorf("deactivated over SCIM: her service's client's token is active")
	}
	if st := e.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, c.ID, sec).Status; st != http.StatusUnauthorized {
		t.Errorf("deactivated over SCIM: her service's client at the token endpoint: got %d; want 401", st)
	}
	e.Clock.Advance(time.Second)
	e.user(e.req("PATCH", "/Users/"+u.ID, patch(`{"op":"replace","path":"active","value":true}`)), http.StatusOK)
	if fresh := e.IssueToken(c.ID, sec, nil); !e.Active(fresh, v.ID, vs) || e.Active(tok, v.ID, vs) {
		t.Errorf("reactivated over SCIM: want the new token active and the old one not")
	}
}

// TestOffboardSuspendedHandsOver: offboarding a suspended person to a new
// owner lifts what her suspension held on what changes hands, so that it
// works for its new owner once they take a new secret; a service that was
// suspended on its own stays so.
func TestOffboardSuspendedHandsOver(t *testing.T) {
	e := newEstate(t)
	env := e.env
	ctx := context.Background()
	e.status(t, e.batch, mayfly.Suspended)
	env.Clock.Advance(time.Second)
	e.status(t, e.alice, mayfly.Suspended)
	env.Clock.Advance(time.Second)
	if _, err := env.Admin.Offboard(ctx, "alice", api.OffboardRequest{TransferTo: "bob", Reason: "left"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, id string }{{"the service's client", e.orders}, {"her client", e.tool}, {"the suspended service's client", e.job}} {
		cc, err := env.Admin.RotateSecret(ctx, c.id, "handed over")
		if err != nil {
			t.Fatal(err)
		}
		tok := env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, c.id, cc.Secret)
		if want := c.id != e.job; (tok.Status == http.StatusOK) != want {
			t.Errorf("%s, handed over to bob, with a new secret: token status %d; want it to work: %v", c.name, tok.Status, want)
		}
	}
	apptest.CheckAuditCoverage(t, env.Server.Store())
}
