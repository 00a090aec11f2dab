package httpapi_test

// Adversarial tests of the OAuth2 endpoints and the admin API, over real HTTP
// against a complete server (servertest): hostile requests must fail with the
// right RFC 6749 / RFC 7009 / RFC 7662 answer, and must change nothing.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"github.com/mayflyhq/mayfly/server/servertest"
)

const advFormType = "application/x-www-form-urlencoded"

// fixture is a running server with one human owner and two secret clients.
type advFixture struct {
	*servertest.Env
	t     *testing.T
	owner string

	// alpha may have scopes read and write and two audiences.
	alpha, alphaSecret string
	// beta may have scope read and the issuer as its audience.
	beta, betaSecret string
}

func newAdvFixture(t *testing.T, opts ...servertest.Option) *advFixture {
	t.Helper()
	env := servertest.New(t, opts...)
	f := &advFixture{Env: env, t: t}
	f.owner = env.Human("alice")
	a, as := env.NewClient(api.ClientRequest{
		Name: "alpha", Owner: f.owner, Scopes: []string{"read", "write"},
		Audiences: []string{"https://api.example", "https://other.example"},
	})
	b, bs := env.NewClient(api.ClientRequest{Name: "beta", Owner: f.owner, Scopes: []string{"read"}})
	f.alpha, f.alphaSecret, f.beta, f.betaSecret = a.ID, as, b.ID, bs
	return f
}

// issuances counts issuance records through the admin API.
func (f *advFixture) issuances() int {
	f.t.Helper()
	recs, err := f.Admin.Tokens(f.t.Context(), mayfly.IssuanceFilter{})
	if err != nil {
		f.t.Fatalf("list issuances: %v", err)
	}
	return len(recs)
}

// request is one raw HTTP request to the server.
type advRequest struct {
	method      string // default POST
	path        string // default the token endpoint
	query       string // raw query string
	contentType string // default form; "-" sends none
	body        string
	auth        string // raw Authorization header
}

func (f *advFixture) send(r advRequest) *servertest.Response {
	f.t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = api.TokenPath
	}
	u := f.URL + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequestWithContext(f.t.Context(), r.method, u, strings.NewReader(r.body))
	if err != nil {
		f.t.Fatal(err)
	}
	switch r.contentType {
	case "":
		req.Header.Set("Content-Type", advFormType)
	case "-":
	default:
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	return f.Do(req)
}

// basic returns a client_secret_basic Authorization header (RFC 6749 2.3.1).
func advBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// wantOAuthError checks an RFC 6749 section 5.2 error response.
func advWantError(t *testing.T, r *servertest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("got status %d, want %d (body %s)", r.Status, status, r.Body)
	}
	body := r.JSON()
	if got, _ := body["error"].(string); got != code {
		t.Errorf("got error %q, want %q (body %s)", got, code, r.Body)
	}
	if _, ok := body["access_token"]; ok {
		t.Errorf("got an access_token in an error response: %s", r.Body)
	}
	if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("got Cache-Control %q, want no-store", got)
	}
}

// wantToken checks a successful token response and returns the token.
func advWantToken(t *testing.T, r *servertest.Response) string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("got status %d, want 200 (body %s)", r.Status, r.Body)
	}
	tok, _ := r.JSON()["access_token"].(string)
	if tok == "" {
		t.Fatalf("got no access_token, want one (body %s)", r.Body)
	}
	return tok
}

func advForm(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func TestTokenEndpointRejectsHostileRequests(t *testing.T) {
	f := newAdvFixture(t, servertest.NoLockout) // one bad credential after another: see limit_test.go
	good := advBasic(f.alpha, f.alphaSecret)
	cc := "grant_type=client_credentials"
	huge := cc + "&scope=" + strings.Repeat("a", httpapi.MaxBodySize)

	tests := []struct {
		name    string
		req     advRequest
		status  int
		code    string
		wwwAuth bool // a Basic challenge is required
	}{
		// grant_type.
		{name: "missing grant_type", req: advRequest{body: "scope=read", auth: good}, status: 400, code: "invalid_request"},
		{name: "empty grant_type", req: advRequest{body: "grant_type=&scope=read", auth: good}, status: 400, code: "invalid_request"},
		{name: "empty body", req: advRequest{auth: good}, status: 400, code: "invalid_request"},
		{name: "password grant", req: advRequest{body: advForm("grant_type", "password", "username", "alice", "password", "x"), auth: good}, status: 400, code: "unsupported_grant_type"},
		{name: "authorization_code grant", req: advRequest{body: advForm("grant_type", "authorization_code", "code", "abc"), auth: good}, status: 400, code: "unsupported_grant_type"},
		{name: "refresh_token grant", req: advRequest{body: advForm("grant_type", "refresh_token", "refresh_token", "abc"), auth: good}, status: 400, code: "invalid_grant"},
		{name: "jwt-bearer grant", req: advRequest{body: advForm("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion", "a.b.c"), auth: good}, status: 400, code: "unsupported_grant_type"},
		{name: "grant_type in other case", req: advRequest{body: "grant_type=Client_Credentials", auth: good}, status: 400, code: "unsupported_grant_type"},
		{name: "grant_type only in query", req: advRequest{query: cc, body: "scope=read", auth: good}, status: 400, code: "invalid_request"},

		// Content type and encoding.
		{name: "json content type", req: advRequest{contentType: "application/json", body: `{"grant_type":"client_credentials"}`, auth: good}, status: 400, code: "invalid_request"},
		{name: "json body sent as form", req: advRequest{body: `{"grant_type":"client_credentials"}`, auth: good}, status: 400, code: "invalid_request"},
		{name: "text/plain", req: advRequest{contentType: "text/plain", body: cc, auth: good}, status: 400, code: "invalid_request"},
		{name: "multipart", req: advRequest{contentType: "multipart/form-data; boundary=x", body: "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n", auth: good}, status: 400, code: "invalid_request"},
		{name: "no content type", req: advRequest{contentType: "-", body: cc, auth: good}, status: 400, code: "invalid_request"},
		{name: "malformed content type", req: advRequest{contentType: "application/x-www-form-urlencoded; ;;=", body: cc, auth: good}, status: 400, code: "invalid_request"},
		{name: "bad percent encoding", req: advRequest{body: cc + "&scope=%zz", auth: good}, status: 400, code: "invalid_request"},
		{name: "semicolon separator", req: advRequest{body: cc + ";scope=read", auth: good}, status: 400, code: "invalid_request"},

		// Repeated parameters (RFC 6749 section 3.2).
		{name: "grant_type twice", req: advRequest{body: cc + "&" + cc, auth: good}, status: 400, code: "invalid_request"},
		{name: "scope twice", req: advRequest{body: cc + "&scope=read&scope=write", auth: good}, status: 400, code: "invalid_request"},
		{name: "client_id twice", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_id", f.alpha, "client_secret", f.alphaSecret)}, status: 400, code: "invalid_request"},
		{name: "client_secret twice", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_secret", "wrong", "client_secret", f.alphaSecret)}, status: 400, code: "invalid_request"},

		// Size.
		{name: "body over MaxBodySize", req: advRequest{body: huge, auth: good}, status: 400, code: "invalid_request"},

		// Credentials in the URL are ignored.
		{name: "client_secret only in query", req: advRequest{query: advForm("client_id", f.alpha, "client_secret", f.alphaSecret), body: cc}, status: 401, code: "invalid_client"},
		{name: "client_secret in query, client_id in body", req: advRequest{query: advForm("client_secret", f.alphaSecret), body: advForm("grant_type", "client_credentials", "client_id", f.alpha)}, status: 401, code: "invalid_client"},

		// Wrong credentials.
		{name: "no credentials", req: advRequest{body: cc}, status: 401, code: "invalid_client"},
		{name: "basic wrong secret", req: advRequest{body: cc, auth: advBasic(f.alpha, f.alphaSecret+"x")}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic another client's secret", req: advRequest{body: cc, auth: advBasic(f.alpha, f.betaSecret)}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic unknown client", req: advRequest{body: cc, auth: advBasic("mfc_doesnotexist", f.alphaSecret)}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic empty secret", req: advRequest{body: cc, auth: advBasic(f.alpha, "")}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic empty client id", req: advRequest{body: cc, auth: advBasic("", f.alphaSecret)}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic secret hash prefix", req: advRequest{body: cc, auth: advBasic(f.alpha, f.alphaSecret[:len(f.alphaSecret)-1])}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "post wrong secret", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_secret", "mfs_wrong")}, status: 401, code: "invalid_client"},
		{name: "post unknown client", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", "mfc_nobody", "client_secret", f.alphaSecret)}, status: 401, code: "invalid_client"},
		{name: "post empty secret", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_secret", "")}, status: 401, code: "invalid_client"},
		{name: "post secret without client_id", req: advRequest{body: advForm("grant_type", "client_credentials", "client_secret", f.alphaSecret)}, status: 401, code: "invalid_client"},

		// Two methods at once.
		{name: "basic and client_secret_post", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_secret", f.alphaSecret), auth: good}, status: 400, code: "invalid_request"},
		{name: "basic and client_assertion", req: advRequest{body: advForm("grant_type", "client_credentials", "client_assertion_type", token.AssertionType, "client_assertion", "a.b.c"), auth: good}, status: 400, code: "invalid_request"},

		// Malformed Authorization headers.
		{name: "basic not base64", req: advRequest{body: cc, auth: "Basic !!!not-base64!!!"}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic without colon", req: advRequest{body: cc, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(f.alpha+f.alphaSecret))}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic bad escaping", req: advRequest{body: cc, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(f.alpha+":%zz"))}, status: 401, code: "invalid_client", wwwAuth: true},
		// Authentication schemes are case-insensitive (RFC 9110 11.1) and
		// Go's BasicAuth treats them so; RFC 6749 5.2 then requires a
		// challenge matching the scheme the client used.
		{name: "basic scheme without credentials", req: advRequest{body: cc, auth: "Basic"}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic lowercase scheme wrong secret", req: advRequest{body: cc, auth: "basic" + strings.TrimPrefix(advBasic(f.alpha, "mfs_wrong"), "Basic")}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic uppercase scheme wrong secret", req: advRequest{body: cc, auth: "BASIC" + strings.TrimPrefix(advBasic(f.alpha, "mfs_wrong"), "Basic")}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "basic id disagrees with client_id", req: advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.beta), auth: good}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "bearer scheme", req: advRequest{body: cc, auth: "Bearer " + f.Token}, status: 401, code: "invalid_client"},

		// What the client asks for.
		{name: "scope not allowed", req: advRequest{body: cc + "&scope=admin", auth: good}, status: 400, code: "invalid_scope"},
		{name: "one scope not allowed", req: advRequest{body: advForm("grant_type", "client_credentials", "scope", "read admin"), auth: good}, status: 400, code: "invalid_scope"},
		{name: "scope of another client", req: advRequest{body: cc + "&scope=write", auth: advBasic(f.beta, f.betaSecret)}, status: 400, code: "invalid_scope"},
		{name: "audience not allowed", req: advRequest{body: advForm("grant_type", "client_credentials", "audience", "https://evil.example"), auth: good}, status: 400, code: "invalid_target"},
		{name: "resource not allowed", req: advRequest{body: advForm("grant_type", "client_credentials", "resource", "https://evil.example"), auth: good}, status: 400, code: "invalid_target"},
		{name: "one audience not allowed", req: advRequest{body: advForm("grant_type", "client_credentials", "audience", "https://api.example", "audience", "https://evil.example"), auth: good}, status: 400, code: "invalid_target"},
		{name: "audience prefix", req: advRequest{body: advForm("grant_type", "client_credentials", "audience", "https://api.example/"), auth: good}, status: 400, code: "invalid_target"},
		{name: "issuer audience for client with audiences", req: advRequest{body: advForm("grant_type", "client_credentials", "audience", f.URL), auth: good}, status: 400, code: "invalid_target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.issuances()
			r := f.send(tc.req)
			advWantError(t, r, tc.status, tc.code)
			got := r.Header.Get("WWW-Authenticate")
			if tc.wwwAuth && !strings.HasPrefix(got, "Basic") {
				t.Errorf("got WWW-Authenticate %q, want a Basic challenge", got)
			}
			if n := f.issuances(); n != before {
				t.Errorf("got %d issuance records, want %d: a failed request left a record", n, before)
			}
		})
	}

	// The same server still issues to a well-formed request, and that leaves
	// exactly one record: the failures above failed for their own reasons.
	t.Run("control", func(t *testing.T) {
		before := f.issuances()
		advWantToken(t, f.send(advRequest{body: advForm("grant_type", "client_credentials", "scope", "read", "audience", "https://api.example"), auth: good}))
		if n := f.issuances(); n != before+1 {
			t.Errorf("got %d issuance records, want %d", n, before+1)
		}
		advWantToken(t, f.send(advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_secret", f.alphaSecret)}))
		if n := f.issuances(); n != before+2 {
			t.Errorf("got %d issuance records, want %d", n, before+2)
		}
		// A lowercase scheme is Basic authentication to the server too.
		advWantToken(t, f.send(advRequest{body: cc, auth: "basic" + strings.TrimPrefix(good, "Basic")}))
		if n := f.issuances(); n != before+3 {
			t.Errorf("got %d issuance records, want %d", n, before+3)
		}
	})
}

func TestTokenEndpointRevokedClient(t *testing.T) {
	f := newAdvFixture(t)
	tok := f.IssueToken(f.alpha, f.alphaSecret, nil)
	if _, err := f.Admin.RevokeClient(t.Context(), f.alpha, "compromised"); err != nil {
		t.Fatalf("revoke client: %v", err)
	}
	for _, tc := range []struct {
		name string
		req  advRequest
	}{
		{"basic", advRequest{body: "grant_type=client_credentials", auth: advBasic(f.alpha, f.alphaSecret)}},
		{"post", advRequest{body: advForm("grant_type", "client_credentials", "client_id", f.alpha, "client_secret", f.alphaSecret)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.issuances()
			advWantError(t, f.send(tc.req), 401, "invalid_client")
			if n := f.issuances(); n != before {
				t.Errorf("got %d issuance records, want %d", n, before)
			}
		})
	}
	t.Run("its tokens are inactive", func(t *testing.T) {
		if f.Active(tok, f.beta, f.betaSecret) {
			t.Errorf("got active token of a revoked client, want inactive")
		}
	})
	t.Run("it cannot introspect", func(t *testing.T) {
		other := f.IssueToken(f.beta, f.betaSecret, nil)
		r := f.send(advRequest{path: api.IntrospectPath, body: advForm("token", other), auth: advBasic(f.alpha, f.alphaSecret)})
		advWantError(t, r, 401, "invalid_client")
	})
}

// --- private_key_jwt (RFC 7523) ---

// jwtClient is a client that authenticates with private_key_jwt.
type advJWTClient struct {
	id  string
	kid string
	key *ecdsa.PrivateKey
}

func advECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func advJWKS(t *testing.T, keys ...jose.JSONWebKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *advFixture) newJWTClient(name string) advJWTClient {
	f.t.Helper()
	k := advECKey(f.t)
	jwks := advJWKS(f.t, jose.JSONWebKey{Key: &k.PublicKey, KeyID: name + "-key", Algorithm: "ES256", Use: "sig"})
	c, secret := f.NewClient(api.ClientRequest{Name: name, Owner: f.owner, Scopes: []string{"read"}, JWKS: jwks})
	if secret != "" {
		f.t.Fatalf("got a client secret for a JWKS client, want none")
	}
	return advJWTClient{id: c.ID, kid: name + "-key", key: k}
}

func advRandomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// assertionClaims are valid RFC 7523 claims for c at the fixture's clock.
func (f *advFixture) assertionClaims(c advJWTClient) map[string]any {
	now := f.Clock.Now()
	return map[string]any{
		"iss": c.id, "sub": c.id, "aud": f.URL + api.TokenPath,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": advRandomID(f.t),
	}
}

// sign makes a compact JWS of claims with key under alg, naming kid and typ
// if they are not empty.
func advSign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, typ string, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if alg != jose.ES256 {
		return raw
	}
	// With a low S, as Mayfly signs, so that a forgery is refused for what
	// the case changes and not for its spelling.
	return advTamper(t, raw, 2, func(sig []byte) []byte { canon.LowS(sig); return sig })
}

func advB64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// unsigned builds an "alg": "none" JWT.
func advUnsigned(t *testing.T, header map[string]any, claims any) string {
	t.Helper()
	header["alg"] = "none"
	return advB64JSON(t, header) + "." + advB64JSON(t, claims) + "."
}

// hs256 builds an HS256 JWT MACed with secret, whatever secret is.
func advHS256(t *testing.T, header map[string]any, claims any, secret []byte) string {
	t.Helper()
	header["alg"] = "HS256"
	in := advB64JSON(t, header) + "." + advB64JSON(t, claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func advAssertionForm(assertion string, extra ...string) string {
	v := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {token.AssertionType}, "client_assertion": {assertion}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

func advWith(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestPrivateKeyJWT(t *testing.T) {
	f := newAdvFixture(t, servertest.NoLockout) // one bad credential after another: see limit_test.go
	c := f.newJWTClient("jwt-client")
	other := f.newJWTClient("other-jwt-client")
	now := f.Clock.Now()

	pubDER, err := x509.MarshalPKIXPublicKey(&c.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubJWK, err := json.Marshal(jose.JSONWebKey{Key: &c.key.PublicKey, KeyID: c.kid, Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.Admin.ClientByID(t.Context(), c.id)
	if err != nil {
		t.Fatal(err)
	}

	// A valid assertion works, once.
	valid := advSign(t, jose.ES256, c.key, c.kid, "", f.assertionClaims(c))
	before := f.issuances()
	t.Run("valid assertion", func(t *testing.T) {
		advWantToken(t, f.send(advRequest{body: advAssertionForm(valid)}))
		if n := f.issuances(); n != before+1 {
			t.Errorf("got %d issuance records, want %d", n, before+1)
		}
	})
	t.Run("valid assertion with matching client_id", func(t *testing.T) {
		advWantToken(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", f.assertionClaims(c)), "client_id", c.id)}))
	})
	t.Run("valid assertion without kid", func(t *testing.T) {
		advWantToken(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, c.key, "", "", f.assertionClaims(c)))}))
	})

	claims := f.assertionClaims(c)
	stranger := advECKey(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secretClient := f.alpha

	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"replayed jti", advAssertionForm(valid), 401, "invalid_client"},
		{"alg none", advAssertionForm(advUnsigned(t, map[string]any{"kid": c.kid}, claims)), 401, "invalid_client"},
		{"alg none without signature part", advAssertionForm(strings.TrimSuffix(advUnsigned(t, map[string]any{}, claims), ".")), 401, "invalid_client"},
		{"alg None", advAssertionForm(func() string {
			h := advB64JSON(t, map[string]any{"alg": "None", "kid": c.kid})
			return h + "." + advB64JSON(t, claims) + "."
		}()), 401, "invalid_client"},
		{"HS256 with public JWK", advAssertionForm(advHS256(t, map[string]any{"kid": c.kid}, claims, pubJWK)), 401, "invalid_client"},
		{"HS256 with stored JWKS", advAssertionForm(advHS256(t, map[string]any{"kid": c.kid}, claims, stored.JWKS)), 401, "invalid_client"},
		{"HS256 with public key DER", advAssertionForm(advHS256(t, map[string]any{"kid": c.kid}, claims, pubDER)), 401, "invalid_client"},
		{"HS256 with public key X", advAssertionForm(advHS256(t, map[string]any{}, claims, advX(t, &c.key.PublicKey))), 401, "invalid_client"},
		{"other client's key", advAssertionForm(advSign(t, jose.ES256, other.key, c.kid, "", f.assertionClaims(c))), 401, "invalid_client"},
		{"EdDSA key not in JWKS", advAssertionForm(advSign(t, jose.EdDSA, edPriv, c.kid, "", f.assertionClaims(c))), 401, "invalid_client"},
		{"RS256 key not in JWKS", advAssertionForm(advSign(t, jose.RS256, rsaKey, "", "", f.assertionClaims(c))), 401, "invalid_client"},
		{"wrong aud", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "aud", "https://evil.example/oauth2/token"))), 401, "invalid_client"},
		{"aud of introspection endpoint", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "aud", f.URL+api.IntrospectPath))), 401, "invalid_client"},
		{"no aud", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "aud", nil))), 401, "invalid_client"},
		{"expired", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iat", now.Add(-10*time.Minute).Unix(), "exp", now.Add(-5*time.Minute).Unix()))), 401, "invalid_client"},
		{"exp more than 1h ahead", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "exp", now.Add(token.MaxAssertionLifetime+time.Minute).Unix()))), 401, "invalid_client"},
		{"exp years ahead", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "exp", now.AddDate(10, 0, 0).Unix()))), 401, "invalid_client"},
		{"nbf in the future", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "nbf", now.Add(10*time.Minute).Unix()))), 401, "invalid_client"},
		{"iat in the future", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iat", now.Add(10*time.Minute).Unix()))), 401, "invalid_client"},
		{"missing jti", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "jti", nil))), 401, "invalid_client"},
		{"empty jti", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "jti", ""))), 401, "invalid_client"},
		{"jti with a NUL", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "jti", "a\x00b"))), 401, "invalid_client"},
		{"jti with an escape", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "jti", "a\x1bb"))), 401, "invalid_client"},
		{"missing exp", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "exp", nil))), 401, "invalid_client"},
		{"iss differs from sub", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iss", other.id))), 401, "invalid_client"},
		{"missing iss", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iss", nil))), 401, "invalid_client"},
		{"sub of another jwt client", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iss", other.id, "sub", other.id))), 401, "invalid_client"},
		{"sub of a secret client", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iss", secretClient, "sub", secretClient))), 401, "invalid_client"},
		{"sub of unknown client", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "iss", "mfc_nobody", "sub", "mfc_nobody"))), 401, "invalid_client"},
		{"client_id of another client", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", f.assertionClaims(c)), "client_id", other.id), 401, "invalid_client"},
		{"stranger key with right kid", advAssertionForm(advSign(t, jose.ES256, stranger, c.kid, "", f.assertionClaims(c))), 401, "invalid_client"},
		{"garbage assertion", advAssertionForm("not.a.jwt"), 401, "invalid_client"},
		{"empty assertion", advAssertionForm(""), 401, "invalid_client"},
		{"oversized assertion", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "pad", strings.Repeat("x", token.MaxTokenSize)))), 400, "invalid_request"},
		{"wrong client_assertion_type", strings.Replace(advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", f.assertionClaims(c))), url.QueryEscape(token.AssertionType), url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), 1), 400, "invalid_request"},
		{"missing client_assertion_type", advForm("grant_type", "client_credentials", "client_assertion", advSign(t, jose.ES256, c.key, c.kid, "", f.assertionClaims(c))), 400, "invalid_request"},
		{"assertion and client_secret", advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", f.assertionClaims(c)), "client_secret", "mfs_x"), 400, "invalid_request"},
		{"secret for a jwt client", advForm("grant_type", "client_credentials", "client_id", c.id, "client_secret", "mfs_guess"), 401, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.issuances()
			advWantError(t, f.send(advRequest{body: tc.body}), tc.status, tc.code)
			if n := f.issuances(); n != before {
				t.Errorf("got %d issuance records, want %d", n, before)
			}
		})
	}

	// A forged assertion must not burn the jti it names: the signature is
	// checked before the jti is recorded.
	t.Run("forger cannot burn a jti", func(t *testing.T) {
		cl := f.assertionClaims(c)
		advWantError(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, stranger, c.kid, "", cl))}), 401, "invalid_client")
		advWantError(t, f.send(advRequest{body: advAssertionForm(advHS256(t, map[string]any{"kid": c.kid}, cl, pubJWK))}), 401, "invalid_client")
		advWantError(t, f.send(advRequest{body: advAssertionForm(advUnsigned(t, map[string]any{"kid": c.kid}, cl))}), 401, "invalid_client")
		advWantToken(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", cl))}))
		// And the real one cannot be replayed.
		advWantError(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", cl))}), 401, "invalid_client")
	})

	// A jti is per client: another client may use the same value.
	t.Run("jti is scoped to the client", func(t *testing.T) {
		jti := advRandomID(t)
		advWantToken(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "jti", jti)))}))
		advWantToken(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, other.key, other.kid, "", advWith(f.assertionClaims(other), "jti", jti)))}))
	})

	t.Run("revoked client", func(t *testing.T) {
		if _, err := f.Admin.RevokeClient(t.Context(), other.id, "test"); err != nil {
			t.Fatal(err)
		}
		n := f.issuances()
		advWantError(t, f.send(advRequest{body: advAssertionForm(advSign(t, jose.ES256, other.key, other.kid, "", f.assertionClaims(other)))}), 401, "invalid_client")
		if got := f.issuances(); got != n {
			t.Errorf("got %d issuance records, want %d", got, n)
		}
	})
}

// TestAssertionReplayAcrossPruning replays one used assertion for as long
// as it would still validate (exp plus the 30 s leeway the token service
// allows), running the maintenance that prunes the used-jti records before
// each attempt: pruning must never make a still-valid assertion usable again.
func TestAssertionReplayAcrossPruning(t *testing.T) {
	f := newAdvFixture(t)
	c := f.newJWTClient("replayer")
	start := f.Clock.Now()
	exp := start.Add(time.Minute)
	a := advSign(t, jose.ES256, c.key, c.kid, "", advWith(f.assertionClaims(c), "exp", exp.Unix()))
	advWantToken(t, f.send(advRequest{body: advAssertionForm(a)}))
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"before exp", exp.Add(-time.Second)},
		{"at exp", exp},
		{"inside the leeway", exp.Add(29 * time.Second)},
		{"at the end of the leeway", exp.Add(30 * time.Second)},
		{"after the leeway", exp.Add(31 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Clock.Advance(tc.at.Sub(f.Clock.Now()))
			if err := f.Server.Maintain(t.Context()); err != nil {
				t.Fatalf("maintain: %v", err)
			}
			before := f.issuances()
			advWantError(t, f.send(advRequest{body: advAssertionForm(a)}), 401, "invalid_client")
			if n := f.issuances(); n != before {
				t.Errorf("got %d issuance records, want %d: a replayed assertion got a token", n, before)
			}
		})
	}
}

func TestRegisterJWKSRefusesSecrets(t *testing.T) {
	f := newAdvFixture(t)
	ec := advECKey(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "pub", Algorithm: "ES256", Use: "sig"}
	many := make([]jose.JSONWebKey, 11)
	for i := range many {
		many[i] = jose.JSONWebKey{Key: &advECKey(t).PublicKey, KeyID: string(rune('a' + i))}
	}
	tests := []struct {
		name string
		jwks json.RawMessage
	}{
		{"EC private key", advJWKS(t, jose.JSONWebKey{Key: ec, KeyID: "k", Algorithm: "ES256"})},
		{"Ed25519 private key", advJWKS(t, jose.JSONWebKey{Key: edPriv, KeyID: "k", Algorithm: "EdDSA"})},
		{"RSA private key", advJWKS(t, jose.JSONWebKey{Key: rsaKey, KeyID: "k", Algorithm: "RS256"})},
		{"symmetric key", advJWKS(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k", Algorithm: "HS256"})},
		{"public and private key", advJWKS(t, pub, jose.JSONWebKey{Key: ec, KeyID: "priv"})},
		{"public and symmetric key", advJWKS(t, pub, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct"})},
		// RSA CRT members without "d": p and q are the private key all the same.
		{"RSA public key with its private factors", func() json.RawMessage {
			var m map[string]any
			json.Unmarshal(advJWKS(t, jose.JSONWebKey{Key: rsaKey, KeyID: "k", Algorithm: "RS256"}), &m)
			delete(m["keys"].([]any)[0].(map[string]any), "d")
			b, _ := json.Marshal(m)
			return b
		}()},
		{"no keys", json.RawMessage(`{"keys":[]}`)},
		{"keys null", json.RawMessage(`{"keys":null}`)},
		{"not a key set", json.RawMessage(`{"kty":"EC"}`)},
		{"eleven keys", advJWKS(t, many...)},
		{"unknown kty", json.RawMessage(`{"keys":[{"kty":"XYZ","k":"AAAA"}]}`)},
		{"point not on curve", json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`)},
	}
	clients := func() int {
		cs, err := f.Admin.Clients(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clients()
			_, err := f.Admin.CreateClient(t.Context(), api.ClientRequest{Name: "hostile", Owner: f.owner, JWKS: tc.jwks})
			if !errors.Is(err, mayfly.ErrInvalid) {
				t.Fatalf("got error %v, want one matching mayfly.ErrInvalid", err)
			}
			var me *mayfly.Error
			if !errors.As(err, &me) {
				t.Fatalf("got error %T, want a *mayfly.Error", err)
			}
			if me.Field != "jwks" {
				t.Errorf("got field %q, want %q", me.Field, "jwks")
			}
			if n := clients(); n != before {
				t.Errorf("got %d clients, want %d", n, before)
			}
		})
	}
	t.Run("a JSON string", func(t *testing.T) {
		r := f.send(advRequest{path: "/v1/clients", contentType: "application/json", auth: "Bearer " + f.Token,
			body: `{"name":"hostile","owner":"` + f.owner + `","jwks":"` + base64.StdEncoding.EncodeToString(advPubDER(t, ec)) + `"}`})
		if r.Status != 400 {
			t.Errorf("got status %d, want 400 (body %s)", r.Status, r.Body)
		}
		if got, _ := r.JSON()["field"].(string); got != "jwks" {
			t.Errorf("got field %q, want jwks (body %s)", got, r.Body)
		}
	})
	t.Run("stored JWKS holds no private material", func(t *testing.T) {
		c, _ := f.NewClient(api.ClientRequest{Name: "ok", Owner: f.owner, JWKS: advJWKS(t, pub)})
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			t.Fatalf("stored jwks: %v", err)
		}
		if len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
			t.Errorf("got stored jwks %s, want one public key", c.JWKS)
		}
	})
}

func advPubDER(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- introspection (RFC 7662) ---

// serverKey is one of the server's signing keys with its private half,
// unsealed from the data directory the way the server itself does it, so
// tests can sign tokens that differ from real ones in one respect only.
type advServerKey struct {
	kid   string
	state mayfly.KeyState
	pub   crypto.PublicKey
	priv  crypto.Signer
}

// serverKeys returns the default ring's keys that still have material.
func (f *advFixture) serverKeys() []advServerKey {
	f.t.Helper()
	root, _, err := seal.LoadOrCreateRootKey(filepath.Join(f.Dir, "root.key"), rand.Reader)
	if err != nil {
		f.t.Fatalf("root key: %v", err)
	}
	sealer, err := seal.New(root)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []advServerKey
	for _, k := range f.Server.Keys.Keys(keys.DefaultRing) {
		if len(k.Sealed) == 0 {
			continue
		}
		// The associated data binds sealed material to its kid (keys.aad).
		der, err := sealer.Open(k.Sealed, []byte("mayfly signing key "+k.KID))
		if err != nil {
			f.t.Fatalf("unseal %s: %v", k.KID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			f.t.Fatalf("parse %s: %v", k.KID, err)
		}
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, advServerKey{kid: k.KID, state: k.State(f.Clock.Now()), pub: pub, priv: priv.(crypto.Signer)})
	}
	return out
}

func (f *advFixture) keyIn(state mayfly.KeyState) advServerKey {
	f.t.Helper()
	for _, k := range f.serverKeys() {
		if k.state == state {
			return k
		}
	}
	f.t.Fatalf("no %s key with material in the default ring", state)
	return advServerKey{}
}

// accessClaims are the claims of a valid access token for alpha.
func (f *advFixture) accessClaims() map[string]any {
	now := f.Clock.Now()
	return map[string]any{
		"iss": f.URL, "sub": f.alpha, "aud": []string{"https://api.example"},
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		"jti": advRandomID(f.t), "client_id": f.alpha, "scope": "read", "principal": f.owner,
	}
}

func (f *advFixture) introspect(tok string) *servertest.Response {
	f.t.Helper()
	return f.PostForm(api.IntrospectPath, url.Values{"token": {tok}}, f.beta, f.betaSecret)
}

// wantInactive checks a response is exactly {"active":false}.
func advWantInactive(t *testing.T, r *servertest.Response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("got status %d, want 200 (body %s)", r.Status, r.Body)
	}
	body := r.JSON()
	if len(body) != 1 || body["active"] != false {
		t.Errorf("got %s, want {\"active\":false}", bytes.TrimSpace(r.Body))
	}
}

// tamper decodes segment i of a compact JWS, changes it with fn and
// re-encodes it, so that the change is to the bytes, not to the encoding.
func advTamper(t *testing.T, tok string, i int, fn func([]byte) []byte) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	parts[i] = base64.RawURLEncoding.EncodeToString(fn(b))
	return strings.Join(parts, ".")
}

func TestIntrospectionRefusesForgeries(t *testing.T) {
	f := newAdvFixture(t)
	tok := f.IssueToken(f.alpha, f.alphaSecret, url.Values{"scope": {"read"}, "audience": {"https://api.example"}})

	t.Run("fresh token is active", func(t *testing.T) {
		r := f.introspect(tok)
		body := r.JSON()
		if r.Status != 200 || body["active"] != true {
			t.Fatalf("got %d %s, want an active token", r.Status, r.Body)
		}
		for k, want := range map[string]any{"client_id": f.alpha, "sub": f.alpha, "scope": "read", "iss": f.URL, "principal": f.owner, "token_type": "Bearer"} {
			if body[k] != want {
				t.Errorf("got %s %v, want %v", k, body[k], want)
			}
		}
	})

	active := f.keyIn(mayfly.KeyActive)
	next := f.keyIn(mayfly.KeyNext)
	forge := func(k advServerKey, typ string, claims map[string]any) string {
		return advSign(t, jose.ES256, k.priv, k.kid, typ, claims)
	}

	// The forging harness itself works: a token signed with the real active
	// key and correct in every respect is active, so each case below is
	// inactive for the one thing it changes.
	t.Run("control: correctly signed token is active", func(t *testing.T) {
		for _, typ := range []string{"at+jwt", "application/at+jwt"} {
			if r := f.introspect(forge(active, typ, f.accessClaims())); r.JSON()["active"] != true {
				t.Fatalf("typ %s: got %s, want an active token; the forgery cases prove nothing", typ, r.Body)
			}
		}
		if r := f.introspect(forge(active, "at+jwt", advWith(f.accessClaims(), "scope", strings.Repeat("s", 4<<10)))); r.JSON()["active"] != true {
			t.Fatalf("4 KiB token: got %s, want active", r.Body)
		}
	})

	pubJWKS := f.send(advRequest{method: "GET", path: api.JWKSPath, contentType: "-"})
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(pubJWKS.Body, &set); err != nil {
		t.Fatal(err)
	}
	var activeJWK []byte
	for _, k := range set.Keys {
		if bytes.Contains(k, []byte(`"`+active.kid+`"`)) {
			activeJWK = k
		}
	}
	if activeJWK == nil {
		t.Fatalf("active key %s not in JWKS %s", active.kid, pubJWKS.Body)
	}
	activeDER, err := x509.MarshalPKIXPublicKey(active.pub)
	if err != nil {
		t.Fatal(err)
	}
	stranger := advECKey(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func() map[string]any { return map[string]any{"kid": active.kid, "typ": "at+jwt"} }

	tests := []struct {
		name string
		tok  string
	}{
		{"tampered payload scope", advTamper(t, tok, 1, func(b []byte) []byte { return bytes.Replace(b, []byte(`"read"`), []byte(`"write"`), 1) })},
		{"tampered payload exp", advTamper(t, tok, 1, func(b []byte) []byte {
			var m map[string]any
			json.Unmarshal(b, &m)
			m["exp"] = m["exp"].(float64) + 3600
			out, _ := json.Marshal(m)
			return out
		})},
		{"tampered header", advTamper(t, tok, 0, func(b []byte) []byte { return append(bytes.TrimSuffix(b, []byte("}")), []byte(`,"x":1}`)...) })},
		{"tampered signature", advTamper(t, tok, 2, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })},
		{"signature zeroed", advTamper(t, tok, 2, func(b []byte) []byte { return make([]byte, len(b)) })},
		{"signature of another token", strings.Join(append(strings.Split(tok, ".")[:2], strings.Split(f.IssueToken(f.alpha, f.alphaSecret, nil), ".")[2]), ".")},
		{"signature removed", strings.Join(strings.Split(tok, ".")[:2], ".") + "."},
		{"truncated by one", tok[:len(tok)-1]},
		{"truncated by half", tok[:len(tok)/2]},
		{"header only", strings.Split(tok, ".")[0]},
		{"extra segment", tok + "." + strings.Split(tok, ".")[2]},
		{"JWE-shaped", tok + ".." + "AAAA"},
		{"garbage", "garbage"},
		{"dots", ".."},
		{"whitespace", " \t\n"},
		{"leading space", " " + tok},
		{"binary", string([]byte{0, 0xff, 0xfe, '.', 1, '.', 2})},
		{"random key with active kid", advSign(t, jose.ES256, stranger, active.kid, "at+jwt", f.accessClaims())},
		{"random key with next kid", advSign(t, jose.ES256, stranger, next.kid, "at+jwt", f.accessClaims())},
		{"real next key", forge(next, "at+jwt", f.accessClaims())},
		{"random key with unknown kid", advSign(t, jose.ES256, stranger, "unknown-kid", "at+jwt", f.accessClaims())},
		{"active key without kid", forge(advServerKey{priv: active.priv}, "at+jwt", f.accessClaims())},
		{"EdDSA with active kid", advSign(t, jose.EdDSA, edPriv, active.kid, "at+jwt", f.accessClaims())},
		{"alg none", advUnsigned(t, hdr(), f.accessClaims())},
		{"HS256 with public JWK", advHS256(t, hdr(), f.accessClaims(), activeJWK)},
		{"HS256 with JWKS document", advHS256(t, hdr(), f.accessClaims(), bytes.TrimSpace(pubJWKS.Body))},
		{"HS256 with public key DER", advHS256(t, hdr(), f.accessClaims(), activeDER)},
		{"typ JWT", forge(active, "JWT", f.accessClaims())},
		{"no typ", forge(active, "", f.accessClaims())},
		{"typ at+jwt with suffix", forge(active, "at+jwtx", f.accessClaims())},
		{"wrong iss", forge(active, "at+jwt", advWith(f.accessClaims(), "iss", "https://evil.example"))},
		{"iss with trailing slash", forge(active, "at+jwt", advWith(f.accessClaims(), "iss", f.URL+"/"))},
		{"no iss", forge(active, "at+jwt", advWith(f.accessClaims(), "iss", nil))},
		{"nbf in the future", forge(active, "at+jwt", advWith(f.accessClaims(), "nbf", f.Clock.Now().Add(time.Minute).Unix()))},
		{"exp in the past", forge(active, "at+jwt", advWith(f.accessClaims(), "exp", f.Clock.Now().Add(-time.Second).Unix()))},
		{"exp now", forge(active, "at+jwt", advWith(f.accessClaims(), "exp", f.Clock.Now().Unix()))},
		{"no exp", forge(active, "at+jwt", advWith(f.accessClaims(), "exp", nil))},
		{"exp not a number", forge(active, "at+jwt", advWith(f.accessClaims(), "exp", "9999999999"))},
		{"no jti", forge(active, "at+jwt", advWith(f.accessClaims(), "jti", nil))},
		{"no client_id", forge(active, "at+jwt", advWith(f.accessClaims(), "client_id", nil))},
		{"unknown client_id", forge(active, "at+jwt", advWith(f.accessClaims(), "client_id", "mfc_nobody"))},
		{"principal of someone else", forge(active, "at+jwt", advWith(f.accessClaims(), "principal", "prn_someoneelse"))},
		{"huge token", forge(active, "at+jwt", advWith(f.accessClaims(), "scope", strings.Repeat("s", token.MaxTokenSize)))},
		{"huge garbage", strings.Repeat("A", token.MaxTokenSize+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tok == tok {
				t.Fatalf("the case did not change the token")
			}
			advWantInactive(t, f.introspect(tc.tok))
		})
	}

	t.Run("revoked key", func(t *testing.T) {
		// A second fixture: revoking the key would spoil the cases above.
		g := newAdvFixture(t)
		tok := g.IssueToken(g.alpha, g.alphaSecret, nil)
		if !g.Active(tok, g.beta, g.betaSecret) {
			t.Fatalf("got inactive fresh token, want active")
		}
		if _, err := g.Admin.RevokeKey(t.Context(), g.keyIn(mayfly.KeyActive).kid, "test"); err != nil {
			t.Fatal(err)
		}
		advWantInactive(t, g.introspect(tok))
	})

	t.Run("expired", func(t *testing.T) {
		if !f.Active(tok, f.beta, f.betaSecret) {
			t.Fatalf("got inactive token before expiry, want active")
		}
		f.Clock.Advance(mayfly.DefaultTokenTTL)
		advWantInactive(t, f.introspect(tok))
		f.Clock.Advance(time.Hour)
		advWantInactive(t, f.introspect(tok))
	})
}

func TestIntrospectionNeedsAuthentication(t *testing.T) {
	f := newAdvFixture(t)
	tok := f.IssueToken(f.alpha, f.alphaSecret, nil)
	scim, err := f.Admin.CreateCredential(t.Context(), api.CredentialRequest{Name: "idp", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  advRequest
	}{
		{"no credentials", advRequest{body: advForm("token", tok)}},
		{"wrong secret", advRequest{body: advForm("token", tok), auth: advBasic(f.beta, "mfs_wrong")}},
		{"unknown client", advRequest{body: advForm("token", tok), auth: advBasic("mfc_nobody", f.betaSecret)}},
		{"client_id without secret", advRequest{body: advForm("token", tok, "client_id", f.beta)}},
		{"access token as bearer", advRequest{body: advForm("token", tok), auth: "Bearer " + tok}},
		{"client secret as bearer", advRequest{body: advForm("token", tok), auth: "Bearer " + f.betaSecret}},
		{"wrong admin bearer", advRequest{body: advForm("token", tok), auth: "Bearer mfa_wrong"}},
		{"SCIM credential as bearer", advRequest{body: advForm("token", tok), auth: "Bearer " + scim.Token}},
		{"credentials in query", advRequest{query: advForm("client_id", f.beta, "client_secret", f.betaSecret), body: advForm("token", tok)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.path = api.IntrospectPath
			r := f.send(tc.req)
			advWantError(t, r, 401, "invalid_client")
			if _, ok := r.JSON()["active"]; ok {
				t.Errorf("got an active field in a refusal: %s", r.Body)
			}
		})
	}
	t.Run("repeated token", func(t *testing.T) {
		r := f.send(advRequest{path: api.IntrospectPath, body: advForm("token", tok, "token", "garbage"), auth: advBasic(f.beta, f.betaSecret)})
		advWantError(t, r, 400, "invalid_request")
	})
	t.Run("missing token", func(t *testing.T) {
		r := f.send(advRequest{path: api.IntrospectPath, body: "", auth: advBasic(f.beta, f.betaSecret)})
		advWantError(t, r, 400, "invalid_request")
	})
	t.Run("control: admin bearer may introspect", func(t *testing.T) {
		r := f.send(advRequest{path: api.IntrospectPath, body: advForm("token", tok), auth: "Bearer " + f.Token})
		if r.Status != 200 || r.JSON()["active"] != true {
			t.Errorf("got %d %s, want an active token", r.Status, r.Body)
		}
	})
}

// --- revocation (RFC 7009) ---

func TestRevocationCannotReachOtherClients(t *testing.T) {
	f := newAdvFixture(t)
	alphaTok := f.IssueToken(f.alpha, f.alphaSecret, nil)
	betaTok := f.IssueToken(f.beta, f.betaSecret, nil)
	revoke := func(body, auth string) *servertest.Response {
		return f.send(advRequest{path: api.RevokePath, body: body, auth: auth})
	}
	stillActive := func(t *testing.T) {
		t.Helper()
		if !f.Active(alphaTok, f.alpha, f.alphaSecret) {
			t.Errorf("got alpha's token inactive, want active")
		}
		if !f.Active(betaTok, f.beta, f.betaSecret) {
			t.Errorf("got beta's token inactive, want active")
		}
	}

	t.Run("another client's token", func(t *testing.T) {
		advWantError(t, revoke(advForm("token", alphaTok), advBasic(f.beta, f.betaSecret)), 400, "unauthorized_client")
		advWantError(t, revoke(advForm("token", alphaTok, "token_type_hint", "access_token", "client_id", f.beta, "client_secret", f.betaSecret), ""), 400, "unauthorized_client")
		stillActive(t)
	})
	t.Run("unauthenticated", func(t *testing.T) {
		advWantError(t, revoke(advForm("token", alphaTok), ""), 401, "invalid_client")
		advWantError(t, revoke(advForm("token", alphaTok), advBasic(f.alpha, "mfs_wrong")), 401, "invalid_client")
		advWantError(t, revoke(advForm("token", alphaTok, "client_id", f.alpha), ""), 401, "invalid_client")
		stillActive(t)
	})
	t.Run("tampered copy of another client's token", func(t *testing.T) {
		forged := advTamper(t, alphaTok, 1, func(b []byte) []byte { return bytes.Replace(b, []byte(f.alpha), []byte(f.beta), -1) })
		r := revoke(advForm("token", forged), advBasic(f.beta, f.betaSecret))
		if r.Status != 200 {
			t.Errorf("got status %d, want 200 (body %s)", r.Status, r.Body)
		}
		stillActive(t)
	})
	for _, garbage := range []string{"garbage", "a.b.c", "..", strings.Repeat("x", 9000), alphaTok[:len(alphaTok)-2]} {
		t.Run("garbage "+garbage[:min(len(garbage), 8)], func(t *testing.T) {
			r := revoke(advForm("token", garbage), advBasic(f.beta, f.betaSecret))
			if r.Status != 200 {
				t.Errorf("got status %d, want 200 (body %s)", r.Status, r.Body)
			}
			stillActive(t)
		})
	}
	t.Run("control: owner revokes its own token", func(t *testing.T) {
		r := revoke(advForm("token", alphaTok), advBasic(f.alpha, f.alphaSecret))
		if r.Status != 200 {
			t.Fatalf("got status %d, want 200 (body %s)", r.Status, r.Body)
		}
		if f.Active(alphaTok, f.beta, f.betaSecret) {
			t.Errorf("got revoked token active, want inactive")
		}
		if !f.Active(betaTok, f.beta, f.betaSecret) {
			t.Errorf("got beta's token inactive, want active")
		}
	})
}

// --- admin API ---

func TestAdminAPIRefusesBadCredentials(t *testing.T) {
	f := newAdvFixture(t, servertest.NoLockout) // one bad credential after another: see limit_test.go
	tok := f.IssueToken(f.alpha, f.alphaSecret, nil)
	for _, tc := range []struct{ name, auth string }{
		{"none", ""},
		{"empty bearer", "Bearer "},
		{"wrong bearer", "Bearer mfa_wrongwrongwrong"},
		{"bearer without prefix", "Bearer " + strings.TrimPrefix(f.Token, "mfa_")},
		{"bearer with suffix", "Bearer " + f.Token + "x"},
		{"lowercase scheme", "bearer " + f.Token},
		{"basic with admin token", advBasic("admin", f.Token)},
		{"client secret", "Bearer " + f.alphaSecret},
		{"access token", "Bearer " + tok},
	} {
		for _, route := range []struct{ method, path, body string }{
			{"GET", "/v1/clients", ""},
			{"GET", "/v1/tokens", ""},
			{"POST", "/v1/principals", `{"name":"mallory","kind":"human"}`},
		} {
			t.Run(tc.name+" "+route.method+" "+route.path, func(t *testing.T) {
				r := f.send(advRequest{method: route.method, path: route.path, contentType: "application/json", body: route.body, auth: tc.auth})
				if r.Status != http.StatusUnauthorized {
					t.Errorf("got status %d, want 401 (body %s)", r.Status, r.Body)
				}
				if got, _ := r.JSON()["error"].(string); got != string(mayfly.Unauthenticated) {
					t.Errorf("got error %q, want %q (body %s)", got, mayfly.Unauthenticated, r.Body)
				}
				if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
					t.Errorf("got Content-Type %q, want application/json", got)
				}
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", got)
				}
			})
		}
	}
	if _, err := f.Admin.Principal(t.Context(), "mallory"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("got error %v for the principal an unauthenticated request tried to create, want not found", err)
	}
}

func TestAdminAPIRefusesBadInput(t *testing.T) {
	f := newAdvFixture(t)
	tests := []struct {
		name, path, body string
		wantMsg          string // a substring the message must hold, if not empty
	}{
		{name: "principal unknown field", path: "/v1/principals", body: `{"name":"mallory","kind":"human","admin":true}`},
		{name: "client unknown field", path: "/v1/clients", body: `{"name":"evil","owner":"` + f.owner + `","client_secret":"mfs_chosen"}`},
		{name: "client secret hash field", path: "/v1/clients", body: `{"name":"evil","owner":"` + f.owner + `","SecretHash":"AAAA"}`},
		{name: "ring unknown field", path: "/v1/rings", body: `{"name":"evil","alg":"ES256","lifetime":"1h","ceiling":"8760h"}`},
		{name: "two JSON values", path: "/v1/rings", body: `{"name":"evil"}{"name":"evil2"}`},
		{name: "not JSON", path: "/v1/rings", body: `name=evil`},
		{name: "ring lifetime above ceiling", path: "/v1/rings", body: `{"name":"long","alg":"ES256","lifetime":"721h"}`, wantMsg: "720h"},
		{name: "ring lifetime a year", path: "/v1/rings", body: `{"name":"year","alg":"ES256","lifetime":"8760h"}`, wantMsg: "720h"},
		{name: "ring lifetime below minimum", path: "/v1/rings", body: `{"name":"short","alg":"ES256","lifetime":"1m"}`},
		{name: "ring lifetime negative", path: "/v1/rings", body: `{"name":"neg","alg":"ES256","lifetime":"-24h"}`},
		{name: "ring lifetime not a duration", path: "/v1/rings", body: `{"name":"bad","alg":"ES256","lifetime":"forever"}`},
		{name: "alg HS256", path: "/v1/rings", body: `{"name":"hmac","alg":"HS256"}`},
		{name: "alg none", path: "/v1/rings", body: `{"name":"none","alg":"none"}`},
		{name: "alg lowercase", path: "/v1/rings", body: `{"name":"lower","alg":"es256"}`},
		{name: "alg ES384", path: "/v1/rings", body: `{"name":"es384","alg":"ES384"}`},
		{name: "token_ttl above ceiling", path: "/v1/clients", body: `{"name":"ttl","owner":"` + f.owner + `","token_ttl":"2h"}`},
	}
	rings := func() []string {
		rs, err := f.Admin.Rings(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range rs {
			names = append(names, r.Name)
		}
		return names
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rings()
			r := f.send(advRequest{path: tc.path, contentType: "application/json", body: tc.body, auth: "Bearer " + f.Token})
			if r.Status != http.StatusBadRequest {
				t.Errorf("got status %d, want 400 (body %s)", r.Status, r.Body)
			}
			body := r.JSON()
			if got, _ := body["error"].(string); got != string(mayfly.Invalid) {
				t.Errorf("got error %q, want %q", got, mayfly.Invalid)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got message %q, want it to name %q", msg, tc.wantMsg)
			}
			if got := rings(); !slices.Equal(got, before) {
				t.Errorf("got rings %v, want %v", got, before)
			}
		})
	}
	if _, err := f.Admin.Principal(t.Context(), "mallory"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("got error %v, want not found: a refused request created a principal", err)
	}
	cs, err := f.Admin.Clients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Errorf("got %d clients, want 2: a refused request created a client", len(cs))
	}
	t.Run("control: ring at the ceiling", func(t *testing.T) {
		if _, err := f.Admin.CreateRing(t.Context(), api.RingRequest{Name: "ceiling", Alg: mayfly.ES256, Lifetime: "720h"}); err != nil {
			t.Errorf("got error %v, want a ring with a lifetime at the ceiling", err)
		}
	})
}

// TestAdminTokensTimeFilter checks the issuance listing's until filter:
// tokens issued before until must be listed.
func TestAdminTokensTimeFilter(t *testing.T) {
	f := newAdvFixture(t)
	const n = 8
	for range n {
		f.IssueToken(f.alpha, f.alphaSecret, nil)
	}
	all, err := f.Admin.Tokens(t.Context(), mayfly.IssuanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("got %d issuance records, want %d", len(all), n)
	}
	for _, tc := range []struct {
		name   string
		filter mayfly.IssuanceFilter
		want   int
	}{
		{"until an hour later", mayfly.IssuanceFilter{Until: f.Clock.Now().Add(time.Hour)}, n},
		{"since an hour earlier", mayfly.IssuanceFilter{Since: f.Clock.Now().Add(-time.Hour)}, n},
		{"since and until around now", mayfly.IssuanceFilter{Since: f.Clock.Now().Add(-time.Minute), Until: f.Clock.Now().Add(time.Minute)}, n},
		{"until an hour earlier", mayfly.IssuanceFilter{Until: f.Clock.Now().Add(-time.Hour)}, 0},
		{"since an hour later", mayfly.IssuanceFilter{Since: f.Clock.Now().Add(time.Hour)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := f.Admin.Tokens(t.Context(), tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.want {
				var jtis []string
				for _, r := range all {
					jtis = append(jtis, r.JTI)
				}
				t.Errorf("got %d records, want %d (jtis %v)", len(recs), tc.want, jtis)
			}
		})
	}
}

func TestJWKSPublishesNoPrivateMaterial(t *testing.T) {
	f := newAdvFixture(t)
	r := f.send(advRequest{method: "GET", path: api.JWKSPath, contentType: "-"})
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("jwks: %v (body %s)", err, r.Body)
	}
	if len(set.Keys) != 2 {
		t.Errorf("got %d published keys, want 2 (active and next)", len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("got non-public key %q in the JWKS", k.KeyID)
		}
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(r.Body, &raw)
	for _, k := range raw.Keys {
		for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[p]; ok {
				t.Errorf("got private parameter %q in published key %v", p, k["kid"])
			}
		}
	}
}

// advX is the public key's X coordinate, from its uncompressed encoding.
func advX(t *testing.T, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b[1 : 1+(len(b)-1)/2]
}
