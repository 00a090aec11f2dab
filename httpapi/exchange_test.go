package httpapi_test

// Token exchange (RFC 8693) over real HTTP against a complete server: a
// login service exchanges subject tokens it signs for its customers'
// access tokens, and every way to abuse that is refused with the RFC's
// error and leaves no token behind.

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// exchanger is a login service: a private_key_jwt client allowed to
// exchange in the customer namespace.
type exchanger struct {
	advJWTClient
	f *advFixture
}

func (f *advFixture) newExchanger(name string, req api.ClientRequest) exchanger {
	f.t.Helper()
	k := advECKey(f.t)
	req.Name, req.Owner = name, f.owner
	req.JWKS = advJWKS(f.t, jose.JSONWebKey{Key: &k.PublicKey, KeyID: name + "-key", Algorithm: "ES256", Use: "sig"})
	c, _ := f.NewClient(req)
	return exchanger{advJWTClient{id: c.ID, kid: name + "-key", key: k}, f}
}

// subjectClaims are a valid subject token's claims for sub.
func (x exchanger) subjectClaims(sub string) map[string]any {
	now := x.f.Clock.Now()
	return map[string]any{"iss": x.id, "sub": sub, "aud": x.f.URL, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": advRandomID(x.f.t)}
}

// subjectToken signs claims with the exchanger's key.
func (x exchanger) subjectToken(claims map[string]any) string {
	return advSign(x.f.t, jose.ES256, x.key, x.kid, "", claims)
}

// exchange posts a token exchange, authenticated by a fresh client
// assertion, with the given parameters over the defaults.
func (x exchanger) exchange(subjectToken string, kv ...string) *servertest.Response {
	x.f.t.Helper()
	return x.exchangeWith(nil, subjectToken, kv...)
}

// exchangeWith is exchange with these headers too.
func (x exchanger) exchangeWith(h http.Header, subjectToken string, kv ...string) *servertest.Response {
	x.f.t.Helper()
	v := url.Values{"grant_type": {api.GrantTokenExchange}, "subject_token": {subjectToken}, "subject_token_type": {api.TokenTypeJWT},
		"client_assertion_type": {token.AssertionType}, "client_assertion": {advSign(x.f.t, jose.ES256, x.key, x.kid, "", x.f.assertionClaims(x.advJWTClient))}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	req, err := http.NewRequest("POST", x.f.URL+api.TokenPath, strings.NewReader(v.Encode()))
	if err != nil {
		x.f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", advFormType)
	for k, vs := range h {
		req.Header[k] = vs
	}
	return x.f.Do(req)
}

func TestTokenExchange(t *testing.T) {
	f := newAdvFixture(t)
	login := f.newExchanger("login", api.ClientRequest{Scopes: []string{"orders.read"}, Audiences: []string{"https://shop.example"},
		Exchange: []string{"customer"}})
	r := login.exchange(login.subjectToken(login.subjectClaims("customer:48213377")), "scope", "orders.read")
	if r.Status != http.StatusOK {
		t.Fatalf("exchange: got status %d (%s), want 200", r.Status, r.Body)
	}
	var resp api.TokenResponse
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.IssuedTokenType != api.TokenTypeAccess || resp.TokenType != "Bearer" || resp.RefreshToken != "" || resp.Scope != "orders.read" {
		t.Errorf("got issued_token_type %q, token_type %q, refresh_token %q, scope %q; want %q, Bearer, none, orders.read",
			resp.IssuedTokenType, resp.TokenType, resp.RefreshToken, resp.Scope, api.TokenTypeAccess)
	}
	cl := f.Server.Token.Introspect(t.Context(), resp.AccessToken)
	if cl == nil {
		t.Fatalf("the exchanged token is not active")
	}
	if cl.Subject != "customer:48213377" || cl.Act == nil || cl.Act.Subject != login.id || cl.ClientID != login.id || cl.Principal != f.owner ||
		len(cl.Audience) != 1 || cl.Audience[0] != "https://shop.example" {
		t.Errorf("got sub %q act %+v client_id %q principal %q aud %v; want customer:48213377, {sub: %s}, %s, %s, [https://shop.example]",
			cl.Subject, cl.Act, cl.ClientID, cl.Principal, cl.Audience, login.id, login.id, f.owner)
	}

	// The record names the subject and the actor, and is found by subject.
	recs, err := f.Admin.Tokens(t.Context(), mayfly.IssuanceFilter{Subject: "customer:48213377"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].JTI != cl.ID || recs[0].Subject != "customer:48213377" || recs[0].Actor != login.id || recs[0].ClientID != login.id {
		t.Fatalf("got records %+v, want one for %s with sub customer:48213377 and act %s", recs, cl.ID, login.id)
	}
	if recs, err := f.Admin.Tokens(t.Context(), mayfly.IssuanceFilter{Subject: "customer:4821337"}); err != nil || len(recs) != 0 {
		t.Errorf("another subject: got %d records (%v), want none", len(recs), err)
	}

	// Discovery says so.
	var md api.Metadata
	if err := json.Unmarshal(f.get(t, "/.well-known/oauth-authorization-server"), &md); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(md.GrantTypes, api.GrantTokenExchange) || !slices.Contains(md.ClaimsSupported, "act") {
		t.Errorf("discovery: grant types %v, claims %v; want %s and act among them", md.GrantTypes, md.ClaimsSupported, api.GrantTokenExchange)
	}
}

// get gets path and returns the body of a 200 answer.
func (f *advFixture) get(t *testing.T, path string) []byte {
	t.Helper()
	r := f.send(advRequest{method: http.MethodGet, path: path, contentType: "-"})
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, r.Status, r.Body)
	}
	return r.Body
}

func TestTokenExchangeRefused(t *testing.T) {
	f := newAdvFixture(t, servertest.NoLockout)
	login := f.newExchanger("login", api.ClientRequest{Scopes: []string{"orders.read"}, Audiences: []string{"https://shop.example"},
		Exchange: []string{"customer", "staff"}})
	other := f.newExchanger("other-login", api.ClientRequest{Scopes: []string{"orders.read"}, Exchange: []string{"customer"}})
	plain := f.newExchanger("no-exchange", api.ClientRequest{Scopes: []string{"orders.read"}})
	now := f.Clock.Now()
	valid := func() map[string]any { return login.subjectClaims("customer:1") }

	pubDER, err := x509.MarshalPKIXPublicKey(&login.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubJWK, err := json.Marshal(jose.JSONWebKey{Key: &login.key.PublicKey, KeyID: login.kid, Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	replayed := login.subjectToken(valid())
	if r := login.exchange(replayed); r.Status != http.StatusOK {
		t.Fatalf("first use: got status %d (%s), want 200", r.Status, r.Body)
	}
	// A client assertion's jti is its own: the same jti in a subject token
	// is no replay of it, and the other way round.
	shared := advRandomID(t)
	ac := f.assertionClaims(login.advJWTClient)
	ac["jti"] = shared
	st := valid()
	st["jti"] = shared
	r := f.PostForm(api.TokenPath, url.Values{"grant_type": {api.GrantTokenExchange}, "subject_token": {login.subjectToken(st)},
		"subject_token_type": {api.TokenTypeJWT}, "client_assertion_type": {token.AssertionType},
		"client_assertion": {advSign(t, jose.ES256, login.key, login.kid, "", ac)}}, "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("subject token and assertion with one jti: got status %d (%s), want 200", r.Status, r.Body)
	}

	type tc struct {
		name string
		x    exchanger // who asks; login if zero
		tok  string
		kv   []string
		code string
	}
	cases := []tc{
		{name: "signed by another client's key", tok: other.subjectToken(valid()), code: "invalid_request"},
		{name: "signed by another client's key, naming it", tok: advSign(t, jose.ES256, other.key, login.kid, "", valid()), code: "invalid_request"},
		{name: "another client's iss", tok: login.subjectToken(advWith(valid(), "iss", other.id)), code: "invalid_request"},
		{name: "another client's token, presented by this one", tok: other.subjectToken(other.subjectClaims("customer:1")), code: "invalid_request"},
		{name: "no iss", tok: login.subjectToken(advWith(valid(), "iss", nil)), code: "invalid_request"},
		{name: "replayed jti", tok: replayed, code: "invalid_request"},
		{name: "no jti", tok: login.subjectToken(advWith(valid(), "jti", nil)), code: "invalid_request"},
		{name: "jti with a NUL", tok: login.subjectToken(advWith(valid(), "jti", "a\x00b")), code: "invalid_request"},
		{name: "jti with a newline", tok: login.subjectToken(advWith(valid(), "jti", "a\nb")), code: "invalid_request"},
		{name: "jti too long", tok: login.subjectToken(advWith(valid(), "jti", strings.Repeat("j", 257))), code: "invalid_request"},
		{name: "expired", tok: login.subjectToken(advWith(valid(), "iat", now.Add(-3*time.Minute).Unix(), "exp", now.Add(-time.Minute).Unix())), code: "invalid_request"},
		{name: "exp too far", tok: login.subjectToken(advWith(valid(), "exp", now.Add(6*time.Minute).Unix())), code: "invalid_request"},
		{name: "no exp", tok: login.subjectToken(advWith(valid(), "exp", nil)), code: "invalid_request"},
		{name: "no iat", tok: login.subjectToken(advWith(valid(), "iat", nil)), code: "invalid_request"},
		{name: "iat in the future", tok: login.subjectToken(advWith(valid(), "iat", now.Add(2*time.Minute).Unix())), code: "invalid_request"},
		{name: "aud the token endpoint", tok: login.subjectToken(advWith(valid(), "aud", f.URL+api.TokenPath)), code: "invalid_request"},
		{name: "aud another", tok: login.subjectToken(advWith(valid(), "aud", "https://shop.example")), code: "invalid_request"},
		{name: "alg none", tok: advUnsigned(t, map[string]any{"kid": login.kid}, valid()), code: "invalid_request"},
		{name: "HS256 keyed with the public key (DER)", tok: advHS256(t, map[string]any{"kid": login.kid}, valid(), pubDER), code: "invalid_request"},
		{name: "HS256 keyed with the public key (JWK)", tok: advHS256(t, map[string]any{"kid": login.kid}, valid(), pubJWK), code: "invalid_request"},
		{name: "sub without namespace", tok: login.subjectToken(advWith(valid(), "sub", "48213377")), code: "invalid_request"},
		{name: "sub with an empty ID", tok: login.subjectToken(advWith(valid(), "sub", "customer:")), code: "invalid_request"},
		{name: "sub with a space", tok: login.subjectToken(advWith(valid(), "sub", "customer:a b")), code: "invalid_request"},
		{name: "sub the client itself", tok: login.subjectToken(advWith(valid(), "sub", login.id)), code: "invalid_request"},
		{name: "sub in a namespace not allowed", tok: login.subjectToken(advWith(valid(), "sub", "admin:1")), code: "unauthorized_client"},
		{name: "sub in another's namespace", x: other, tok: other.subjectToken(other.subjectClaims("staff:1")), code: "unauthorized_client"},
		{name: "client without exchange", x: plain, tok: plain.subjectToken(plain.subjectClaims("customer:1")), code: "unauthorized_client"},
		{name: "secret client", tok: "", code: "unauthorized_client"}, // see below
		{name: "audience not allowed", tok: login.subjectToken(valid()), kv: []string{"audience", "https://evil.example"}, code: "invalid_target"},
		{name: "resource not allowed", tok: login.subjectToken(valid()), kv: []string{"resource", f.URL}, code: "invalid_target"},
		{name: "scope not allowed", tok: login.subjectToken(valid()), kv: []string{"scope", "orders.write"}, code: "invalid_scope"},
		{name: "malformed subject_token", tok: "not.a.jwt", code: "invalid_request"},
		{name: "subject_token of garbage", tok: "%%%", code: "invalid_request"},
		{name: "subject_token in JSON serialization", tok: `{"payload":"e30","signatures":[]}`, code: "invalid_request"},
		{name: "no subject_token", tok: login.subjectToken(valid()), kv: []string{"subject_token", ""}, code: "invalid_request"},
		{name: "no subject_token_type", tok: login.subjectToken(valid()), kv: []string{"subject_token_type", ""}, code: "invalid_request"},
		{name: "wrong subject_token_type", tok: login.subjectToken(valid()), kv: []string{"subject_token_type", api.TokenTypeAccess}, code: "invalid_request"},
		{name: "id_token requested", tok: login.subjectToken(valid()), kv: []string{"requested_token_type", "urn:ietf:params:oauth:token-type:id_token"}, code: "invalid_request"},
		{name: "actor_token", tok: login.subjectToken(valid()), kv: []string{"actor_token", "x", "actor_token_type", api.TokenTypeJWT}, code: "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.issuances()
			var r *servertest.Response
			switch {
			case c.name == "secret client":
				r = f.PostForm(api.TokenPath, url.Values{"grant_type": {api.GrantTokenExchange}, "subject_token": {login.subjectToken(valid())},
					"subject_token_type": {api.TokenTypeJWT}}, f.alpha, f.alphaSecret)
			case c.x.id != "":
				r = c.x.exchange(c.tok, c.kv...)
			default:
				r = login.exchange(c.tok, c.kv...)
			}
			if got := r.JSON()["error"]; r.Status != http.StatusBadRequest || got != c.code {
				t.Errorf("got status %d error %v (%s), want 400 %s", r.Status, got, r.Body, c.code)
			}
			if n := f.issuances(); n != before {
				t.Errorf("got %d issuance records after, want %d as before", n, before)
			}
		})
	}

	// A subject token refused for its audience was not spent: the request
	// made right is answered.
	tok := login.subjectToken(valid())
	if r := login.exchange(tok, "audience", "https://evil.example"); r.Status != http.StatusBadRequest {
		t.Fatalf("audience not allowed: got status %d, want 400", r.Status)
	}
	if r := login.exchange(tok, "audience", "https://shop.example"); r.Status != http.StatusOK {
		t.Errorf("the same subject token, right audience: got status %d (%s), want 200", r.Status, r.Body)
	}
	// A requested_token_type of access_token is what is issued.
	if r := login.exchange(login.subjectToken(valid()), "requested_token_type", api.TokenTypeAccess); r.Status != http.StatusOK {
		t.Errorf("requested access_token: got status %d (%s), want 200", r.Status, r.Body)
	}
}

// One subject token presented by many requests at once is exchanged once:
// uses of a jti committed together are told apart.
func TestTokenExchangeConcurrentReplay(t *testing.T) {
	f := newAdvFixture(t, servertest.NoLockout)
	login := f.newExchanger("login", api.ClientRequest{Scopes: []string{"orders.read"}, Exchange: []string{"customer"}})
	tok := login.subjectToken(login.subjectClaims("customer:7"))
	const n = 16
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- login.exchange(tok).Status })
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for st := range statuses {
		switch st {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
		default:
			t.Errorf("got status %d, want 200 or 400", st)
		}
	}
	if ok != 1 {
		t.Errorf("got %d exchanges of one subject token, want 1", ok)
	}
	if recs, err := f.Admin.Tokens(t.Context(), mayfly.IssuanceFilter{Subject: "customer:7"}); err != nil || len(recs) != 1 {
		t.Errorf("got %d records for the subject (%v), want 1", len(recs), err)
	}
}

// An exchange with a DPoP proof binds the customer's token to the proof's
// key, as client_credentials does; and a customer logged out everywhere
// can log in again: the token exchanged after the mark is active, the one
// before is not.
func TestTokenExchangeDPoPAndLogout(t *testing.T) {
	f := newAdvFixture(t)
	login := f.newExchanger("login", api.ClientRequest{Scopes: []string{"orders.read"}, Exchange: []string{"customer"}})
	k := tokentest.NewDPoPKey(t)
	proof := k.Proof(t, tokentest.ProofClaims{Method: "POST", URL: f.URL + api.TokenPath, IssuedAt: f.Clock.Now()})
	r := login.exchangeWith(http.Header{"Dpop": {proof}}, login.subjectToken(login.subjectClaims("customer:9")))
	if r.Status != http.StatusOK || r.JSON()["token_type"] != "DPoP" || r.JSON()["issued_token_type"] != api.TokenTypeAccess {
		t.Fatalf("exchange with a proof: status %d: %s; want 200, token_type DPoP", r.Status, r.Body)
	}
	bound := r.JSON()["access_token"].(string)
	cl := f.Server.Token.Introspect(t.Context(), bound)
	if cl == nil || cl.Cnf == nil || cl.Cnf.JKT != k.JKT() || cl.Subject != "customer:9" || cl.Act == nil || cl.Act.Subject != login.id {
		t.Fatalf("the bound token's claims: %+v; want cnf.jkt %s, sub customer:9, act %s", cl, k.JKT(), login.id)
	}

	f.Clock.Advance(time.Second)
	if _, err := f.Admin.RevokeSubject(t.Context(), "customer:9", "password changed"); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(time.Second)
	r = login.exchange(login.subjectToken(login.subjectClaims("customer:9")))
	if r.Status != http.StatusOK {
		t.Fatalf("exchange after the logout: status %d: %s", r.Status, r.Body)
	}
	if f.Server.Token.Introspect(t.Context(), r.JSON()["access_token"].(string)) == nil {
		t.Errorf("the token exchanged after the logout is not active")
	}
	if f.Server.Token.Introspect(t.Context(), bound) != nil {
		t.Errorf("the token exchanged before the logout is still active")
	}
}

// TestTokenExchangeThenRefresh: a login service allowed refresh tokens
// gets one with the customer's first access token; refreshing it gives
// the same customer's next token in the same session, and a reuse of the
// first refresh token ends the session.
func TestTokenExchangeThenRefresh(t *testing.T) {
	f := newAdvFixture(t)
	login := f.newExchanger("login", api.ClientRequest{Audiences: []string{"https://shop.example"}, Exchange: []string{"customer"}, Refresh: true})
	decode := func(r *servertest.Response) api.TokenResponse {
		t.Helper()
		var resp api.TokenResponse
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &resp) != nil {
			t.Fatalf("status %d: %s; want a token", r.Status, r.Body)
		}
		return resp
	}
	first := decode(login.exchange(login.subjectToken(login.subjectClaims("customer:7"))))
	if first.RefreshToken == "" {
		t.Fatalf("an exchange for a client with refresh tokens returned none: %+v", first)
	}
	refresh := func(rt string) *servertest.Response {
		return login.exchange("", "grant_type", api.GrantRefreshToken, "refresh_token", rt, "subject_token", "", "subject_token_type", "")
	}
	next := decode(refresh(first.RefreshToken))
	if next.RefreshToken == "" || next.RefreshToken == first.RefreshToken || next.IssuedTokenType != "" {
		t.Errorf("refresh: refresh_token %q (first %q), issued_token_type %q; want a new refresh token, no issued_token_type",
			next.RefreshToken, first.RefreshToken, next.IssuedTokenType)
	}
	a, b := f.Server.Token.Introspect(t.Context(), first.AccessToken), f.Server.Token.Introspect(t.Context(), next.AccessToken)
	if a == nil || b == nil || a.SID == "" || b.SID != a.SID || b.Subject != "customer:7" || b.Act == nil || b.Act.Subject != login.id {
		t.Fatalf("first token %+v, refreshed %+v; want both active, one session, the refreshed for customer:7 by %s", a, b, login.id)
	}
	// The first refresh token again, long after the grace: the session ends.
	f.Clock.Advance(time.Minute)
	if r := refresh(first.RefreshToken); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "invalid_grant") {
		t.Errorf("reusing the first refresh token: status %d: %s; want invalid_grant", r.Status, r.Body)
	}
	if r := refresh(next.RefreshToken); r.Status != http.StatusBadRequest {
		t.Errorf("the session's current refresh token after a reuse: status %d: %s; want it refused", r.Status, r.Body)
	}
	if f.Server.Token.Introspect(t.Context(), next.AccessToken) != nil {
		t.Errorf("the session's access token is still active after a reuse ended it")
	}
}

// TestTokenExchangeWithSecret: a login service may authenticate with a
// secret (token_endpoint_auth_method client_secret_basic) while its JWK
// Set signs its subject tokens; its keys then get it no token alone, and
// a JWK Set beside a secret is refused where it would sign nothing.
func TestTokenExchangeWithSecret(t *testing.T) {
	f := newAdvFixture(t, servertest.NoLockout)
	k := advECKey(t)
	jwks := advJWKS(t, jose.JSONWebKey{Key: &k.PublicKey, KeyID: "login-key", Algorithm: "ES256", Use: "sig"})
	cc, err := f.Admin.CreateClient(t.Context(), api.ClientRequest{Name: "login", Owner: f.owner, Scopes: []string{"orders.read"},
		JWKS: jwks, TokenEndpointAuthMethod: "client_secret_basic", Exchange: []string{"customer"}})
	if err != nil {
		t.Fatal(err)
	}
	if cc.Secret == "" || !slices.Equal(cc.Auth, []string{"client_secret_basic", "client_secret_post"}) {
		t.Fatalf("created with secret %q and auth methods %v; want a secret and its two methods only", cc.Secret, cc.Auth)
	}
	// The audit log says which keys it registered, beside how it authenticates.
	items, err := f.Admin.AuditSearch(t.Context(), mayfly.AuditFilter{Action: mayfly.ActionClientCreated, Client: cc.ID})
	if err != nil || len(items) != 1 || items[0].Entry.Details["jwks"] != "login-key" || items[0].Entry.Details["auth"] != "client_secret_basic client_secret_post" {
		t.Fatalf("client.created entries %+v (%v); want one with jwks login-key and the secret's auth methods", items, err)
	}
	login := exchanger{advJWTClient{id: cc.ID, kid: "login-key", key: k}, f}
	noAssertion := []string{"client_assertion", "", "client_assertion_type", ""}
	basic := func(secret string) http.Header {
		h := http.Header{}
		h.Set("Authorization", advBasic(cc.ID, secret))
		return h
	}

	r := login.exchangeWith(basic(cc.Secret), login.subjectToken(login.subjectClaims("customer:7")), noAssertion...)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange with the secret: got status %d (%s), want 200", r.Status, r.Body)
	}
	var resp api.TokenResponse
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	if cl := f.Server.Token.Introspect(t.Context(), resp.AccessToken); cl == nil || cl.Subject != "customer:7" || cl.Act == nil || cl.Act.Subject != cc.ID {
		t.Fatalf("the exchanged token: %+v; want active, sub customer:7, act %s", cl, cc.ID)
	}
	post := append([]string{"client_id", cc.ID, "client_secret", cc.Secret}, noAssertion...)
	if r := login.exchange(login.subjectToken(login.subjectClaims("customer:8")), post...); r.Status != http.StatusOK {
		t.Fatalf("exchange with client_secret_post: got status %d (%s), want 200", r.Status, r.Body)
	}

	// The keys alone are no credential: a client assertion, however
	// well signed, is refused, for an exchange and for client_credentials.
	advWantError(t, login.exchange(login.subjectToken(login.subjectClaims("customer:9"))), 401, "invalid_client")
	assertion := advSign(t, jose.ES256, k, "login-key", "", f.assertionClaims(login.advJWTClient))
	advWantError(t, f.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {token.AssertionType},
		"client_assertion": {assertion}}, "", ""), 401, "invalid_client")
	// Nor is the secret without a subject token its keys signed.
	other := advECKey(t)
	forged := advSign(t, jose.ES256, other, "login-key", "", login.subjectClaims("customer:9"))
	advWantError(t, login.exchangeWith(basic(cc.Secret), forged, noAssertion...), 400, "invalid_request")
	advWantError(t, login.exchangeWith(basic(cc.Secret+"x"), login.subjectToken(login.subjectClaims("customer:9")), noAssertion...), 401, "invalid_client")

	for _, c := range []struct {
		name  string
		req   api.ClientRequest
		field string
	}{
		{"a secret and keys that sign nothing", api.ClientRequest{JWKS: jwks, TokenEndpointAuthMethod: "client_secret_basic"}, "jwks"},
		{"private_key_jwt without keys", api.ClientRequest{TokenEndpointAuthMethod: "private_key_jwt"}, "token_endpoint_auth_method"},
		{"an unknown method", api.ClientRequest{JWKS: jwks, TokenEndpointAuthMethod: "client_secret_jwt", Exchange: []string{"customer"}}, "token_endpoint_auth_method"},
		{"none for a confidential client", api.ClientRequest{TokenEndpointAuthMethod: "none"}, "token_endpoint_auth_method"},
		{"a secret for a public client", api.ClientRequest{Public: true, DPoP: mayfly.DPoPRequired, TokenEndpointAuthMethod: "client_secret_basic"}, "token_endpoint_auth_method"},
	} {
		c.req.Name, c.req.Owner = "refused", f.owner
		_, err := f.Admin.CreateClient(t.Context(), c.req)
		if mayfly.ErrorCode(err) != mayfly.Invalid || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v; want invalid %s", c.name, err, c.field)
		}
	}
}
