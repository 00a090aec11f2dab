package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// tokenFor asks for a token with client_secret_basic.
func tokenFor(env *servertest.Env, id, secret string) *servertest.Response {
	return env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}}, id, secret)
}

// want checks a response's status and, for 429 and 503, its Retry-After
// in seconds.
func want(t *testing.T, what string, r *servertest.Response, status, retry int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d %s, want %d", what, r.Status, r.Body, status)
	}
	got := r.Header.Get("Retry-After")
	switch {
	case retry == 0 && got != "":
		t.Errorf("%s: Retry-After %q, want none", what, got)
	case retry != 0 && got != strconv.Itoa(retry):
		t.Errorf("%s: Retry-After %q, want %d", what, got, retry)
	}
}

// metric reads one sample from /metrics: name with its labels as
// Prometheus writes them, such as `x_total{kind="client"}`.
func metric(t *testing.T, env *servertest.Env, sample string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+"/metrics", nil)
	for line := range strings.SplitSeq(string(env.Do(req).Body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s in /metrics", sample)
	return 0
}

// TestClientLockout: wrong secrets back a client ID off exponentially;
// while it backs off even the right secret gets 429 with Retry-After, at
// the token endpoint, introspection and revocation alike; once the clock
// passes the backoff the right secret works and resets the count.
func TestClientLockout(t *testing.T) {
	env := servertest.New(t)
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	other, otherSecret := env.NewClient(api.ClientRequest{Name: "other", Owner: env.Human("bob")})
	tok := env.IssueToken(c.ID, secret, nil)
	failures := limit.DefaultClient.Failures
	for i := range failures {
		want(t, fmt.Sprint("wrong secret ", i+1), tokenFor(env, c.ID, "mfs_wrong"), 401, 0)
	}
	r := tokenFor(env, c.ID, secret)
	want(t, "right secret while backing off", r, 429, 1)
	if got := r.JSON()["error"]; got != "temporarily_unavailable" {
		t.Errorf("error %q, want temporarily_unavailable", got)
	}
	want(t, "introspection while backing off", env.PostForm(api.IntrospectPath, url.Values{"token": {tok}}, c.ID, secret), 429, 1)
	want(t, "revocation while backing off", env.PostForm(api.RevokePath, url.Values{"token": {tok}}, c.ID, secret), 429, 1)
	post := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {secret}}
	want(t, "client_secret_post while backing off", env.PostForm(api.TokenPath, post, "", ""), 429, 1)
	want(t, "another client meanwhile", tokenFor(env, other.ID, otherSecret), 200, 0)

	env.Clock.Advance(time.Second - time.Millisecond)
	want(t, "a millisecond before the backoff ends", tokenFor(env, c.ID, secret), 429, 1)
	env.Clock.Advance(time.Millisecond)
	want(t, "once it ends", tokenFor(env, c.ID, secret), 200, 0)

	// The success reset the count: as many free failures again.
	for i := range failures - 1 {
		want(t, fmt.Sprint("wrong secret after the success ", i+1), tokenFor(env, c.ID, "mfs_wrong"), 401, 0)
	}
	want(t, "right secret after fewer failures than start a backoff", tokenFor(env, c.ID, secret), 200, 0)

	// Each failure after a backoff doubles the next.
	for range failures {
		tokenFor(env, c.ID, "mfs_wrong")
	}
	for _, d := range []int{1, 2, 4} {
		want(t, fmt.Sprintf("backing off %d s", d), tokenFor(env, c.ID, secret), 429, d)
		env.Clock.Advance(time.Duration(d) * time.Second)
		want(t, "a failure once the backoff ends", tokenFor(env, c.ID, "mfs_wrong"), 401, 0)
	}
	want(t, "backing off 8 s", tokenFor(env, c.ID, secret), 429, 8)

	if n := strings.Count(env.Log.String(), "authentication lockout"); n != 5 {
		t.Errorf("%d lockout log lines, want one per backoff started (5):\n%s", n, env.Log)
	}
	if !strings.Contains(env.Log.String(), "client_id="+c.ID) {
		t.Errorf("the lockout lines do not name the client")
	}
	if strings.Contains(env.Log.String(), "mfs_wrong") || strings.Contains(env.Log.String(), secret) {
		t.Errorf("a secret reached the log")
	}
	if got := metric(t, env, `mayfly_auth_lockouts_total{kind="client"}`); got != 5 {
		t.Errorf("client lockouts counted %v, want 5", got)
	}
	if got := metric(t, env, `mayfly_requests_refused_total{limit="client"}`); got != 9 {
		t.Errorf("requests refused for a client counted %v, want 9", got)
	}
}

// TestClientLockoutPrivateKeyJWT: an assertion names its client in its
// subject; the lockout keys on it without trusting it.
func TestClientLockoutPrivateKeyJWT(t *testing.T) {
	f := newAdvFixture(t)
	c := f.newJWTClient("jwt-client")
	forger := f.newJWTClient("forger") // a key the server does not hold for c
	form := func(key *ecdsa.PrivateKey) url.Values {
		v, _ := url.ParseQuery(advAssertionForm(advSign(t, jose.ES256, key, c.kid, "", f.assertionClaims(c))))
		return v
	}
	for range limit.DefaultClient.Failures {
		want(t, "forged assertion", f.PostForm(api.TokenPath, form(forger.key), "", ""), 401, 0)
	}
	want(t, "a good assertion while the client backs off", f.PostForm(api.TokenPath, form(c.key), "", ""), 429, 1)
	f.Clock.Advance(time.Second)
	want(t, "after the backoff", f.PostForm(api.TokenPath, form(c.key), "", ""), 200, 0)
}

// TestAddressLockout: one failure each for many client IDs from one
// address backs the address off, for every client it speaks for; a
// revocation stream it opened before goes on; behind a trusted proxy each
// forwarded address has its own count, and from anyone else
// X-Forwarded-For changes nothing.
func TestAddressLockout(t *testing.T) {
	env := servertest.New(t, func(c *serverConfig) { c.StreamHeartbeat = 20 * time.Millisecond })
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	stream := subscribe(t, env, c.ID, secret, "")
	next(t, stream, "ready")
	spray := func(xff string, n int) {
		for i := range n {
			req, _ := http.NewRequest("POST", env.URL+api.TokenPath, strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(fmt.Sprintf("mfc_nosuchclient%04d", i), "mfs_guess")
			if xff != "" {
				req.Header.Set("X-Forwarded-For", xff)
			}
			want(t, fmt.Sprint("guess ", i+1), env.Do(req), 401, 0)
		}
	}
	spray("203.0.113.9", limit.DefaultAddress.Failures) // X-Forwarded-For from an untrusted peer: ignored
	r := tokenFor(env, c.ID, secret)
	want(t, "a good client from the address backing off", r, 429, 1)
	if !strings.Contains(r.JSON()["error_description"].(string), "address") {
		t.Errorf("the refusal does not say it is the address: %s", r.Body)
	}
	for range 2 {
		next(t, stream, "heartbeat") // checked again at each heartbeat, outside the lockouts
	}
	env.Clock.Advance(time.Second)
	want(t, "after the backoff", tokenFor(env, c.ID, secret), 200, 0)
	if got := metric(t, env, `mayfly_auth_lockouts_total{kind="address"}`); got != 1 {
		t.Errorf("address lockouts counted %v, want 1", got)
	}
	if !strings.Contains(env.Log.String(), "source_ip=127.0.0.1") {
		t.Errorf("the lockout line does not name the address:\n%s", env.Log)
	}

	proxied := servertest.New(t, func(c *serverConfig) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	pc, ps := proxied.NewClient(api.ClientRequest{Owner: proxied.Human("alice")})
	env = proxied
	spray("198.51.100.1", limit.DefaultAddress.Failures)
	from := func(xff string) *servertest.Response {
		req, _ := http.NewRequest("POST", proxied.URL+api.TokenPath, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", xff)
		req.SetBasicAuth(pc.ID, ps)
		return proxied.Do(req)
	}
	want(t, "the forwarded address that guessed", from("198.51.100.1"), 429, 1)
	want(t, "another forwarded address", from("198.51.100.2"), 200, 0)
}

// TestAdminLockout: failed admin and SCIM bearer credentials back their
// source address off, at the admin API, SCIM and introspection, before
// the credential is checked; the right one works once the clock passes.
func TestAdminLockout(t *testing.T) {
	env := newSCIMEnv(t)
	get := func(path, bearer string) *servertest.Response {
		req, _ := http.NewRequest("GET", env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		return env.Do(req)
	}
	failures := limit.DefaultAdmin.Failures
	for i := range failures {
		want(t, "wrong admin credential", get("/v1/principals", fmt.Sprint("mfa_wrong", i)), 401, 0)
	}
	want(t, "the admin credential while backing off", get("/v1/principals", env.Token), 429, 1)
	want(t, "the SCIM credential while backing off", get(api.SCIMPath+"/Users", env.token), 429, 1)
	intro, _ := http.NewRequest("POST", env.URL+api.IntrospectPath, strings.NewReader("token=x"))
	intro.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	intro.Header.Set("Authorization", "Bearer "+env.Token)
	want(t, "introspection as admin while backing off", env.Do(intro), 429, 1)
	env.Clock.Advance(time.Second)
	want(t, "the admin credential after", get("/v1/principals", env.Token), 200, 0)

	for i := range failures {
		want(t, "wrong SCIM credential", get(api.SCIMPath+"/Users", fmt.Sprint("mfa_wrong", i)), 401, 0)
	}
	r := get(api.SCIMPath+"/Users", env.token)
	want(t, "the SCIM credential while backing off", r, 429, 1)
	if got := r.JSON()["status"]; got != "429" {
		t.Errorf("SCIM error status %q, want 429: %s", got, r.Body)
	}
	env.Clock.Advance(time.Second)
	want(t, "the SCIM credential after", get(api.SCIMPath+"/Users", env.token), 200, 0)
	if got := metric(t, env.Env, `mayfly_auth_lockouts_total{kind="admin"}`); got != 2 {
		t.Errorf("admin lockouts counted %v, want 2", got)
	}
}

// TestExpensiveBound: with two expensive requests in flight, held there
// by the test, a third of any kind (an audit export, an RSA signature)
// waits, then gets 503 with Retry-After; ES256 tokens are not expensive
// and pass; once the two finish, the next are served.
func TestExpensiveBound(t *testing.T) {
	held, release := make(chan string), make(chan struct{})
	var mu sync.Mutex
	holding := 2
	env := servertest.New(t, func(c *serverConfig) {
		c.Limits.Expensive = 2
		c.Limits.ExpensiveWait = 10 * time.Millisecond
		c.Limits.Hold = func(what string) {
			mu.Lock()
			hold := what == "audit export" && holding > 0
			if hold {
				holding--
			}
			mu.Unlock()
			if hold {
				held <- what
				<-release
			}
		}
	})
	ctx := context.Background()
	if _, err := env.Admin.CreateRing(ctx, api.RingRequest{Name: "rsa", Alg: mayfly.RS256}); err != nil {
		t.Fatal(err)
	}
	owner := env.Human("alice")
	rsa, rsaSecret := env.NewClient(api.ClientRequest{Name: "rsa", Owner: owner, Ring: "rsa"})
	ec, ecSecret := env.NewClient(api.ClientRequest{Name: "ec", Owner: owner})
	export := func() *servertest.Response {
		req, _ := http.NewRequest("GET", env.URL+"/v1/audit/export", nil)
		req.Header.Set("Authorization", "Bearer "+env.Token)
		return env.Do(req)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if r := export(); r.Status != 200 {
				t.Errorf("a held export: %d %s", r.Status, r.Body)
			}
		})
		<-held
	}
	if got := metric(t, env, "mayfly_expensive_in_flight"); got != 2 {
		t.Errorf("in flight %v, want 2", got)
	}
	want(t, "a third export", export(), 503, 1)
	r := tokenFor(env, rsa.ID, rsaSecret)
	want(t, "an RS256 token", r, 503, 1)
	if got := r.JSON()["error"]; got != "temporarily_unavailable" {
		t.Errorf("error %q, want temporarily_unavailable", got)
	}
	verify, _ := http.NewRequest("POST", env.URL+"/v1/audit/verify", nil)
	verify.Header.Set("Authorization", "Bearer "+env.Token)
	want(t, "an audit verification", env.Do(verify), 503, 1)
	want(t, "an ES256 token", tokenFor(env, ec.ID, ecSecret), 200, 0)
	if got := metric(t, env, `mayfly_requests_refused_total{limit="expensive"}`); got != 3 {
		t.Errorf("refused as expensive %v, want 3", got)
	}
	close(release)
	wg.Wait()
	want(t, "an export after", export(), 200, 0)
	want(t, "an RS256 token after", tokenFor(env, rsa.ID, rsaSecret), 200, 0)
}

// TestLimitsConfigurable: the thresholds and backoffs are the
// configuration's; lockouts can be turned off; values that make no sense
// are refused at start.
func TestLimitsConfigurable(t *testing.T) {
	env := servertest.New(t, func(c *serverConfig) {
		c.Limits.Client = limit.Policy{Failures: 1, Max: 2 * time.Second}
	})
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	for _, d := range []int{1, 2, 2} {
		want(t, "wrong secret", tokenFor(env, c.ID, "mfs_wrong"), 401, 0)
		want(t, "backing off", tokenFor(env, c.ID, secret), 429, d)
		env.Clock.Advance(time.Duration(d) * time.Second)
	}

	off := servertest.New(t, servertest.NoLockout)
	c, secret = off.NewClient(api.ClientRequest{Owner: off.Human("alice")})
	for range 3 * limit.DefaultAddress.Failures {
		want(t, "wrong secret, lockouts off", tokenFor(off, c.ID, "mfs_wrong"), 401, 0)
	}
	want(t, "right secret, lockouts off", tokenFor(off, c.ID, secret), 200, 0)

	for _, bad := range []func(*serverConfig){
		func(c *serverConfig) { c.Limits.Client.Failures = -1 },
		func(c *serverConfig) { c.Limits.Address.Max = 10 * time.Millisecond },
		func(c *serverConfig) { c.Limits.Admin.Max = -time.Minute },
		func(c *serverConfig) { c.Limits.Expensive = -2 },
	} {
		if _, err := servertest.TryNew(t, bad); err == nil {
			t.Errorf("a start with bad limits succeeded")
		}
	}
}
