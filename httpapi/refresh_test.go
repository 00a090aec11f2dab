package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/refresh"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
	"golang.org/x/oauth2"
)

const customer = "customer:48213377"

// refreshEnv is a server whose loopback peer is a trusted proxy, so that
// each request names its source address in X-Forwarded-For, and a client
// that may have refresh tokens.
type refreshEnv struct {
	*servertest.Env
	c      *mayfly.Client
	secret string
}

func newRefreshEnv(t *testing.T, req api.ClientRequest, opts ...servertest.Option) *refreshEnv {
	t.Helper()
	opts = append(opts, func(c *server.Config) {
		c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	})
	env := servertest.New(t, opts...)
	req.Owner, req.Scopes, req.Refresh = env.Human("alice"), []string{"orders.read"}, true
	c, secret := env.NewClient(req)
	return &refreshEnv{Env: env, c: c, secret: secret}
}

// begin starts a family for subject at e's client, as a token exchange
// does, and returns its ID and first token.
func (e *refreshEnv) begin(t *testing.T, c *mayfly.Client, subject string) (string, string) {
	t.Helper()
	fam, tok, err := e.Server.App.Refresh.Begin(context.Background(), c, subject, "", "192.0.2.10")
	if err != nil || fam == nil {
		t.Fatalf("Begin: %v, %v", fam, err)
	}
	return fam.ID, tok
}

// from sends requests as if from source, through the trusted proxy.
type from struct {
	source string
}

func (f from) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.source)
	return http.DefaultTransport.RoundTrip(r)
}

// refresh exchanges a refresh token with golang.org/x/oauth2, as client
// id with secret, from source.
func (e *refreshEnv) refresh(id, secret, rt, source string) (*oauth2.Token, error) {
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret,
		Endpoint: oauth2.Endpoint{TokenURL: e.URL + api.TokenPath, AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: from{source}})
	return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

func (e *refreshEnv) mustRefresh(t *testing.T, rt, source string) *oauth2.Token {
	t.Helper()
	tok, err := e.refresh(e.c.ID, e.secret, rt, source)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == rt {
		t.Fatalf("refresh: got refresh token %q, want a new one", tok.RefreshToken)
	}
	return tok
}

// oauthCode is the error code of a refused token request.
func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// claims decodes a token's payload, unverified: the server has verified it.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefreshRotates(t *testing.T) {
	e := newRefreshEnv(t, api.ClientRequest{})
	sid, rt := e.begin(t, e.c, customer)
	seen := map[string]bool{rt: true}
	for i := range 3 {
		e.Clock.Advance(time.Minute)
		tok := e.mustRefresh(t, rt, "192.0.2.10")
		if seen[tok.RefreshToken] {
			t.Fatalf("refresh %d returned a refresh token already seen", i)
		}
		seen[tok.RefreshToken] = true
		cl := claims(t, tok.AccessToken)
		act, _ := cl["act"].(map[string]any)
		if cl["sub"] != customer || cl["sid"] != sid || act["sub"] != e.c.ID || cl["client_id"] != e.c.ID {
			t.Errorf("refresh %d: claims sub %v, sid %v, act %v, client_id %v; want %s, %s, {sub: %s}, %s",
				i, cl["sub"], cl["sid"], cl["act"], cl["client_id"], customer, sid, e.c.ID, e.c.ID)
		}
		if !e.Active(tok.AccessToken, e.c.ID, e.secret) {
			t.Errorf("refresh %d: access token not active", i)
		}
		rt = tok.RefreshToken
	}
	// Issuance records name the subject, the actor and the session.
	recs, err := e.Server.App.Token.Issuances(context.Background(), mayfly.IssuanceFilter{Subject: customer})
	if err != nil || len(recs) != 3 || recs[0].SessionID != sid || recs[0].Actor != e.c.ID {
		t.Errorf("issuance records of %s: %+v, %v; want 3 with sid %s and actor %s", customer, recs, err, sid, e.c.ID)
	}
	// The metadata says so.
	var md api.Metadata
	if r := e.Do(mustGet(t, e.URL+"/.well-known/oauth-authorization-server")); json.Unmarshal(r.Body, &md) != nil ||
		!slices.Contains(md.GrantTypes, "refresh_token") || !slices.Contains(md.ClaimsSupported, "sid") {
		t.Errorf("metadata: grant types %v, claims %v; want refresh_token and sid among them", md.GrantTypes, md.ClaimsSupported)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A retired token presented after the grace window is theft: the family
// and every access token it produced are revoked, for introspection and
// for a verifier following the revocation stream, and the legitimate
// holder's next refresh is refused.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newRefreshEnv(t, api.ClientRequest{})
	ctx := context.Background()
	sid, rt := e.begin(t, e.c, customer)
	first := e.mustRefresh(t, rt, "192.0.2.10") // the legitimate holder; rt is retired
	e.Clock.Advance(time.Minute)
	second := e.mustRefresh(t, first.RefreshToken, "192.0.2.10")
	v, err := sdk.New(ctx, sdk.Config{Issuer: e.URL, Audience: e.URL, AdminToken: e.Token, Clock: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := v.WaitReady(wait); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	for _, tok := range []string{first.AccessToken, second.AccessToken} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("before the reuse, the SDK refuses an access token of the family: %v", err)
		}
	}

	// A copy of the first token, presented by someone else.
	_, err = e.refresh(e.c.ID, e.secret, rt, "203.0.113.66")
	if code := oauthCode(err); code != "invalid_grant" {
		t.Fatalf("reused refresh token: got %v (code %q), want invalid_grant", err, code)
	}
	fam, err := e.Server.App.Store().RefreshFamily(ctx, sid)
	if err != nil || !fam.Revoked() {
		t.Fatalf("family after reuse: %+v, %v; want revoked", fam, err)
	}
	if _, err := e.refresh(e.c.ID, e.secret, second.RefreshToken, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("the holder's current token after the reuse: got %v, want invalid_grant", err)
	}
	for i, tok := range []string{first.AccessToken, second.AccessToken} {
		if e.Active(tok, e.c.ID, e.secret) {
			t.Errorf("access token %d of the revoked family is still active", i)
		}
	}
	if err := v.WaitSeq(wait, e.Server.App.Revoker.Seq()); err != nil {
		t.Fatalf("WaitSeq: %v", err)
	}
	for i, tok := range []string{first.AccessToken, second.AccessToken} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.Revoked) {
			t.Errorf("SDK, access token %d of the revoked family: got %v, want %v", i, err, sdk.Revoked)
		}
	}

	// The entry names the family, the customer and both addresses.
	items, err := e.Admin.AuditSearch(ctx, mayfly.AuditFilter{Action: mayfly.ActionRefreshReused})
	if err != nil || len(items) != 1 {
		t.Fatalf("refresh.reused entries: %d, %v; want 1", len(items), err)
	}
	d := items[0].Entry.Details
	if d["family"] != sid || d["sub"] != customer || d["retired_from"] != "192.0.2.10" || d["reused_from"] != "203.0.113.66" {
		t.Errorf("refresh.reused entry details %v; want family %s, sub %s, retired_from 192.0.2.10, reused_from 203.0.113.66", d, sid, customer)
	}
	alerts, err := e.Admin.Alerts(ctx, mayfly.AlertFilter{Rule: mayfly.RuleRefreshReuse})
	if err != nil || len(alerts) != 1 || alerts[0].Subject != "sub:"+customer {
		t.Errorf("refresh-reuse alerts: %+v, %v; want one on sub:%s", alerts, err, customer)
	}
}

// A client that got no answer retries once with the same token within the
// grace window: a new successor, the unused one retired. A second retry,
// or the replaced successor presented later, is reuse.
func TestRefreshGraceRetry(t *testing.T) {
	e := newRefreshEnv(t, api.ClientRequest{})
	ctx := context.Background()
	sid, rt := e.begin(t, e.c, customer)
	lost := e.mustRefresh(t, rt, "192.0.2.10") // the answer that never arrived
	e.Clock.Advance(5 * time.Second)
	retry := e.mustRefresh(t, rt, "192.0.2.10")
	if retry.RefreshToken == lost.RefreshToken {
		t.Fatal("the retry got the lost answer's refresh token")
	}
	if fam, _ := e.Server.App.Store().RefreshFamily(ctx, sid); fam == nil || fam.Revoked() {
		t.Fatalf("family after a retry within grace: %+v; want not revoked", fam)
	}
	e.Clock.Advance(time.Minute)
	next := e.mustRefresh(t, retry.RefreshToken, "192.0.2.10")

	// Only once: a second retry of the same token is theft.
	if _, err := e.refresh(e.c.ID, e.secret, rt, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Fatalf("a second retry: got %v, want invalid_grant", err)
	}
	if fam, _ := e.Server.App.Store().RefreshFamily(ctx, sid); fam == nil || !fam.Revoked() {
		t.Errorf("family after a second retry: %+v; want revoked", fam)
	}
	if _, err := e.refresh(e.c.ID, e.secret, next.RefreshToken, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("the family's current token after the reuse: got %v, want invalid_grant", err)
	}

	// The replaced successor, presented later, is reuse too.
	sid2, rt2 := e.begin(t, e.c, customer)
	lost2 := e.mustRefresh(t, rt2, "192.0.2.10")
	e.Clock.Advance(2 * time.Second)
	e.mustRefresh(t, rt2, "192.0.2.10")
	if _, err := e.refresh(e.c.ID, e.secret, lost2.RefreshToken, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("the replaced successor: got %v, want invalid_grant", err)
	}
	if fam, _ := e.Server.App.Store().RefreshFamily(ctx, sid2); fam == nil || !fam.Revoked() {
		t.Errorf("family after its replaced successor was presented: %+v; want revoked", fam)
	}
	// And after the window, a retry is theft.
	sid3, rt3 := e.begin(t, e.c, customer)
	e.mustRefresh(t, rt3, "192.0.2.10")
	e.Clock.Advance(11 * time.Second)
	if _, err := e.refresh(e.c.ID, e.secret, rt3, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("a retry after the grace window: got %v, want invalid_grant", err)
	}
	if fam, _ := e.Server.App.Store().RefreshFamily(ctx, sid3); fam == nil || !fam.Revoked() {
		t.Errorf("family after a retry past the grace window: %+v; want revoked", fam)
	}
}

func TestRefreshRefused(t *testing.T) {
	e := newRefreshEnv(t, api.ClientRequest{RefreshIdle: "1h", RefreshAbsolute: "3h", Exchange: []string{"customer"},
		JWKS: json.RawMessage(tokentest.LoginJWKS), TokenEndpointAuthMethod: "client_secret_basic"})
	ctx := context.Background()
	other, otherSecret := e.NewClient(api.ClientRequest{Owner: e.Human("bob"), Refresh: true})

	// Another client's token: refused, and not reuse.
	sid, rt := e.begin(t, e.c, customer)
	if _, err := e.refresh(other.ID, otherSecret, rt, "203.0.113.66"); oauthCode(err) != "invalid_grant" {
		t.Errorf("another client's refresh token: got %v, want invalid_grant", err)
	}
	if fam, _ := e.Server.App.Store().RefreshFamily(ctx, sid); fam == nil || fam.Revoked() {
		t.Errorf("family after another client presented its token: %+v; want not revoked", fam)
	}
	rt = e.mustRefresh(t, rt, "192.0.2.10").RefreshToken

	// Garbage, overlong and missing tokens.
	for _, bad := range []string{"x", strings.Repeat("A", 43), rt + "A", strings.Repeat("A", 60000), "../../etc/passwd", "\x00\xff"} {
		if _, err := e.refresh(e.c.ID, e.secret, bad, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
			t.Errorf("refresh token %.20q: got %v, want invalid_grant", bad, err)
		}
	}
	// A token names its family (the sid of every access token, which is
	// no secret) and generation: naming them, current or retired, with a
	// secret of one's own is an unknown token, not a reuse, and leaves
	// the family as it was.
	fam, gen, err := refresh.Parse(rt)
	if err != nil {
		t.Fatal(err)
	}
	secret := rt[strings.LastIndexByte(rt, '.')+1:]
	forged := strings.Repeat("A", len(secret))
	for _, bad := range []string{
		fmt.Sprintf("%s.%d.%s", fam, gen, forged),
		fmt.Sprintf("%s.%d.%s", fam, gen-1, forged),
		fmt.Sprintf("%s.%d.%s", fam, gen-1, secret),
		fmt.Sprintf("%s.%d.%s", fam, gen+1, secret),
		fmt.Sprintf("%s.0%d.%s", fam, gen, secret),
	} {
		if _, err := e.refresh(e.c.ID, e.secret, bad, "203.0.113.66"); oauthCode(err) != "invalid_grant" {
			t.Errorf("refresh token %q: got %v, want invalid_grant", bad, err)
		}
	}
	if f, _ := e.Server.App.Store().RefreshFamily(ctx, fam); f == nil || f.Revoked() || f.Current != gen {
		t.Errorf("family after forged tokens named it: %+v; want it at generation %d, not revoked", f, gen)
	}
	rt = e.mustRefresh(t, rt, "192.0.2.10").RefreshToken

	r := e.PostForm(api.TokenPath, url.Values{"grant_type": {"refresh_token"}}, e.c.ID, e.secret)
	if r.Status != 400 || r.JSON()["error"] != "invalid_request" {
		t.Errorf("no refresh_token: %d %s; want 400 invalid_request", r.Status, r.Body)
	}

	// Idle: unused for its idle lifetime.
	e.Clock.Advance(time.Hour)
	if _, err := e.refresh(e.c.ID, e.secret, rt, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("after the idle lifetime: got %v, want invalid_grant", err)
	}
	// Absolute: used often, but past its absolute lifetime.
	_, rt = e.begin(t, e.c, customer)
	for range 3 {
		e.Clock.Advance(50 * time.Minute)
		rt = e.mustRefresh(t, rt, "192.0.2.10").RefreshToken
	}
	e.Clock.Advance(31 * time.Minute)
	if _, err := e.refresh(e.c.ID, e.secret, rt, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("after the absolute lifetime: got %v, want invalid_grant", err)
	}

	// Logging the customer out, or every customer, ends the families
	// begun before: their next refresh is refused.
	e.Clock.Advance(time.Second)
	_, one := e.begin(t, e.c, customer)
	_, theirs := e.begin(t, e.c, "customer:7")
	_, all := e.begin(t, e.c, "customer:8")
	e.Clock.Advance(time.Second)
	if _, err := e.Admin.RevokeSubject(ctx, customer, "password changed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.refresh(e.c.ID, e.secret, one, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
		t.Errorf("a family begun before its customer was logged out: got %v, want invalid_grant", err)
	}
	theirs = e.mustRefresh(t, theirs, "192.0.2.10").RefreshToken
	if _, err := e.Admin.RevokeNamespace(ctx, api.NamespaceRevokeRequest{Namespace: "customer", Reason: "breach"}); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []string{theirs, all} {
		if _, err := e.refresh(e.c.ID, e.secret, rt, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
			t.Errorf("a family begun before every customer was logged out: got %v, want invalid_grant", err)
		}
	}
	e.Clock.Advance(time.Second)
	_, fresh := e.begin(t, e.c, customer)
	e.mustRefresh(t, fresh, "192.0.2.10")

	// A revoked client refreshes nothing.
	_, rt = e.begin(t, e.c, customer)
	if _, err := e.Admin.RevokeClient(ctx, e.c.ID, "compromised"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.refresh(e.c.ID, e.secret, rt, "192.0.2.10"); oauthCode(err) != "invalid_client" {
		t.Errorf("a revoked client: got %v, want invalid_client", err)
	}

	// A client without refresh tokens begins none.
	plain, _ := e.NewClient(api.ClientRequest{Owner: e.Human("carol")})
	if fam, tok, err := e.Server.App.Refresh.Begin(ctx, plain, customer, "", "192.0.2.10"); fam != nil || tok != "" || err != nil {
		t.Errorf("Begin for a client without --refresh: %v, %q, %v; want nothing", fam, tok, err)
	}
}

// The same refresh token presented by two requests at once: exactly one
// succeeds, the family is then revoked and only the access token handed
// out has a record, with a grace window or without
// (two uses within RetryGap of each other are no client's retry).
func TestRefreshConcurrent(t *testing.T) {
	for name, grace := range map[string]time.Duration{"NoGrace": -1, "Grace": 0} {
		t.Run(name, func(t *testing.T) {
			e := newRefreshEnv(t, api.ClientRequest{}, func(c *server.Config) { c.RefreshGrace = grace })
			sid, rt := e.begin(t, e.c, customer)
			toks, errs := twice(e, rt)
			ok := 0
			var won *oauth2.Token
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					won = toks[i]
				case oauthCode(err) != "invalid_grant":
					t.Errorf("the refused request: got %v, want invalid_grant", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of two requests with one refresh token succeeded; want exactly 1 (errors %v)", ok, errs)
			}
			if fam, _ := e.Server.App.Store().RefreshFamily(context.Background(), sid); fam == nil || !fam.Revoked() {
				t.Errorf("family after two uses at once: %+v; want revoked", fam)
			}
			// Only the access token handed out has a record.
			recs, err := e.Server.App.Store().Issuances(context.Background(), mayfly.IssuanceFilter{Subject: customer})
			if err != nil || len(recs) != 1 || recs[0].SessionID != sid {
				t.Errorf("issuance records of %s: %d, %v; want the winner's alone", customer, len(recs), err)
			}
			if e.Active(won.AccessToken, e.c.ID, e.secret) {
				t.Error("the winner's access token is active after its family was revoked")
			}
			if _, err := e.refresh(e.c.ID, e.secret, won.RefreshToken, "192.0.2.10"); oauthCode(err) != "invalid_grant" {
				t.Errorf("the winner's refresh token: got %v, want invalid_grant", err)
			}
		})
	}
}

// twice presents rt in two requests at once.
func twice(e *refreshEnv, rt string) ([2]*oauth2.Token, [2]error) {
	var toks [2]*oauth2.Token
	var errs [2]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		wg.Go(func() {
			<-start
			toks[i], errs[i] = e.refresh(e.c.ID, e.secret, rt, "192.0.2.10")
		})
	}
	close(start)
	wg.Wait()
	return toks, errs
}

// A family bound to a DPoP key, at a public client (a mobile app), is
// refreshed only with a proof by that key; another key's proof, or none,
// is refused, and neither counts as reuse.
func TestRefreshDPoPBound(t *testing.T) {
	e := newRefreshEnv(t, api.ClientRequest{Public: true, DPoP: mayfly.DPoPRequired})
	ctx := context.Background()
	phone, thief := tokentest.NewDPoPKey(t), tokentest.NewDPoPKey(t)
	fam, rt, err := e.Server.App.Refresh.Begin(ctx, e.c, customer, phone.JKT(), "192.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	post := func(key *tokentest.DPoPKey, rt string) *servertest.Response {
		req, _ := http.NewRequest("POST", e.URL+api.TokenPath, strings.NewReader(url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.c.ID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if key != nil {
			req.Header.Set("DPoP", key.Proof(t, tokentest.ProofClaims{Method: "POST", URL: e.URL + api.TokenPath, IssuedAt: e.Clock.Now()}))
		}
		return e.Do(req)
	}
	if r := post(thief, rt); r.Status != 400 || r.JSON()["error"] != "invalid_grant" {
		t.Errorf("a proof by another key: %d %s; want 400 invalid_grant", r.Status, r.Body)
	}
	if r := post(nil, rt); r.Status != 400 {
		t.Errorf("no proof: %d %s; want 400", r.Status, r.Body)
	}
	r := post(phone, rt)
	if r.Status != 200 || r.JSON()["token_type"] != "DPoP" {
		t.Fatalf("a proof by the family's key: %d %s; want 200 with token_type DPoP", r.Status, r.Body)
	}
	cnf, _ := claims(t, r.JSON()["access_token"].(string))["cnf"].(map[string]any)
	if cnf["jkt"] != phone.JKT() {
		t.Errorf("cnf %v; want jkt %s", cnf, phone.JKT())
	}
	if got, _ := e.Server.App.Store().RefreshFamily(ctx, fam.ID); got == nil || got.Revoked() {
		t.Errorf("family after refused proofs: %+v; want not revoked", got)
	}
}
