package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// recorder is a Detector that keeps what it is handed, and fails while
// told to.
type recorder struct {
	mu      sync.Mutex
	reports []mayfly.LedgerReport
	beats   []mayfly.LedgerHeartbeat
	fail    atomic.Bool
}

func (r *recorder) Detect(_ context.Context, _ mayfly.Tx, reports []mayfly.LedgerReport) error {
	if r.fail.Load() {
		return errors.New("the detector is down")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, reports...)
	return nil
}

func (r *recorder) Heartbeat(_ context.Context, _ mayfly.Tx, hb mayfly.LedgerHeartbeat) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beats = append(r.beats, hb)
	return nil
}

func (r *recorder) Tick(context.Context, mayfly.Tx, time.Time) error { return nil }

func (r *recorder) seen() []mayfly.LedgerReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// ledgerEnv is a server with a recording detector, a service "orders"
// and its client, and a service "billing".
type ledgerEnv struct {
	*servertest.Env
	det           *recorder
	orders        *mayfly.Client
	ordersSecret  string
	ordersID      string
	billingSecret string
	billingClient *mayfly.Client
}

func newLedgerEnv(t *testing.T, opts ...servertest.Option) *ledgerEnv {
	det := &recorder{}
	opts = append(opts, func(c *serverConfig) { c.WrapDetector = func(ledger.Detector) ledger.Detector { return det } })
	e := &ledgerEnv{Env: servertest.New(t, opts...), det: det}
	ctx := context.Background()
	for _, name := range []string{"orders", "billing"} {
		p, err := e.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: name, Kind: mayfly.Service, Owner: e.Human(name + "-owner")})
		if err != nil {
			t.Fatal(err)
		}
		c, secret := e.NewClient(api.ClientRequest{Name: name + "-client", Owner: p.ID})
		if name == "orders" {
			e.orders, e.ordersSecret, e.ordersID = c, secret, p.ID
		} else {
			e.billingClient, e.billingSecret = c, secret
		}
	}
	return e
}

// post posts body to path with the credentials given: a client ID and
// secret, or "" and an admin credential.
func (e *ledgerEnv) post(path, body, id, secret string) *servertest.Response {
	req, err := http.NewRequest("POST", e.URL+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if path == api.LedgerHeartbeatPath {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case id != "":
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	case secret != "":
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	return e.Do(req)
}

func (e *ledgerEnv) postOrders(body string) *servertest.Response {
	return e.post(api.LedgerEventsPath, body, e.orders.ID, e.ordersSecret)
}

func line(service, jti string, ids ...uint64) string {
	return fmt.Sprintf(`{"time":"2031-05-06T07:08:09Z","service":%q,"source_ip":"10.1.2.3","method":"GET","route":"/customers/{id}","records":{"customer":%s},"jti":%q,"client_id":"c-%s"}`,
		service, strings.ReplaceAll(fmt.Sprint(ids), " ", ","), jti, jti) + "\n"
}

// eventually waits for cond, which the pipeline makes true within a
// window or two, failing the test after a bound no healthy run nears.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after 20 s", what)
		}
	}
}

func (e *ledgerEnv) buckets(t *testing.T, jti string) []api.LedgerBucketView {
	t.Helper()
	bs, err := e.Admin.LedgerBuckets(context.Background(), mayfly.LedgerFilter{JTI: jti})
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func (e *ledgerEnv) depth(t *testing.T) int {
	t.Helper()
	n, err := e.Server.Store().LedgerJournalDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLedgerEventsAccepted(t *testing.T) {
	e := newLedgerEnv(t)
	big := uint64(1)<<40 + 5
	r := e.postOrders(line("orders", "jti-a", 17, 42, big) + line(e.ordersID, "jti-a", 42, 99))
	if r.Status != 200 || r.JSON()["accepted"] != float64(2) {
		t.Fatalf("posting two reports: got %d %s, want 200 and accepted 2", r.Status, r.Body)
	}
	eventually(t, "the reports are in the ledger", func() bool { return len(e.buckets(t, "jti-a")) > 0 })
	bs := e.buckets(t, "jti-a")
	if len(bs) != 1 {
		t.Fatalf("buckets of jti-a: got %d, want 1: %+v", len(bs), bs)
	}
	b := bs[0]
	if !slices.Equal(b.Records, []uint64{17, 42, 99, big}) || b.Requests != 2 || b.Namespace != "customer" ||
		!slices.Equal(b.Services, []string{"orders"}) || !slices.Equal(b.Sources, []string{"10.1.2.3"}) {
		t.Errorf("bucket: got %+v, want records 17 42 99 %d, 2 requests, service orders (named by name and by ID), source 10.1.2.3", b, big)
	}
	eventually(t, "the journal empties", func() bool { return e.depth(t) == 0 })
	if got := e.det.seen(); len(got) != 2 || got[0].JTI != "jti-a" || got[0].Service != "orders" {
		t.Errorf("detector saw %+v, want the two reports, service orders", got)
	}
	// The counters say what was accepted.
	m := e.Do(mustRequest(t, "GET", e.URL+api.MetricsPath))
	for _, want := range []string{"mayfly_ledger_reports_total 2", "mayfly_ledger_record_reads_total 5", "mayfly_ledger_journal_depth 0"} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The admin may report for any service that exists.
	r = e.post(api.LedgerEventsPath, line("billing", "jti-admin", 1), "", e.Token)
	if r.Status != 200 {
		t.Errorf("the admin reporting for billing: got %d %s, want 200", r.Status, r.Body)
	}
}

func TestLedgerEventsRefused(t *testing.T) {
	e := newLedgerEnv(t)
	good := line("orders", "jti-kept-not", 1)
	// A person's own client reports in the person's name; only a
	// service's client may report, as only a service verifies tokens.
	person, personSecret := e.NewClient(api.ClientRequest{Name: "carol-cli", Owner: e.Human("carol")})
	for _, tt := range []struct {
		name         string
		body         string
		id, secret   string
		status       int
		code, saying string
	}{
		{"malformed line", good + `{"time":"2031-05-06T07:08:09Z","service":"orders","source_ip":"10.1.2.3","records":{"customer":[-1]},"jti":"x"}` + "\n",
			e.orders.ID, e.ordersSecret, 400, "invalid_request", "line 2"},
		{"empty", "", e.orders.ID, e.ordersSecret, 400, "invalid_request", "no report"},
		{"no credentials", good, "", "", 401, "invalid_client", ""},
		{"wrong secret", good, e.orders.ID, "not-the-secret", 401, "invalid_client", ""},
		{"another service's name", good + line("billing", "jti-kept-not", 2), e.orders.ID, e.ordersSecret, 403, "access_denied", "line 2"},
		{"billing's client for orders", good, e.billingClient.ID, e.billingSecret, 403, "access_denied", "line 1"},
		{"a person's client", line("carol", "jti-kept-not", 4), person.ID, personSecret, 403, "access_denied", "not a service"},
		{"admin, no such service", line("nobody", "jti-kept-not", 3), "", e.Token, 400, "invalid_request", "line 1"},
		{"too large", strings.Repeat(good, ledger.DefaultBatchBytes/len(good)+1), e.orders.ID, e.ordersSecret, 413, "invalid_request", "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post(api.LedgerEventsPath, tt.body, tt.id, tt.secret)
			j := r.JSON()
			desc, _ := j["error_description"].(string)
			if r.Status != tt.status || j["error"] != tt.code || !strings.Contains(desc, tt.saying) {
				t.Errorf("got %d %s, want %d %s saying %q", r.Status, r.Body, tt.status, tt.code, tt.saying)
			}
			if strings.Contains(string(r.Body), e.ordersSecret) {
				t.Errorf("the answer quotes the secret")
			}
		})
	}
	if n := e.depth(t); n != 0 {
		t.Errorf("journal after refused batches: %d batches, want none", n)
	}
	if bs := e.buckets(t, "jti-kept-not"); len(bs) != 0 {
		t.Errorf("ledger after refused batches: %+v, want nothing", bs)
	}
}

// TestLedgerRawTokens reports raw tokens: one Mayfly issued, one whose
// key has since been revoked, one signed with a key Mayfly never had
// under the kid of one it has, and one signed with a stolen copy of a
// real key. Each is recorded with its claims and what its signature
// showed, and no raw token is kept.
func TestLedgerRawTokens(t *testing.T) {
	e := newLedgerEnv(t)
	genuine := e.IssueToken(e.orders.ID, e.ordersSecret, nil)
	stolen := e.Steal("default")
	forgedWithStolen := stolen.Forge(e.orders.ID, "", "api")
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: stolen.KID}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	now := e.Clock.Now()
	forged, err := jwt.Signed(sig).Claims(map[string]any{"iss": e.URL, "sub": "mallory", "client_id": "c-mallory", "jti": "jti-forged",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	// The key that signed the genuine token is revoked before it is
	// reported: a revoked key in use is what detection looks for.
	if _, err := e.Admin.RevokeKey(context.Background(), stolen.KID, "test"); err != nil {
		t.Fatal(err)
	}
	raw := func(tok string) string {
		return fmt.Sprintf(`{"time":"2031-05-06T07:08:09Z","service":"orders","source_ip":"10.1.2.3","records":{"customer":[1]},"token":%q}`, tok) + "\n"
	}
	r := e.postOrders(raw(genuine) + raw(forged) + raw(forgedWithStolen))
	if r.Status != 200 {
		t.Fatalf("posting raw tokens: %d %s", r.Status, r.Body)
	}
	eventually(t, "the detector sees the reports", func() bool { return len(e.det.seen()) == 3 })
	got := e.det.seen()
	want := []struct {
		jti   string
		check mayfly.LedgerCheck
		sub   string
	}{
		{jtiFromToken(t, genuine), mayfly.LedgerSigned, e.orders.ID},
		{"jti-forged", mayfly.LedgerUnsigned, "mallory"},
		{jtiFromToken(t, forgedWithStolen), mayfly.LedgerSigned, e.orders.ID},
	}
	for i, w := range want {
		g := got[i]
		if g.JTI != w.jti || g.Check != w.check || g.Subject != w.sub || g.KID != stolen.KID || g.Issuer != e.URL || g.Digest == "" ||
			g.IssuedAt.IsZero() || g.Expires.IsZero() || g.Token != "" {
			t.Errorf("report %d: got jti %s check %q sub %s kid %s iss %s digest %q, token kept %v; want jti %s check %q sub %s kid %s",
				i+1, g.JTI, g.Check, g.Subject, g.KID, g.Issuer, g.Digest, g.Token != "", w.jti, w.check, w.sub, stolen.KID)
		}
	}
	eventually(t, "the journal empties", func() bool { return e.depth(t) == 0 })
	bs := e.buckets(t, "jti-forged")
	if len(bs) != 1 || bs[0].Token.ClientID != "c-mallory" || bs[0].Token.KID != stolen.KID {
		t.Errorf("ledger of the forged token: got %+v, want its claims", bs)
	}
}

func jtiFromToken(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestLedgerHeartbeat(t *testing.T) {
	e := newLedgerEnv(t)
	hb := `{"service":"orders","time":"2031-05-06T07:10:00Z","revocation_seq":12,"revocation_age_ms":350,"dropped":12,"dropped_since":"2031-05-06T07:09:00Z"}`
	if r := e.post(api.LedgerHeartbeatPath, hb, e.orders.ID, e.ordersSecret); r.Status != 204 {
		t.Fatalf("heartbeat: got %d %s, want 204", r.Status, r.Body)
	}
	gaps, err := e.Admin.LedgerGaps(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2031, 5, 6, 7, 9, 0, 0, time.UTC), time.Date(2031, 5, 6, 7, 10, 0, 0, time.UTC)
	if len(gaps) != 1 || gaps[0].Service != "orders" || gaps[0].Dropped != 12 || !gaps[0].From.Equal(from) || !gaps[0].To.Equal(to) {
		t.Errorf("gaps: got %+v, want orders dropping 12 from %v to %v", gaps, from, to)
	}
	e.det.mu.Lock()
	beats := slices.Clone(e.det.beats)
	e.det.mu.Unlock()
	if len(beats) != 1 || beats[0].RevocationSeq != 12 || beats[0].RevocationAge != 350*time.Millisecond {
		t.Errorf("detector's heartbeats: got %+v, want one at seq 12, 350ms behind", beats)
	}
	if r := e.post(api.LedgerHeartbeatPath, strings.Replace(hb, `"orders"`, `"billing"`, 1), e.orders.ID, e.ordersSecret); r.Status != 403 {
		t.Errorf("a heartbeat in billing's name from orders' client: got %d %s, want 403", r.Status, r.Body)
	}
}

// TestLedgerRecovery stops the server while its detector is failing: the
// batches it acknowledged stay in the journal, and the next start detects
// and merges them, each once.
func TestLedgerRecovery(t *testing.T) {
	e := newLedgerEnv(t)
	e.det.fail.Store(true)
	for i := range 5 {
		if r := e.postOrders(line("orders", "jti-r", uint64(i))); r.Status != 200 {
			t.Fatalf("post %d: %d %s", i, r.Status, r.Body)
		}
	}
	e.Stop()
	if n := e.depth2(t); n != 5 {
		t.Fatalf("journal after a stop with detection failing: %d batches, want 5", n)
	}
	det := &recorder{}
	n := e.Restart(func(c *serverConfig) { c.WrapDetector = func(ledger.Detector) ledger.Detector { return det } })
	e2 := &ledgerEnv{Env: n, det: det}
	eventually(t, "the journal empties", func() bool { return e2.depth(t) == 0 })
	if got := det.seen(); len(got) != 5 {
		t.Errorf("detector after restart saw %d reports, want 5", len(got))
	}
	bs := e2.buckets(t, "jti-r")
	if len(bs) != 1 || bs[0].Requests != 5 || !slices.Equal(bs[0].Records, []uint64{0, 1, 2, 3, 4}) {
		t.Errorf("ledger after recovery: got %+v, want one bucket of 5 requests reading 0 to 4", bs)
	}
}

// depth2 counts the journal of a stopped server.
func (e *ledgerEnv) depth2(t *testing.T) int {
	t.Helper()
	st := servertest.OpenStore(t, e.Dir)
	defer st.Close()
	n, err := st.LedgerJournalDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
