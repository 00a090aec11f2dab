package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// The offboarding workflow end to end, through the API a person's tools
// and the HR system use: internal/offboard's own tests drive the service.

// incident is the situation the service exists for: a developer, dev, who
// administers the signing ring, made a client, saw another team's secret,
// holds an admin credential, and has tokens; and a copy of the ring's key
// material that he could have taken.
type incident struct {
	env                *servertest.Env
	dev, alice         string // principal IDs
	devClient, devSec  string
	orders, ordersSec  string // alice's client, whose secret dev saw
	verifier, verSec   string // a resource server's client, to introspect with
	devAdmin, ciAdmin  *client.Client
	devToken, ordToken string
	stolen             *servertest.Stolen // a copy of the ring's signing key
	oldKIDs            []string           // the ring's keys while dev had custody
}

func setup(t *testing.T, opts ...servertest.Option) *incident {
	t.Helper()
	ctx := context.Background()
	env := servertest.New(t, opts...)
	in := &incident{env: env}
	in.dev, in.alice = env.Human("dev"), env.Human("alice")
	resource := env.Human("resource-owner")
	var err error
	if _, err = env.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: "dev", Ring: "default", Kind: mayfly.CustodyAdmin, Reason: "runs the auth system"}); err != nil {
		t.Fatal(err)
	}
	cred, err := env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "dev laptop", Owner: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	in.devAdmin = client.New(env.URL, cred.Token)
	// dev makes a credential nobody owns, and keeps its token.
	ci, err := in.devAdmin.CreateCredential(ctx, api.CredentialRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	in.ciAdmin = client.New(env.URL, ci.Token)
	cc, err := in.devAdmin.CreateClient(ctx, api.ClientRequest{Name: "dev-tool", Owner: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	in.devClient, in.devSec = cc.ID, cc.Secret
	// Alice's client signs with a ring dev never had: only replacing the
	// secret he saw, and its not-before mark, can stop its tokens.
	if _, err := env.Admin.CreateRing(ctx, api.RingRequest{Name: "orders-ring"}); err != nil {
		t.Fatal(err)
	}
	oc, err := in.devAdmin.CreateClient(ctx, api.ClientRequest{Name: "orders", Owner: "alice", Ring: "orders-ring"}) // dev sees alice's secret
	if err != nil {
		t.Fatal(err)
	}
	in.orders, in.ordersSec = oc.ID, oc.Secret
	v, vs := env.NewClient(api.ClientRequest{Name: "verifier", Owner: resource})
	in.verifier, in.verSec = v.ID, vs
	in.devToken = env.IssueToken(in.devClient, in.devSec, nil)
	in.ordToken = env.IssueToken(in.orders, in.ordersSec, nil)
	for _, k := range env.Server.Keys.Keys("default") {
		if k.Published(env.Clock.Now()) {
			in.oldKIDs = append(in.oldKIDs, k.KID)
		}
	}
	in.stolen = env.Steal("default")
	env.Clock.Advance(time.Second)
	return in
}

// forge mints, offline, a token for the verifier client with the stolen key.
func (in *incident) forge(t *testing.T) string {
	t.Helper()
	return in.stolen.Forge(in.verifier, "", in.env.URL)
}

func (in *incident) active(tok string) bool { return in.env.Active(tok, in.verifier, in.verSec) }

// check asserts that nothing dev had still works.
func (in *incident) check(t *testing.T) {
	t.Helper()
	env := in.env
	if r := env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, in.devClient, in.devSec); r.Status != 401 || r.JSON()["error"] != "invalid_client" {
		t.Errorf("dev's client at the token endpoint: %d %s; want 401 invalid_client", r.Status, r.Body)
	}
	if in.active(in.devToken) {
		t.Errorf("dev's token is still active")
	}
	if in.active(in.ordToken) {
		t.Errorf("a token got with the secret dev saw is still active")
	}
	if r := env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, in.orders, in.ordersSec); r.Status != 401 {
		t.Errorf("the secret dev saw still gets tokens: %d %s", r.Status, r.Body)
	}
	if in.active(in.forge(t)) {
		t.Errorf("a token forged with a copy of the key dev could use is accepted")
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(env.Do(mustRequest(t, "GET", env.URL+api.JWKSPath)).Body, &jwks); err != nil {
		t.Fatal(err)
	}
	for _, k := range jwks.Keys {
		if slices.Contains(in.oldKIDs, k.KeyID) {
			t.Errorf("key %s, published while dev had custody, is still in the JWKS", k.KeyID)
		}
	}
	if len(jwks.Keys) == 0 {
		t.Errorf("the ring publishes no keys after offboarding")
	}
	if _, err := in.devAdmin.Principals(context.Background()); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("dev's admin credential: %v; want unauthenticated", err)
	}
	if _, err := in.ciAdmin.Principals(context.Background()); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("the credential dev made and kept the token of: %v; want unauthenticated", err)
	}
	// The service keeps working for everyone else.
	v := env.IssueToken(in.verifier, in.verSec, nil)
	if !in.active(v) {
		t.Errorf("a fresh token of an unrelated client is not active after offboarding")
	}
	p, err := env.Admin.Principal(context.Background(), "dev")
	if err != nil || p.Status != mayfly.Offboarded {
		t.Errorf("dev: %+v, %v; want offboarded", p, err)
	}
}

// TestIncident replays the incident: offboarding dev leaves him nothing,
// and the report accounts for every action with its audit entry.
func TestIncident(t *testing.T) {
	in := setup(t)
	ctx := context.Background()
	if !in.active(in.devToken) || !in.active(in.forge(t)) {
		t.Fatal("before offboarding, dev's token and a token forged with the live key should be active: the test would prove nothing")
	}
	o, err := in.env.Admin.Offboard(ctx, "dev", api.OffboardRequest{Reason: "left the company"})
	if err != nil {
		t.Fatal(err)
	}
	in.check(t)
	want := map[mayfly.Action]string{
		mayfly.ActionPrincipalOffboarded: in.dev,
		mayfly.ActionClientRevoked:       in.devClient,
		mayfly.ActionCredentialRevoked:   "",
		mayfly.ActionRingRekeyed:         "default",
		mayfly.ActionClientSecretRotated: in.orders,
		mayfly.ActionOffboardingFinished: in.dev,
	}
	got := map[mayfly.Action]bool{}
	for _, a := range o.Actions {
		got[a.Action] = true
		if s, ok := want[a.Action]; ok && s != "" && a.Subject != s {
			t.Errorf("report: %s on %s; want it on %s", a.Action, a.Subject, s)
		}
		e, err := in.env.Admin.AuditEntry(ctx, a.Audit)
		if err != nil {
			t.Fatalf("audit entry %d of %s: %v", a.Audit, a.Action, err)
		}
		if e.Entry.Action != a.Action {
			t.Errorf("report action %s cites audit entry %d, which is %s", a.Action, a.Audit, e.Entry.Action)
		}
	}
	for action := range want {
		if !got[action] {
			t.Errorf("report lacks %s; it has %v", action, o.Actions)
		}
	}
	if o.FinishedAt.IsZero() || len(o.Done) != 5 {
		t.Errorf("run not finished: done %v", o.Done)
	}

	// Offboarding again, later, changes nothing and says so.
	in.env.Clock.Advance(time.Minute)
	jwksBefore := slices.Sorted(slices.Values(jwksKIDs(t, in.env)))
	again, err := in.env.Admin.Offboard(ctx, "dev", api.OffboardRequest{Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Actions) != 1 || again.Actions[0].Action != mayfly.ActionOffboardingFinished || again.ID == o.ID {
		t.Errorf("second offboarding: %+v; want a new run whose only action is offboarding.finished", again.Actions)
	}
	if after := slices.Sorted(slices.Values(jwksKIDs(t, in.env))); !slices.Equal(jwksBefore, after) {
		t.Errorf("second offboarding changed the JWKS: %v -> %v", jwksBefore, after)
	}
	in.check(t)

	// Alice gets her client back by rotating its secret herself.
	cc, err := in.env.Admin.RotateSecret(ctx, in.orders, "dev saw the old one")
	if err != nil {
		t.Fatal(err)
	}
	if tok := in.env.IssueToken(in.orders, cc.Secret, nil); !in.active(tok) {
		t.Errorf("alice's client does not work after she rotated its secret")
	}
}

// TestTransfer hands dev's client to alice instead of revoking it: the
// client keeps working once alice rotates its secret, and dev's secret
// and tokens do not.
func TestTransfer(t *testing.T) {
	in := setup(t)
	ctx := context.Background()
	// A client that authenticates with a key only dev holds, and a service
	// of dev's with a client of its own.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "dev-key", Algorithm: "ES256", Use: "sig"}}})
	keyed, _ := in.env.NewClient(api.ClientRequest{Name: "keyed", Owner: "dev", JWKS: jwks})
	if _, err := in.env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "dev-svc", Kind: mayfly.Service, Owner: "dev"}); err != nil {
		t.Fatal(err)
	}
	svcClient, svcSecret := in.env.NewClient(api.ClientRequest{Name: "svc", Owner: "dev-svc"})
	in.env.Clock.Advance(time.Second)
	o, err := in.env.Admin.Offboard(ctx, "dev", api.OffboardRequest{TransferTo: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := in.env.Admin.ClientByID(ctx, in.devClient)
	if err != nil || c.OwnerID != in.alice || c.Revoked() {
		t.Fatalf("dev's client after transfer: %+v, %v; want owned by alice, not revoked", c, err)
	}
	if r := in.env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, in.devClient, in.devSec); r.Status != 401 {
		t.Errorf("dev's copy of the transferred client's secret still works: %d", r.Status)
	}
	if in.active(in.devToken) {
		t.Errorf("dev's token of the transferred client is still active")
	}
	cc, err := in.env.Admin.RotateSecret(ctx, in.devClient, "transferred")
	if err != nil {
		t.Fatal(err)
	}
	if tok := in.env.IssueToken(in.devClient, cc.Secret, nil); !in.active(tok) {
		t.Errorf("the transferred client does not work for its new owner")
	}
	if !slices.ContainsFunc(o.Actions, func(a api.OffboardActionView) bool {
		return a.Action == mayfly.ActionClientTransferred && a.Subject == in.devClient
	}) {
		t.Errorf("report lacks the transfer: %+v", o.Actions)
	}
	if c, err := in.env.Admin.ClientByID(ctx, keyed.ID); err != nil || !c.Revoked() {
		t.Errorf("the client authenticating with dev's key after the transfer: %+v, %v; want revoked", c, err)
	}
	if r := in.env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, svcClient.ID, svcSecret); r.Status != 401 {
		t.Errorf("the secret of dev's service's client still gets tokens after the transfer: %d", r.Status)
	}
	if svc, err := in.env.Admin.Principal(ctx, "dev-svc"); err != nil || svc.OwnerID != in.alice || svc.Status != mayfly.Active {
		t.Errorf("dev's service after the transfer: %+v, %v; want active and owned by alice", svc, err)
	}
}

// TestResumeAfterCrash stops a run after its second step, as a crash would,
// and restarts the server: the run finishes at start, once, and the end
// state is the same as an uninterrupted run's.
func TestResumeAfterCrash(t *testing.T) {
	crash := errors.New("crash between steps")
	in := setup(t, func(c *server.Config) {
		c.AfterOffboardStep = func(step string) error {
			if step == "credentials" {
				return crash
			}
			return nil
		}
	})
	ctx := context.Background()
	if _, err := in.env.Admin.Offboard(ctx, "dev", api.OffboardRequest{Reason: "left"}); err == nil {
		t.Fatal("the run did not stop at the injected crash")
	}
	runs, err := in.env.Admin.Offboardings(ctx, "dev")
	if err != nil || len(runs) != 1 || runs[0].Finished() || !slices.Equal(runs[0].Done, []string{"status", "credentials"}) {
		t.Fatalf("after the crash: %+v, %v; want one unfinished run with status and credentials done", runs, err)
	}
	in.env = in.env.Restart()
	in.devAdmin = client.New(in.env.URL, in.devAdmin.Token)
	runs, err = in.env.Admin.Offboardings(ctx, "dev")
	if err != nil || len(runs) != 1 || !runs[0].Finished() || len(runs[0].Done) != 5 {
		t.Fatalf("after restart: %+v, %v; want the one run finished", runs, err)
	}
	in.check(t)
}

// TestRootKeyCustodian: offboarding someone who had the root key leaves
// nothing they could unseal: every ring's keys are replaced, the audit log
// gets a new key, the root key is replaced, and the server restarts on it.
func TestRootKeyCustodian(t *testing.T) {
	in := setup(t)
	env := in.env
	ctx := context.Background()
	env.Human("ops")
	if _, err := env.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: "ops", RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "restore drill"}); err != nil {
		t.Fatal(err)
	}
	logKey, err := env.Admin.AuditKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour) // the keys predate the offboarding
	if !in.active(in.forge(t)) {
		t.Fatal("a token forged with the live key is not active before the offboarding: the test would prove nothing")
	}
	file := filepath.Join(env.Dir, "root.key")
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	o, err := env.Admin.Offboard(ctx, "ops", api.OffboardRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rekeyed := map[string]bool{}
	for _, a := range o.Actions {
		if a.Action == mayfly.ActionRingRekeyed {
			rekeyed[a.Subject] = true
		}
	}
	for _, action := range []mayfly.Action{mayfly.ActionRootKeyRotated, mayfly.ActionAuditKeyReplaced} {
		if !slices.ContainsFunc(o.Actions, func(a api.OffboardActionView) bool { return a.Action == action }) {
			t.Errorf("report lacks %s: %+v", action, o.Actions)
		}
	}
	if !rekeyed["default"] || !rekeyed["orders-ring"] {
		t.Errorf("rings rekeyed %v; want every ring, since ops could unseal them all", rekeyed)
	}
	if in.active(in.forge(t)) {
		t.Errorf("a token forged with key material ops could unseal is still active")
	}
	if k, err := env.Admin.AuditKey(ctx); err != nil || k.VerifierKey == logKey.VerifierKey {
		t.Errorf("audit log key after offboarding ops: %+v, %v; want a new one", k, err)
	}
	now, err := os.ReadFile(file)
	if err != nil || string(now) == string(old) {
		t.Fatalf("root key file unchanged (%v)", err)
	}
	oldRoot, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(old)))
	oldSealer, _ := seal.New(oldRoot)
	keys, _ := env.Server.Store().Keys(ctx)
	for _, k := range keys {
		if len(k.Sealed) > 0 {
			if _, err := oldSealer.Open(k.Sealed, []byte("mayfly signing key "+k.KID)); err == nil {
				t.Errorf("key %s still opens under the replaced root key", k.KID)
			}
		}
	}
	// The server restarts on the new file and still signs.
	env = env.Restart()
	p := env.Human("carol")
	c, sec := env.NewClient(api.ClientRequest{Name: "c", Owner: p})
	if tok := env.IssueToken(c.ID, sec, nil); !env.Active(tok, c.ID, sec) {
		t.Errorf("no working token after the root key rotation and a restart")
	}
	if _, err := os.Stat(file + ".next"); !os.IsNotExist(err) {
		t.Errorf("root.key.next left behind: %v", err)
	}
}

// TestSuspend: suspension stops a person's clients' tokens; reactivation
// lets new ones work but not those minted before the suspension.
func TestSuspend(t *testing.T) {
	in := setup(t)
	ctx := context.Background()
	if _, err := in.env.Admin.Suspend(ctx, "dev", "on leave"); err != nil {
		t.Fatal(err)
	}
	if _, err := in.devAdmin.Principals(ctx); mayfly.ErrorCode(err) != mayfly.Unauthenticated {
		t.Errorf("a suspended person's admin credential: %v; want unauthenticated", err)
	}
	if in.active(in.devToken) {
		t.Errorf("a suspended person's client's token is active")
	}
	if r := in.env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, in.devClient, in.devSec); r.Status == 200 {
		t.Errorf("a suspended person's client got a token")
	}
	in.env.Clock.Advance(time.Second)
	if _, err := in.env.Admin.Reactivate(ctx, "dev", "back"); err != nil {
		t.Fatal(err)
	}
	if in.active(in.devToken) {
		t.Errorf("a token minted before the suspension is active again after reactivation")
	}
	if tok := in.env.IssueToken(in.devClient, in.devSec, nil); !in.active(tok) {
		t.Errorf("a token minted after reactivation is not active")
	}
	if _, err := in.devAdmin.Principals(ctx); err != nil {
		t.Errorf("a reactivated person's admin credential: %v", err)
	}
}

// TestIncidentSCIM: the same incident, with the HR system deprovisioning
// dev through SCIM: DELETE /scim/v2/Users/{id} leaves him nothing.
func TestIncidentSCIM(t *testing.T) {
	in := setup(t)
	ctx := context.Background()
	cred, err := in.env.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "hr system", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("DELETE", in.env.URL+"/scim/v2/Users/"+in.dev, nil)
	req.Header.Set("Authorization", "Bearer "+cred.Token)
	if r := in.env.Do(req); r.Status != http.StatusNoContent {
		t.Fatalf("SCIM DELETE: %d %s", r.Status, r.Body)
	}
	in.check(t)
	runs, err := in.env.Admin.Offboardings(ctx, "dev")
	if err != nil || len(runs) != 1 || !runs[0].Finished() {
		t.Fatalf("offboarding runs after SCIM DELETE: %+v, %v", runs, err)
	}
	if !slices.ContainsFunc(runs[0].Actions, func(a api.OffboardActionView) bool { return a.Action == mayfly.ActionRingRekeyed }) {
		t.Errorf("the SCIM offboarding did not rekey the ring dev administered: %+v", runs[0].Actions)
	}
}
