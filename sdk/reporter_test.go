package sdk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

// ledgerServer implements Mayfly's two reporting routes as the ledger's
// contract says: HTTP Basic as the service's client, JSON Lines parsed by
// the ledger's own parser, a batch taken whole or refused (400) naming
// its line, and heartbeats.
type ledgerServer struct {
	t       testing.TB
	srv     *httptest.Server
	service string

	mu      sync.Mutex
	reports []mayfly.LedgerReport
	bodies  []string
	batches int
	beats   []heartbeat
	// Hooks, under mu: hang blocks event posts until it is closed (and
	// posted is told of each post that hangs); fail answers 503 to the
	// next fail posts; refuse answers 400 naming line refuse, once.
	hang   chan struct{}
	posted chan struct{}
	fail   int
	refuse int
	// changed is closed and replaced at every batch or heartbeat taken.
	changed chan struct{}
}

// heartbeat is a heartbeat as the contract spells it.
type heartbeat struct {
	Service         string `json:"service"`
	Time            string `json:"time"`
	RevocationSeq   *int64 `json:"revocation_seq"`
	RevocationAgeMS *int64 `json:"revocation_age_ms"`
	Dropped         int64  `json:"dropped"`
	DroppedSince    string `json:"dropped_since"`
}

func newLedgerServer(t testing.TB, service string) *ledgerServer {
	ls := &ledgerServer{t: t, service: service, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/ledger/events", ls.events)
	mux.HandleFunc("POST /v1/ledger/heartbeat", ls.heartbeat)
	ls.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		ls.mu.Lock()
		if ls.hang != nil {
			close(ls.hang)
			ls.hang = nil
		}
		ls.mu.Unlock()
		ls.srv.Close()
	})
	return ls
}

func apiError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (ls *ledgerServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	// client_secret_basic: each part form-encoded, then Basic.
	id, secret, ok := r.BasicAuth()
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	if !ok || err1 != nil || err2 != nil || id != sdktest.ClientID || secret != sdktest.ClientSecret {
		apiError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return false
	}
	return true
}

func (ls *ledgerServer) events(w http.ResponseWriter, r *http.Request) {
	if !ls.authorized(w, r) {
		return
	}
	ls.mu.Lock()
	hang, posted := ls.hang, ls.posted
	fail := ls.fail > 0
	if fail {
		ls.fail--
	}
	refuse := ls.refuse
	ls.refuse = 0
	ls.mu.Unlock()
	if hang != nil {
		if posted != nil {
			posted <- struct{}{}
		}
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if refuse > 0 {
		apiError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("line %d: route: refused by the test", refuse))
		return
	}
	reps, err := ledger.ParseReports(bytes.NewReader(body), ledger.Limits{})
	if err != nil {
		ls.t.Errorf("the ledger's parser refused a batch: %v", err)
		apiError(w, http.StatusBadRequest, "invalid_request", mayfly.ErrorMessage(err))
		return
	}
	for i, rep := range reps {
		if rep.Service != ls.service {
			apiError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("line %d: service %q is not the client's", i+1, rep.Service))
			return
		}
	}
	ls.mu.Lock()
	ls.reports = append(ls.reports, reps...)
	ls.bodies = append(ls.bodies, string(body))
	ls.batches++
	close(ls.changed)
	ls.changed = make(chan struct{})
	ls.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"accepted": %d}`, len(reps))
}

func (ls *ledgerServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	if !ls.authorized(w, r) {
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var hb heartbeat
	if err := dec.Decode(&hb); err != nil {
		ls.t.Errorf("heartbeat: %v", err)
		apiError(w, http.StatusBadRequest, "invalid_request", "not a heartbeat")
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, hb.Time); err != nil || hb.Service != ls.service || hb.RevocationSeq == nil || hb.RevocationAgeMS == nil {
		ls.t.Errorf("heartbeat %+v: time, service, revocation_seq or revocation_age_ms wrong or missing", hb)
	}
	if (hb.Dropped > 0) != (hb.DroppedSince != "") {
		ls.t.Errorf("heartbeat %+v: dropped and dropped_since go together", hb)
	}
	ls.mu.Lock()
	ls.beats = append(ls.beats, hb)
	close(ls.changed)
	ls.changed = make(chan struct{})
	ls.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait waits, up to 10 s of real time, until done holds of the server.
func (ls *ledgerServer) wait(what string, done func() bool) {
	ls.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		ls.mu.Lock()
		ok, ch := done(), ls.changed
		ls.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			ls.t.Fatalf("waited 10 s for %s", what)
		}
	}
}

func (ls *ledgerServer) snapshot() ([]mayfly.LedgerReport, []heartbeat) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return slices.Clone(ls.reports), slices.Clone(ls.beats)
}

func (ls *ledgerServer) dropped() int64 {
	_, beats := ls.snapshot()
	return sumDropped(beats)
}

func sumDropped(beats []heartbeat) int64 {
	var n int64
	for _, hb := range beats {
		n += hb.Dropped
	}
	return n
}

// reporterEnv is a verifier, a ledger, a reporter and a middleware that
// reports to it, around a ServeMux whose handlers read records.
type reporterEnv struct {
	*env
	ls  *ledgerServer
	rep *sdk.Reporter
	h   http.Handler
	log *bytes.Buffer
}

func newReporterEnv(t *testing.T, configure func(*sdk.ReporterConfig)) *reporterEnv {
	t.Helper()
	e := newEnv(t, nil)
	e.ready()
	ls := newLedgerServer(t, "orders")
	var logs bytes.Buffer
	cfg := sdk.ReporterConfig{Service: "orders", URL: ls.srv.URL, FlushInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(&syncWriter{w: &logs}, tbWriter{t}), nil))}
	if configure != nil {
		configure(&cfg)
	}
	rep, err := sdk.NewReporter(e.v, cfg)
	if err != nil {
		t.Fatalf("NewReporter: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rep.Close(ctx)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		sdk.Read(r.Context(), "customer", 17, 1<<40+3)
		sdk.Read(r.Context(), "order", 5)
		sdk.Read(r.Context(), "customer", 42)
		c, _ := sdk.ClaimsFrom(r.Context())
		io.WriteString(w, c.ClientID)
	})
	mux.HandleFunc("GET /export", func(w http.ResponseWriter, r *http.Request) {
		ids := make([]uint64, 20_000)
		for i := range ids {
			ids[i] = 1<<63 + uint64(i)*7919
		}
		sdk.Read(r.Context(), "customer", ids...)
	})
	return &reporterEnv{env: e, ls: ls, rep: rep, h: sdk.NewMiddleware(e.v, "read").WithReporter(rep).Handler(mux), log: &logs}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// do serves one request from 192.0.2.7 and returns its status.
func (re *reporterEnv) do(path, token string) int {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = "192.0.2.7:4711"
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	re.h.ServeHTTP(w, r)
	return w.Code
}

func (re *reporterEnv) flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return re.rep.Flush(ctx)
}

// forge returns tok with its payload's jti replaced: a signature that no
// longer verifies.
func forge(t testing.TB, tok, jti string) string {
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	claims["jti"] = jti
	b, _ = json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func TestReporterReportsRequests(t *testing.T) {
	re := newReporterEnv(t, nil)
	good := re.iss.Token(nil)
	revoked := re.iss.Token(map[string]any{"jti": "revoked-jti"})
	re.revoke(sdktest.JTI, "revoked-jti")
	forged := forge(t, good, "forged-jti")
	noScope := re.iss.Token(map[string]any{"scope": "write", "jti": "noscope-jti"})

	for _, tc := range []struct {
		token string
		want  int
	}{{good, 200}, {revoked, 401}, {forged, 401}, {noScope, 403}, {"", 401}, {"garbage", 401}} {
		if got := re.do("/customers/9", tc.token); got != tc.want {
			t.Fatalf("got status %d, want %d", got, tc.want)
		}
	}
	if err := re.flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	reps, beats := re.ls.snapshot()
	// No token, or one that names no jti: nothing to file a report under.
	if len(reps) != 4 {
		t.Fatalf("got %d reports, want 4 (accepted, revoked, forged, without the scope): %+v", len(reps), reps)
	}
	byJTI := map[string]mayfly.LedgerReport{}
	for _, r := range reps {
		byJTI[r.JTI] = r
	}
	digest := func(tok string) string {
		d, err := canon.Digest(tok)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	goodJTI := jtiOf(t, good)
	for _, w := range []struct {
		jti, digest, route string
		refused            bool
		records            map[string][]uint64
	}{
		{goodJTI, digest(good), "GET /customers/{id}", false, map[string][]uint64{"customer": {17, 42, 1<<40 + 3}, "order": {5}}},
		{"revoked-jti", digest(revoked), "", true, nil},
		{"forged-jti", digest(forged), "", true, nil},
		{"noscope-jti", digest(noScope), "", true, nil},
	} {
		r, ok := byJTI[w.jti]
		if !ok {
			t.Errorf("no report of jti %s", w.jti)
			continue
		}
		if r.Digest != w.digest || r.Refused != w.refused || r.Route != w.route || r.Method != "GET" ||
			r.Service != "orders" || r.SourceIP != netip.MustParseAddr("192.0.2.7") || !r.Time.Equal(re.clock.Now()) ||
			r.KID != re.iss.KeyID() || r.ClientID != sdktest.ClientID || r.Subject != sdktest.ClientID || r.Issuer != re.iss.URL {
			t.Errorf("got report %+v\nwant jti %s digest %s refused %v route %q, GET from 192.0.2.7 at %v by orders, kid %s", r, w.jti, w.digest, w.refused, w.route, re.clock.Now(), re.iss.KeyID())
		}
		if fmt.Sprint(r.Records) != fmt.Sprint(w.records) {
			t.Errorf("jti %s: got records %v, want %v", w.jti, r.Records, w.records)
		}
	}
	if !strings.Contains(re.ls.bodies[0], `"principal":"`+sdktest.Principal+`"`) {
		t.Errorf("reports do not name the principal: %s", re.ls.bodies[0])
	}
	for _, body := range re.ls.bodies {
		for _, part := range strings.Split(good, ".") {
			if strings.Contains(body, part) {
				t.Errorf("a report holds part of a token: %s", body)
			}
		}
	}
	if len(beats) == 0 || *beats[len(beats)-1].RevocationSeq != re.v.Seq() || beats[len(beats)-1].Dropped != 0 {
		t.Errorf("got heartbeats %+v, want the last at revocation %d, nothing dropped", beats, re.v.Seq())
	}
}

func jtiOf(t testing.TB, tok string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	json.Unmarshal(b, &c)
	return c.JTI
}

// Reports go out every FlushInterval without a Flush, in batches of at
// most 5,000 lines; a request that read more IDs than a line holds is
// sent as several lines, each within the ledger's line limit.
func TestReporterBatches(t *testing.T) {
	re := newReporterEnv(t, nil)
	good := re.iss.Token(nil)
	if got := re.do("/customers/1", good); got != 200 {
		t.Fatalf("got status %d", got)
	}
	re.ls.wait("the first report, without Flush", func() bool { return len(re.ls.reports) == 1 })

	const n = 12_000
	for range n {
		re.do("/customers/1", good)
	}
	re.do("/export", good)
	if err := re.flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	reps, _ := re.ls.snapshot()
	exported := map[uint64]bool{}
	accepted := 0
	for _, r := range reps {
		if r.Route == "GET /export" {
			for _, id := range r.Records["customer"] {
				exported[id] = true
			}
		} else {
			accepted++
		}
	}
	if accepted != n+1 || len(exported) != 20_000 {
		t.Errorf("got %d reports of /customers and %d IDs exported, want %d and 20000", accepted, len(exported), n+1)
	}
	for i := range uint64(20_000) {
		if !exported[1<<63+i*7919] {
			t.Fatalf("ID %d is missing from the export's reports", 1<<63+i*7919)
		}
	}
	re.ls.mu.Lock()
	defer re.ls.mu.Unlock()
	if re.ls.batches < 4 {
		t.Errorf("got %d batches, want at least 4: the first, then at most 5,000 lines each", re.ls.batches)
	}
	for _, body := range re.ls.bodies {
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if len(lines) > 5_000 {
			t.Errorf("a batch of %d lines", len(lines))
		}
		for _, l := range lines {
			if len(l) >= 64<<10 {
				t.Errorf("a line of %d bytes", len(l))
			}
		}
	}
}

// When Mayfly hangs, requests still go through: the buffer fills, what it
// cannot hold is dropped and counted, and the count reaches the ledger in
// the next heartbeat.
func TestReporterNeverBlocks(t *testing.T) {
	re := newReporterEnv(t, func(c *sdk.ReporterConfig) { c.MaxReports = 3 })
	good := re.iss.Token(nil)
	hang, posted := make(chan struct{}), make(chan struct{}, 1)
	re.ls.mu.Lock()
	re.ls.hang, re.ls.posted = hang, posted
	re.ls.mu.Unlock()

	re.do("/customers/1", good)
	<-posted // the flusher waits on Mayfly with that report
	for range 10 {
		if got := re.do("/customers/1", good); got != 200 {
			t.Fatalf("got status %d while Mayfly hangs", got)
		}
	}
	re.ls.mu.Lock()
	re.ls.hang = nil
	re.ls.mu.Unlock()
	close(hang)
	if err := re.flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	reps, beats := re.ls.snapshot()
	if len(reps) != 4 || re.ls.dropped() != 7 {
		t.Fatalf("got %d reports and %d dropped, want 4 and 7; heartbeats %+v", len(reps), re.ls.dropped(), beats)
	}
	i := slices.IndexFunc(beats, func(hb heartbeat) bool { return hb.Dropped > 0 })
	since, err := time.Parse(time.RFC3339Nano, beats[i].DroppedSince)
	if beats[i].Dropped != 7 || err != nil || !since.Equal(re.clock.Now()) {
		t.Errorf("got heartbeat %+v, want 7 dropped since %v", beats[i], re.clock.Now())
	}

	// Close gives up when its context ends, even if Mayfly hangs.
	hang = make(chan struct{})
	re.ls.mu.Lock()
	re.ls.hang, re.ls.posted = hang, nil
	re.ls.mu.Unlock()
	re.do("/customers/1", good)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := re.rep.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close against a hanging Mayfly: got %v, want context.DeadlineExceeded", err)
	}
	if got := re.do("/customers/1", good); got != 200 {
		t.Errorf("after Close: got status %d, want 200 (reports dropped, requests served)", got)
	}
}

// A batch that keeps failing is retried, then dropped and counted; one that
// fails a while is sent once it can be.
func TestReporterRetries(t *testing.T) {
	re := newReporterEnv(t, nil)
	good := re.iss.Token(nil)
	re.ls.mu.Lock()
	re.ls.fail = 2
	re.ls.mu.Unlock()
	for range 3 {
		re.do("/customers/1", good)
	}
	if err := re.flush(); err != nil {
		t.Fatalf("Flush after 2 failures: %v", err)
	}
	if reps, _ := re.ls.snapshot(); len(reps) != 3 || re.ls.dropped() != 0 {
		t.Fatalf("got %d reports, %d dropped; want 3 sent once, none dropped", len(reps), re.ls.dropped())
	}

	re2 := newReporterEnv(t, func(c *sdk.ReporterConfig) { c.RetryFor = time.Millisecond })
	re2.ls.mu.Lock()
	re2.ls.fail = 1 << 30
	re2.ls.mu.Unlock()
	for range 3 {
		re2.do("/customers/1", good)
	}
	re2.ls.wait("3 reports dropped, in heartbeats", func() bool { return sumDropped(re2.ls.beats) == 3 })
	if reps, _ := re2.ls.snapshot(); len(reps) != 0 {
		t.Errorf("got %d reports, want none: Mayfly took no batch", len(reps))
	}
}

// A line Mayfly refuses is taken out of its batch, counted, and the rest
// sent.
func TestReporterRefusedLine(t *testing.T) {
	re := newReporterEnv(t, nil)
	good := re.iss.Token(nil)
	hang, posted := make(chan struct{}), make(chan struct{}, 1)
	re.ls.mu.Lock()
	re.ls.hang, re.ls.posted = hang, posted
	re.ls.mu.Unlock()
	// One post hangs while three more requests are buffered, so that they
	// go in one batch, whose line 2 is refused.
	re.do("/customers/1", good)
	<-posted
	re.ls.mu.Lock()
	re.ls.hang, re.ls.refuse = nil, 2
	re.ls.mu.Unlock()
	for _, id := range []string{"a", "b", "c"} {
		re.do("/customers/1", re.iss.Token(map[string]any{"jti": "jti-" + id}))
	}
	close(hang)
	if err := re.flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	reps, _ := re.ls.snapshot()
	var jtis []string
	for _, r := range reps {
		jtis = append(jtis, r.JTI)
	}
	if want := fmt.Sprint([]string{jtiOf(t, good), "jti-a", "jti-c"}); fmt.Sprint(jtis) != want || re.ls.dropped() != 1 {
		t.Errorf("got jtis %v, %d dropped; want %s and 1 dropped", jtis, re.ls.dropped(), want)
	}
}

// Close sends what is buffered, and a last heartbeat.
func TestReporterClose(t *testing.T) {
	re := newReporterEnv(t, func(c *sdk.ReporterConfig) { c.FlushInterval = sdk.DefaultFlushInterval })
	good := re.iss.Token(nil)
	re.do("/customers/1", good)
	re.do("/customers/2", good)
	_, before := re.ls.snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := re.rep.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	reps, beats := re.ls.snapshot()
	if len(reps) != 2 || len(beats) <= len(before) {
		t.Errorf("after Close: %d reports, %d heartbeats (before: %d); want 2 and a last heartbeat", len(reps), len(beats), len(before))
	}
	if err := re.rep.Flush(ctx); err == nil {
		t.Error("Flush after Close: got no error")
	}
}

// Credentials Mayfly refuses are an error, which, like the log, never
// holds the secret.
func TestReporterSecretNotShown(t *testing.T) {
	const secret = "mfs_wrong-secret-do-not-print"
	re := newReporterEnv(t, func(c *sdk.ReporterConfig) { c.ClientID, c.ClientSecret = sdktest.ClientID, secret })
	re.do("/customers/1", re.iss.Token(nil))
	err := re.flush()
	if err == nil {
		t.Fatal("Flush with a wrong secret: got no error")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "d3Jvbmc") {
		t.Errorf("the error shows the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("got %v, want it to say Mayfly answered 401", err)
	}
	re.rep.Close(context.Background())
	if s := re.log.String(); strings.Contains(s, secret) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(sdktest.ClientID+":"+secret))) {
		t.Errorf("the log shows the secret:\n%s", s)
	}
}

func TestReporterConfig(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name string
		cfg  sdk.ReporterConfig
	}{
		{"no service", sdk.ReporterConfig{}},
		{"a slow flush", sdk.ReporterConfig{Service: "orders", FlushInterval: time.Second}},
		{"a negative bound", sdk.ReporterConfig{Service: "orders", MaxReports: -1}},
		{"a service on two lines", sdk.ReporterConfig{Service: "orders\nbilling"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rep, err := sdk.NewReporter(e.v, tc.cfg); err == nil {
				rep.Close(context.Background())
				t.Errorf("NewReporter(%+v): got no error", tc.cfg)
			}
		})
	}
	if _, err := sdk.NewReporter(nil, sdk.ReporterConfig{Service: "orders"}); err == nil {
		t.Error("NewReporter without a verifier, URL or client: got no error")
	}
}

// Read outside a reported request does nothing, and does not panic.
func TestReadOutsideARequest(t *testing.T) {
	sdk.Read(context.Background(), "customer", 1, 2, 3)
	sdk.Read(sdk.WithClaims(context.Background(), &sdk.Claims{ID: "j"}), "customer", 1)
}
