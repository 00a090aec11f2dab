package httpapi_test

// Adversarial tests of Shared Signals stream management, over real HTTP:
// every endpoint refuses bad credentials and other clients, bad input is
// refused with a clear 400 and stores nothing, limits hold, and a push
// stream's authorization header never comes back out.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// ssfAdv is a transmitter with two receiver clients, alice and bob.
type ssfAdv struct {
	*servertest.Env
	t                  *testing.T
	alice, aliceSecret string
	bob, bobSecret     string
}

func newSSFAdv(t *testing.T, opts ...servertest.Option) *ssfAdv {
	t.Helper()
	f := &ssfAdv{Env: servertest.New(t, opts...), t: t}
	a, as := f.NewClient(api.ClientRequest{Name: "alice-rx", Owner: f.Human("alice"), Scopes: []string{"ssf"}})
	b, bs := f.NewClient(api.ClientRequest{Name: "bob-rx", Owner: f.Human("bob"), Scopes: []string{"ssf"}})
	f.alice, f.aliceSecret, f.bob, f.bobSecret = a.ID, as, b.ID, bs
	return f
}

func (f *ssfAdv) aliceToken() string { return f.IssueToken(f.alice, f.aliceSecret, nil) }
func (f *ssfAdv) bobToken() string   { return f.IssueToken(f.bob, f.bobSecret, nil) }

// send makes one request with a raw Authorization header ("" for none).
func (f *ssfAdv) send(method, path, auth, body string) *servertest.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return f.Do(req)
}

// create makes a stream as the bearer and returns its ID.
func (f *ssfAdv) create(bearer, body string) string {
	f.t.Helper()
	r := f.send("POST", api.SSFConfigPath, "Bearer "+bearer, body)
	if r.Status != http.StatusCreated {
		f.t.Fatalf("create stream %s: %d %s", body, r.Status, r.Body)
	}
	id, _ := r.JSON()["stream_id"].(string)
	return id
}

// snapshot is everything the admin can see of a stream: its configuration
// and status. A refused request must leave it as it was.
func (f *ssfAdv) snapshot(id string) string {
	f.t.Helper()
	cfg := f.send("GET", api.SSFConfigPath+"?stream_id="+id, "Bearer "+f.Token, "")
	st := f.send("GET", api.SSFStatusPath+"?stream_id="+id, "Bearer "+f.Token, "")
	if cfg.Status != 200 || st.Status != 200 {
		f.t.Fatalf("snapshot of %s: %d %s / %d %s", id, cfg.Status, cfg.Body, st.Status, st.Body)
	}
	return string(cfg.Body) + string(st.Body)
}

// streamCount is how many streams exist, as the admin sees them.
func (f *ssfAdv) streamCount() int {
	f.t.Helper()
	r := f.send("GET", api.SSFConfigPath, "Bearer "+f.Token, "")
	var list []json.RawMessage
	if err := json.Unmarshal(r.Body, &list); r.Status != 200 || err != nil {
		f.t.Fatalf("list streams: %d %s", r.Status, r.Body)
	}
	return len(list)
}

// queued polls a poll stream as its owner without acknowledging: the jtis
// waiting in it.
func (f *ssfAdv) queued(id, bearer string) []string {
	f.t.Helper()
	r := f.send("POST", api.SSFPollPath+id, "Bearer "+bearer, `{"returnImmediately":true}`)
	var res struct {
		Sets map[string]string `json:"sets"`
	}
	if err := json.Unmarshal(r.Body, &res); r.Status != 200 || err != nil {
		f.t.Fatalf("poll %s: %d %s", id, r.Status, r.Body)
	}
	var out []string
	for jti := range res.Sets {
		out = append(out, jti)
	}
	slices.Sort(out)
	return out
}

// ssfOp is one management request.
type ssfOp struct {
	name, method, path, body string
}

// ssfOps are the management requests on stream id; ack is acknowledged by
// the poll, and every one of them would change something if allowed.
func ssfOps(id, ack string) []ssfOp {
	q := "?stream_id=" + url.QueryEscape(id)
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	sub := map[string]any{"format": "email", "email": "someone@example.com"}
	return []ssfOp{
		{"get", "GET", api.SSFConfigPath + q, ""},
		{"patch", "PATCH", api.SSFConfigPath, js(map[string]any{"stream_id": id, "description": "hijacked"})},
		{"put", "PUT", api.SSFConfigPath, js(map[string]any{"stream_id": id, "delivery": map[string]any{"method": mayfly.DeliveryPush, "endpoint_url": "https://evil.example/"}})},
		{"delete", "DELETE", api.SSFConfigPath + q, ""},
		{"status get", "GET", api.SSFStatusPath + q, ""},
		{"status set", "POST", api.SSFStatusPath, js(map[string]any{"stream_id": id, "status": "disabled"})},
		{"add subject", "POST", api.SSFAddPath, js(map[string]any{"stream_id": id, "subject": sub})},
		{"remove subject", "POST", api.SSFRemovePath, js(map[string]any{"stream_id": id, "subject": sub})},
		{"verify", "POST", api.SSFVerifyPath, js(map[string]any{"stream_id": id, "state": "x"})},
		{"poll", "POST", api.SSFPollPath + url.PathEscape(id), js(map[string]any{"returnImmediately": true, "ack": []string{ack}})},
	}
}

// TestSSFManagementRefusesBadCredentials: every management endpoint
// refuses each credential that is missing, malformed, forged, expired,
// revoked, for someone else or without the ssf scope, as RFC 6750 asks,
// and changes nothing.
func TestSSFManagementRefusesBadCredentials(t *testing.T) {
	f := newSSFAdv(t, servertest.NoLockout) // one bad credential after another: see limit_test.go
	ctx := t.Context()

	// Credentials that must have gone bad by the time they are used.
	expired := f.aliceToken()
	revoked := f.aliceToken()
	if _, err := f.Admin.RevokeToken(ctx, rxClaim(t, revoked, "jti").(string), "test"); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(mayfly.DefaultTokenTTL + time.Second)
	deadAdmin, err := f.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "gone", Role: mayfly.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Admin.RevokeCredential(ctx, deadAdmin.ID, "test"); err != nil {
		t.Fatal(err)
	}
	scim, err := f.Admin.CreateCredential(ctx, api.CredentialRequest{Name: "okta", Role: mayfly.RoleSCIM})
	if err != nil {
		t.Fatal(err)
	}
	noScope, noScopeSecret := f.NewClient(api.ClientRequest{Name: "reader", Owner: f.Human("rob"), Scopes: []string{"read"}})
	elsewhere, elsewhereSecret := f.NewClient(api.ClientRequest{Name: "api-client", Owner: f.Human("eve"),
		Scopes: []string{"ssf"}, Audiences: []string{"https://api.example"}})

	// Alice's stream, with one SET queued that a refused poll must not
	// acknowledge.
	good := f.aliceToken()
	id := f.create(good, `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"alice"}`)
	victim, _ := f.NewClient(api.ClientRequest{Name: "victim", Owner: f.Human("vic")})
	if _, err := f.Admin.RevokeClient(ctx, victim.ID, "test"); err != nil {
		t.Fatal(err)
	}
	queued := f.queued(id, good)
	if len(queued) == 0 {
		t.Fatalf("nothing queued to protect")
	}
	before, streams := f.snapshot(id), f.streamCount()

	// Forgeries: alice's own claims, signed by nobody or MACed with the
	// server's public key.
	claims := map[string]any{}
	for _, k := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope"} {
		claims[k] = rxClaim(t, good, k)
	}
	kid, _ := rxTokenHeader(t, good)["kid"].(string)
	jwks := f.send("GET", api.JWKSPath, "", "")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks.Body, &set); err != nil {
		t.Fatal(err)
	}
	pubJWK, err := json.Marshal(set.Key(kid)[0])
	if err != nil {
		t.Fatal(err)
	}
	hdr := func() map[string]any { return map[string]any{"kid": kid, "typ": "at+jwt"} }

	const (
		noChallengeError = ""
		invalidToken     = "invalid_token"
		insufficient     = "insufficient_scope"
	)
	creds := []struct {
		name   string
		auth   func() string
		status int
		err    string // the RFC 6750 error the challenge must name
	}{
		{"no Authorization", func() string { return "" }, 401, noChallengeError},
		{"Basic scheme", func() string { return advBasic(f.alice, f.aliceSecret) }, 401, noChallengeError},
		{"token without scheme", func() string { return f.aliceToken() }, 401, noChallengeError},
		{"empty bearer", func() string { return "Bearer " }, 401, noChallengeError},
		{"garbage bearer", func() string { return "Bearer garbage" }, 401, invalidToken},
		{"garbage JWS", func() string { return "Bearer a.b.c" }, 401, invalidToken},
		{"bad signature", func() string {
			return "Bearer " + advTamper(t, f.aliceToken(), 2, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		}, 401, invalidToken},
		{"tampered scope", func() string {
			return "Bearer " + advTamper(t, f.aliceToken(), 1, func(b []byte) []byte { return bytes.Replace(b, []byte(`"ssf"`), []byte(`"ssg"`), 1) })
		}, 401, invalidToken},
		{"expired token", func() string { return "Bearer " + expired }, 401, invalidToken},
		{"revoked token", func() string { return "Bearer " + revoked }, 401, invalidToken},
		{"revoked admin credential", func() string { return "Bearer " + deadAdmin.Token }, 401, invalidToken},
		{"token without ssf scope", func() string { return "Bearer " + f.IssueToken(noScope.ID, noScopeSecret, nil) }, 403, insufficient},
		{"token for another audience", func() string { return "Bearer " + f.IssueToken(elsewhere.ID, elsewhereSecret, nil) }, 401, invalidToken},
		{"SCIM credential", func() string { return "Bearer " + scim.Token }, 403, insufficient},
		{"alg none", func() string { return "Bearer " + advUnsigned(t, hdr(), claims) }, 401, invalidToken},
		{"HS256 with the public JWK", func() string { return "Bearer " + advHS256(t, hdr(), claims, pubJWK) }, 401, invalidToken},
		{"HS256 with the JWKS", func() string { return "Bearer " + advHS256(t, hdr(), claims, bytes.TrimSpace(jwks.Body)) }, 401, invalidToken},
	}
	ops := append(ssfOps(id, queued[0]), ssfOp{"create", "POST", api.SSFConfigPath, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`},
		ssfOp{"list", "GET", api.SSFConfigPath, ""})
	for _, c := range creds {
		t.Run(c.name, func(t *testing.T) {
			for _, op := range ops {
				r := f.send(op.method, op.path, c.auth(), op.body)
				if r.Status != c.status {
					t.Errorf("%s: got %d %s, want %d", op.name, r.Status, r.Body, c.status)
					continue
				}
				ch := r.Header.Get("WWW-Authenticate")
				if !strings.HasPrefix(ch, "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", op.name, ch)
				}
				if c.err == noChallengeError && strings.Contains(ch, "error=") || c.err != "" && !strings.Contains(ch, `error="`+c.err+`"`) {
					t.Errorf("%s: WWW-Authenticate %q, want error %q", op.name, ch, c.err)
				}
				if bytes.Contains(r.Body, []byte(id)) || bytes.Contains(r.Body, []byte("alice")) {
					t.Errorf("%s: the refusal reveals the stream: %s", op.name, r.Body)
				}
			}
		})
	}

	if after := f.snapshot(id); after != before {
		t.Errorf("the stream changed:\n%s\n%s", before, after)
	}
	if n := f.streamCount(); n != streams {
		t.Errorf("%d streams, want %d: a refused create stored one", n, streams)
	}
	// Nothing acknowledged, no verification queued.
	if got := f.queued(id, f.aliceToken()); !slices.Equal(got, queued) {
		t.Errorf("queue %v, want %v as before", got, queued)
	}
}

// rxTokenHeader decodes a JWS header without verifying it.
func rxTokenHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Signatures[0].Protected
	return map[string]any{"kid": h.KeyID, "alg": h.Algorithm}
}

// TestSSFStreamsAreTheirOwners: another client with the ssf scope cannot
// see or touch a stream, and cannot even learn that it exists: it gets the
// answer a made-up stream ID gets. The stream is untouched afterwards.
func TestSSFStreamsAreTheirOwners(t *testing.T) {
	f := newSSFAdv(t)
	ctx := t.Context()
	id := f.create(f.aliceToken(), `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"alice's"}`)
	bobs := f.create(f.bobToken(), `{}`)
	victim, _ := f.NewClient(api.ClientRequest{Name: "victim", Owner: f.Human("vic")})
	if _, err := f.Admin.RevokeClient(ctx, victim.ID, "test"); err != nil {
		t.Fatal(err)
	}
	queued := f.queued(id, f.aliceToken())
	before := f.snapshot(id)

	// A made-up ID of the same shape as the real one.
	fake := id[:len(id)-4] + "zzzz"
	if fake == id {
		fake = id[:len(id)-4] + "yyyy"
	}
	bob := "Bearer " + f.bobToken()
	real, made := ssfOps(id, queued[0]), ssfOps(fake, queued[0])
	for i, op := range real {
		r := f.send(op.method, op.path, bob, op.body)
		m := f.send(made[i].method, made[i].path, bob, made[i].body)
		if r.Status != http.StatusNotFound {
			t.Errorf("%s as another client: got %d %s, want 404", op.name, r.Status, r.Body)
		}
		if got, want := strings.ReplaceAll(string(r.Body), id, "ID"), strings.ReplaceAll(string(m.Body), fake, "ID"); got != want || r.Status != m.Status {
			t.Errorf("%s: answer for a real stream %d %s differs from a made-up one's %d %s", op.name, r.Status, got, m.Status, want)
		}
	}
	r := f.send("GET", api.SSFConfigPath, bob, "")
	var list []map[string]any
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list) != 1 || list[0]["stream_id"] != bobs {
		t.Errorf("bob's list: %s, want his stream only", r.Body)
	}

	// Nor through his own stream: acknowledgements are per stream.
	r = f.send("POST", api.SSFPollPath+bobs, bob, fmt.Sprintf(`{"maxEvents":0,"ack":[%q],"setErrs":{%q:{"err":"x","description":"y"}}}`, queued[0], queued[len(queued)-1]))
	if r.Status != 200 {
		t.Errorf("bob's poll of his own stream: %d %s", r.Status, r.Body)
	}

	if after := f.snapshot(id); after != before {
		t.Errorf("alice's stream changed:\n%s\n%s", before, after)
	}
	alice := f.aliceToken()
	if got := f.queued(id, alice); !slices.Equal(got, queued) {
		t.Errorf("alice's queue %v, want %v: another client acknowledged or queued", got, queued)
	}
	// Bob's verify attempt spent none of alice's verification allowance.
	if r := f.send("POST", api.SSFVerifyPath, "Bearer "+alice, fmt.Sprintf(`{"stream_id":%q}`, id)); r.Status != http.StatusNoContent {
		t.Errorf("alice's verification: %d %s, want 204", r.Status, r.Body)
	}
	// The admin sees both streams; alice does not see bob's.
	if n := f.streamCount(); n != 2 {
		t.Errorf("admin sees %d streams, want 2", n)
	}
	if r := f.send("GET", api.SSFConfigPath+"?stream_id="+bobs, "Bearer "+alice, ""); r.Status != 404 {
		t.Errorf("alice reads bob's stream: %d %s, want 404", r.Status, r.Body)
	}
}

// TestSSFManagementRefusesBadInput: bad requests get a 400 that says
// what is wrong, and store nothing.
func TestSSFManagementRefusesBadInput(t *testing.T) {
	f := newSSFAdv(t) // without SSFAllowHTTP
	tok := f.aliceToken()
	id := f.create(tok, `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"kept"}`)
	// A push stream for the poll-on-push case, disabled so that it pushes
	// nowhere.
	push := f.create(tok, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.invalid/events","authorization_header":"Bearer x"}}`)
	if r := f.send("POST", api.SSFStatusPath, "Bearer "+tok, `{"stream_id":"`+push+`","status":"disabled"}`); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	before, pushBefore, streams := f.snapshot(id), f.snapshot(push), f.streamCount()

	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	poll := map[string]any{"method": mayfly.DeliveryPoll}
	pushTo := func(u string) map[string]any {
		return map[string]any{"method": mayfly.DeliveryPush, "endpoint_url": u}
	}
	create := func(m map[string]any) string { return js(m) }
	events33 := make([]string, 33)
	for i := range events33 {
		events33[i] = fmt.Sprintf("https://example.com/event/%d", i)
	}
	big := `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"` + strings.Repeat("a", httpapi.MaxBodySize) + `"}`
	subj := func(path string, s any) ssfOp {
		return ssfOp{"", "POST", path, js(map[string]any{"stream_id": id, "subject": s})}
	}
	cases := []struct {
		name string
		op   ssfOp
		want string // in the message or field
	}{
		{"malformed JSON", ssfOp{"", "POST", api.SSFConfigPath, `{"delivery":`}, "JSON"},
		{"not JSON", ssfOp{"", "POST", api.SSFConfigPath, `method=poll`}, "JSON"},
		{"two JSON values", ssfOp{"", "POST", api.SSFConfigPath, `{} {}`}, "more than one"},
		{"unknown field", ssfOp{"", "POST", api.SSFConfigPath, `{"delivery":{"method":"urn:ietf:rfc:8936"},"format":"x"}`}, "unknown field"},
		{"unknown delivery field", ssfOp{"", "POST", api.SSFConfigPath, `{"delivery":{"method":"urn:ietf:rfc:8936","secret":"x"}}`}, "unknown field"},
		{"events_requested not a list", ssfOp{"", "POST", api.SSFConfigPath, `{"events_requested":"all"}`}, "events_requested"},
		{"unknown delivery method", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": "urn:example:smtp"}})}, "delivery.method"},
		{"empty delivery method", ssfOp{"", "POST", api.SSFConfigPath, `{"delivery":{}}`}, "delivery.method"},
		{"push without endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPush}})}, "endpoint_url"},
		{"http endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("http://rx.example/events")})}, "https"},
		{"userinfo in endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("https://user:pass@rx.example/events")})}, "credentials"},
		{"fragment in endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("https://rx.example/events#frag")})}, "fragment"},
		{"relative endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("/events")})}, "absolute"},
		{"scheme-relative endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("//rx.example/events")})}, "absolute"},
		{"loopback endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("https://127.0.0.1:8443/events")})}, "public"},
		{"private endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("https://[fd00::1]/events")})}, "public"},
		{"ftp endpoint", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("ftp://rx.example/events")})}, "https"},
		{"endpoint of 3 KiB", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": pushTo("https://rx.example/" + strings.Repeat("e", 3<<10))})}, "endpoint_url"},
		{"poll with endpoint_url", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPoll, "endpoint_url": "https://rx.example/"}})}, "endpoint_url"},
		{"poll with authorization_header", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPoll, "authorization_header": "Bearer x"}})}, "authorization_header"},
		{"authorization_header with a newline", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPush,
			"endpoint_url": "https://rx.example/", "authorization_header": "Bearer x\r\nX-Injected: 1"}})}, "authorization_header"},
		{"authorization_header with a NUL", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPush,
			"endpoint_url": "https://rx.example/", "authorization_header": "Bearer x\x00y"}})}, "authorization_header"},
		{"authorization_header with a DEL", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPush,
			"endpoint_url": "https://rx.example/", "authorization_header": "Bearer x\x7fy"}})}, "authorization_header"},
		{"stream_id on create", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"stream_id": "ssf_mine", "delivery": poll})}, "stream_id"},
		{"300-byte description", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": poll, "description": strings.Repeat("d", 300)})}, "description"},
		{"33 events_requested", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": poll, "events_requested": events33})}, "events_requested"},
		{"relative event type", ssfOp{"", "POST", api.SSFConfigPath, create(map[string]any{"delivery": poll, "events_requested": []string{"session-revoked"}})}, "events_requested"},
		{"body over the limit", ssfOp{"", "POST", api.SSFConfigPath, big}, "exceeds"},

		{"patch without stream_id", ssfOp{"", "PATCH", api.SSFConfigPath, `{"description":"x"}`}, "stream_id"},
		{"patch 300-byte description", ssfOp{"", "PATCH", api.SSFConfigPath, js(map[string]any{"stream_id": id, "description": strings.Repeat("d", 300)})}, "description"},
		{"patch to an http endpoint", ssfOp{"", "PATCH", api.SSFConfigPath, js(map[string]any{"stream_id": id, "delivery": pushTo("http://rx.example/")})}, "https"},
		{"patch unknown field", ssfOp{"", "PATCH", api.SSFConfigPath, js(map[string]any{"stream_id": id, "status": "paused"})}, "unknown field"},
		{"patch over the limit", ssfOp{"", "PATCH", api.SSFConfigPath, strings.Replace(big, `{`, `{"stream_id":"`+id+`",`, 1)}, "exceeds"},
		{"put without delivery", ssfOp{"", "PUT", api.SSFConfigPath, js(map[string]any{"stream_id": id, "description": "x"})}, "delivery"},
		{"put with bad delivery", ssfOp{"", "PUT", api.SSFConfigPath, js(map[string]any{"stream_id": id, "delivery": pushTo("https://u@rx.example/")})}, "credentials"},
		{"delete without stream_id", ssfOp{"", "DELETE", api.SSFConfigPath, ""}, "stream_id"},

		{"status without stream_id", ssfOp{"", "GET", api.SSFStatusPath, ""}, "stream_id"},
		{"status bogus", ssfOp{"", "POST", api.SSFStatusPath, js(map[string]any{"stream_id": id, "status": "bogus"})}, "status"},
		{"status empty", ssfOp{"", "POST", api.SSFStatusPath, js(map[string]any{"stream_id": id})}, "status"},
		{"status reason of 300 bytes", ssfOp{"", "POST", api.SSFStatusPath, js(map[string]any{"stream_id": id, "status": "paused", "reason": strings.Repeat("r", 300)})}, "reason"},

		{"subject missing", ssfOp{"", "POST", api.SSFAddPath, js(map[string]any{"stream_id": id})}, "subject"},
		{"subject without stream_id", ssfOp{"", "POST", api.SSFRemovePath, js(map[string]any{"subject": map[string]any{"format": "opaque", "id": "x"}})}, "stream_id"},
		{"subject not an object", ssfOp{"", "POST", api.SSFRemovePath, js(map[string]any{"stream_id": id, "subject": "alice"})}, "subject"},
		{"subject over the limit", ssfOp{"", "POST", api.SSFRemovePath, js(map[string]any{"stream_id": id, "subject": map[string]any{"format": "opaque", "id": strings.Repeat("i", httpapi.MaxBodySize)}})}, "exceeds"},
		{"verify state of 300 bytes", ssfOp{"", "POST", api.SSFVerifyPath, js(map[string]any{"stream_id": id, "state": strings.Repeat("s", 300)})}, "state"},
		{"verify without stream_id", ssfOp{"", "POST", api.SSFVerifyPath, `{"state":"x"}`}, "stream_id"},
		{"verify unknown field", ssfOp{"", "POST", api.SSFVerifyPath, js(map[string]any{"stream_id": id, "nonce": "x"})}, "unknown field"},

		{"maxEvents -1", ssfOp{"", "POST", api.SSFPollPath + id, `{"maxEvents":-1,"returnImmediately":true}`}, "maxEvents"},
		{"maxEvents 1001", ssfOp{"", "POST", api.SSFPollPath + id, `{"maxEvents":1001,"returnImmediately":true}`}, "maxEvents"},
		{"maxEvents not a number", ssfOp{"", "POST", api.SSFPollPath + id, `{"maxEvents":"ten","returnImmediately":true}`}, "maxEvents"},
		{"poll unknown field", ssfOp{"", "POST", api.SSFPollPath + id, `{"returnImmediately":true,"acks":[]}`}, "unknown field"},
		{"poll on a push stream", ssfOp{"", "POST", api.SSFPollPath + push, `{"returnImmediately":true}`}, "push"},
		{"poll over the limit", ssfOp{"", "POST", api.SSFPollPath + id, js(map[string]any{"returnImmediately": true, "ack": []string{strings.Repeat("j", httpapi.MaxBodySize)}})}, "exceeds"},
	}
	// Subjects that are not RFC 9493 identifiers, refused by both endpoints.
	badSubjects := []struct {
		name string
		sub  any
	}{
		{"unknown format", map[string]any{"format": "x500", "dn": "cn=alice"}},
		{"no format", map[string]any{"email": "alice@example.com"}},
		{"format not a string", map[string]any{"format": 5, "email": "alice@example.com"}},
		{"missing member", map[string]any{"format": "iss_sub", "iss": "https://idp.example"}},
		{"extra member", map[string]any{"format": "email", "email": "alice@example.com", "name": "alice"}},
		{"empty member", map[string]any{"format": "opaque", "id": ""}},
		{"numbers instead of strings", map[string]any{"format": "iss_sub", "iss": 1, "sub": 2}},
		{"empty complex", map[string]any{"format": "complex"}},
		{"complex member not an object", map[string]any{"format": "complex", "user": "alice"}},
		{"complex member invalid", map[string]any{"format": "complex", "user": map[string]any{"format": "email"}}},
		{"complex in complex", map[string]any{"format": "complex", "user": map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "s"}}}},
	}
	for _, b := range badSubjects {
		cases = append(cases,
			struct {
				name string
				op   ssfOp
				want string
			}{"add " + b.name, subj(api.SSFAddPath, b.sub), "subject"},
			struct {
				name string
				op   ssfOp
				want string
			}{"remove " + b.name, subj(api.SSFRemovePath, b.sub), "subject"})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.send(tc.op.method, tc.op.path, "Bearer "+tok, tc.op.body)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", r.Status, r.Body)
			}
			var e api.ErrorBody
			if err := json.Unmarshal(r.Body, &e); err != nil || e.Message == "" {
				t.Fatalf("error body %s, want a JSON error with a message", r.Body)
			}
			if !strings.Contains(e.Message+" "+e.Field, tc.want) {
				t.Errorf("message %q (field %q) does not mention %q", e.Message, e.Field, tc.want)
			}
		})
	}

	if after := f.snapshot(id); after != before {
		t.Errorf("the poll stream changed:\n%s\n%s", before, after)
	}
	if after := f.snapshot(push); after != pushBefore {
		t.Errorf("the push stream changed:\n%s\n%s", pushBefore, after)
	}
	if n := f.streamCount(); n != streams {
		t.Errorf("%d streams, want %d: a refused create stored one", n, streams)
	}
	// No bad subject was removed, no verification queued: the stream gets
	// exactly the events of a revocation.
	victim, _ := f.NewClient(api.ClientRequest{Name: "victim", Owner: f.Human("vic")})
	if _, err := f.Admin.RevokeClient(t.Context(), victim.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if got := f.queued(id, f.aliceToken()); len(got) != 2 {
		t.Errorf("queued %d SETs after a client revocation, want its 2", len(got))
	}
}

// TestSSFVerificationRateLimit: a second verification within the minimum
// interval is refused with 429 and a Retry-After of the time left, by the
// transmitter's clock.
func TestSSFVerificationRateLimit(t *testing.T) {
	f := newSSFAdv(t)
	tok := f.aliceToken()
	id := f.create(tok, `{}`)
	other := f.create(tok, `{}`)
	verify := func(id string) *servertest.Response {
		return f.send("POST", api.SSFVerifyPath, "Bearer "+tok, fmt.Sprintf(`{"stream_id":%q,"state":"s"}`, id))
	}
	if got := verify(id).Status; got != 204 {
		t.Fatalf("first verification: %d, want 204", got)
	}
	if r := verify(id); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "5" {
		t.Errorf("second verification at once: %d, Retry-After %q; want 429, 5", r.Status, r.Header.Get("Retry-After"))
	}
	if got := verify(other).Status; got != 204 {
		t.Errorf("another stream's verification: %d, want 204: the limit is per stream", got)
	}
	f.Clock.Advance(4 * time.Second)
	if r := verify(id); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Errorf("after 4 s: %d, Retry-After %q; want 429, 1", r.Status, r.Header.Get("Retry-After"))
	}
	f.Clock.Advance(time.Second)
	if got := verify(id).Status; got != 204 {
		t.Errorf("after 5 s: %d, want 204", got)
	}
	// One verification event per accepted request.
	if got := f.queued(id, tok); len(got) != 2 {
		t.Errorf("queued %d verification events, want 2", len(got))
	}
}

// TestSSFStreamLimit: a client may have 16 streams; the 17th is refused
// with 409 until one is deleted. Admins are not limited.
func TestSSFStreamLimit(t *testing.T) {
	f := newSSFAdv(t)
	tok := f.aliceToken()
	var ids []string
	for range 16 {
		ids = append(ids, f.create(tok, `{}`))
	}
	r := f.send("POST", api.SSFConfigPath, "Bearer "+tok, `{}`)
	if r.Status != http.StatusConflict {
		t.Fatalf("17th stream: %d %s, want 409", r.Status, r.Body)
	}
	if n := f.streamCount(); n != 16 {
		t.Fatalf("%d streams after a refused 17th, want 16", n)
	}
	// Another client has its own allowance; so has the admin.
	f.create(f.bobToken(), `{}`)
	f.create(f.Token, `{}`)
	if r := f.send("DELETE", api.SSFConfigPath+"?stream_id="+ids[3], "Bearer "+tok, ""); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := f.send("GET", api.SSFConfigPath+"?stream_id="+ids[3], "Bearer "+tok, ""); r.Status != 404 {
		t.Errorf("deleted stream: %d %s, want 404", r.Status, r.Body)
	}
	f.create(tok, `{}`)
}

// TestSSFPushSecretStaysSecret: the authorization header a receiver gives
// for push is used, but never returned by any management response, nor
// written to the server log or the audit log, whatever happens to pushes.
func TestSSFPushSecretStaysSecret(t *testing.T) {
	f := newSSFAdv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	const secret = "Bearer s3cr3t-push-credential"
	const querySecret = "q53cr3t"
	var mu sync.Mutex
	var gotAuth []string
	answers := []int{500, 400, 401}
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		status := http.StatusAccepted
		if len(answers) > 0 {
			status, answers = answers[0], answers[1:]
		}
		mu.Unlock()
		w.WriteHeader(status)
		if status == 400 {
			w.Write([]byte(`{"err":"invalid_request","description":"nope"}`))
		}
	}))
	defer rx.Close()
	tok := f.aliceToken()
	endpoint := rx.URL + "/events?key=" + querySecret
	var bodies [][]byte
	record := func(r *servertest.Response) *servertest.Response {
		bodies = append(bodies, r.Body)
		return r
	}
	r := record(f.send("POST", api.SSFConfigPath, "Bearer "+tok, fmt.Sprintf(
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":%q,"authorization_header":%q}}`, endpoint, secret)))
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var cfg map[string]any
	json.Unmarshal(r.Body, &cfg)
	id := cfg["stream_id"].(string)
	// A receiver echoing the configuration back, as read, keeps the header.
	cfg["description"] = "echoed"
	echo, _ := json.Marshal(cfg)
	record(f.send("PATCH", api.SSFConfigPath, "Bearer "+tok, string(echo)))
	record(f.send("GET", api.SSFConfigPath+"?stream_id="+id, "Bearer "+tok, ""))
	record(f.send("GET", api.SSFConfigPath, "Bearer "+tok, ""))
	record(f.send("GET", api.SSFConfigPath, "Bearer "+f.Token, ""))
	record(f.send("GET", api.SSFStatusPath+"?stream_id="+id, "Bearer "+tok, ""))
	record(f.send("POST", api.SSFConfigPath, "Bearer "+tok, fmt.Sprintf(
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://u:%s@rx.example/","authorization_header":%q}}`, querySecret, secret)))
	record(f.send("POST", api.SSFConfigPath, "Bearer "+tok, fmt.Sprintf(
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":%q,"authorization_header":%q}}`, endpoint, secret+"\n")))

	// Pushes refused with 500, 400 and 401, then accepted.
	for i := range 3 {
		victim, _ := f.NewClient(api.ClientRequest{Name: fmt.Sprintf("victim%d", i), Owner: f.Human(fmt.Sprintf("vic%d", i))})
		if _, err := f.Admin.RevokeClient(t.Context(), victim.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(rxWait)
	for {
		if err := f.Server.SSF.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Minute)
		mu.Lock()
		n := len(gotAuth)
		mu.Unlock()
		// 6 SETs: the first refused with 500 then dropped with 400, the
		// second refused with 401 then taken, and 4 more.
		if n >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes in %s, want 8", n, rxWait)
		}
	}
	// And to a receiver that is gone.
	rx.Close()
	p := f.Human("sam")
	if _, err := f.Admin.Suspend(t.Context(), p, "x"); err != nil {
		t.Fatal(err)
	}
	if err := f.Server.SSF.Round(t.Context()); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	for _, a := range gotAuth {
		if a != secret {
			t.Errorf("a push carried Authorization %q, want the configured header", a)
		}
	}
	mu.Unlock()
	for _, b := range bodies {
		if bytes.Contains(b, []byte("s3cr3t")) {
			t.Errorf("a management response holds the push credential: %s", b)
		}
	}
	if strings.Contains(f.Log.String(), "s3cr3t") || strings.Contains(f.Log.String(), querySecret) {
		t.Errorf("the server log holds the push credential or the endpoint's query:\n%s", f.Log.String())
	}
	entries, err := f.Admin.AuditSearch(t.Context(), mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := json.Marshal(entries)
	if bytes.Contains(audit, []byte("s3cr3t")) || bytes.Contains(audit, []byte(querySecret)) {
		t.Errorf("the audit log holds the push credential or the endpoint's query")
	}
}

// TestSSFPushSecretStaysWithItsEndpoint: a receiver's authorization header
// is kept while the endpoint stays, and dropped when a change sends
// pushes elsewhere without naming a header, so that it never goes to an
// address it was not given for.
func TestSSFPushSecretStaysWithItsEndpoint(t *testing.T) {
	f := newSSFAdv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	var mu sync.Mutex
	got := map[string][]string{} // receiver -> Authorization headers
	receiver := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[name] = append(got[name], r.Header.Get("Authorization"))
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	first, second := receiver("first"), receiver("second")
	tok := f.aliceToken()
	id := f.create(tok, fmt.Sprintf(`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":%q,"authorization_header":"Bearer for-first"}}`, first.URL))
	patch := func(body string) {
		t.Helper()
		if r := f.send("PATCH", api.SSFConfigPath, "Bearer "+tok, body); r.Status != 200 {
			t.Fatalf("PATCH %s: %d %s", body, r.Status, r.Body)
		}
	}
	push := func(want string, n int) {
		t.Helper()
		if r := f.send("POST", api.SSFVerifyPath, "Bearer "+tok, fmt.Sprintf(`{"stream_id":%q}`, id)); r.Status != 204 {
			t.Fatalf("verify: %d %s", r.Status, r.Body)
		}
		f.Clock.Advance(time.Minute) // past the verification interval
		deadline := time.Now().Add(rxWait)
		for {
			if err := f.Server.SSF.Round(t.Context()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			have := len(got[want])
			mu.Unlock()
			if have >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no push reached the %s receiver in %s", want, rxWait)
			}
		}
	}
	// Same endpoint, header not named: kept.
	patch(fmt.Sprintf(`{"stream_id":%q,"description":"x","delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":%q}}`, id, first.URL))
	push("first", 1)
	// Another endpoint, header not named: not sent there.
	patch(fmt.Sprintf(`{"stream_id":%q,"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":%q}}`, id, second.URL))
	push("second", 1)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got["first"], []string{"Bearer for-first"}) {
		t.Errorf("the first receiver got %q, want its header", got["first"])
	}
	if !slices.Equal(got["second"], []string{""}) {
		t.Errorf("the second receiver got Authorization %q, want none: the first receiver's secret followed the stream", got["second"])
	}
}
