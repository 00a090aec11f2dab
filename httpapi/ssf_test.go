package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// ssfEnv is a server with a receiver client that may manage streams.
type ssfEnv struct {
	*servertest.Env
	t      *testing.T
	client *mayfly.Client
	token  string
}

func newSSFEnv(t *testing.T, opts ...servertest.Option) *ssfEnv {
	t.Helper()
	e := servertest.New(t, opts...)
	c, secret := e.NewClient(api.ClientRequest{Name: "receiver", Owner: e.Human("rita"), Scopes: []string{"ssf"}})
	return &ssfEnv{Env: e, t: t, client: c, token: e.IssueToken(c.ID, secret, nil)}
}

func (e *ssfEnv) call(method, path, bearer string, body any) *servertest.Response {
	e.t.Helper()
	return rxCall(e.t, e.Env, method, e.URL+path, bearer, body)
}

func TestSSFPollSmoke(t *testing.T) {
	e := newSSFEnv(t)
	r := e.call("POST", api.SSFConfigPath, e.token, map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPoll}})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var cfg api.SSFStreamConfig
	json.Unmarshal(r.Body, &cfg)
	if cfg.Aud != e.client.ID || !strings.HasSuffix(cfg.Delivery.EndpointURL, cfg.StreamID) {
		t.Fatalf("config: %+v", cfg)
	}
	other, _ := e.NewClient(api.ClientRequest{Name: "victim", Owner: e.Human("vic")})
	if _, err := e.Admin.RevokeClient(context.Background(), other.ID, "test"); err != nil {
		t.Fatal(err)
	}
	poll := strings.TrimPrefix(cfg.Delivery.EndpointURL, e.URL)
	r = e.call("POST", poll, e.token, map[string]any{"returnImmediately": false})
	if r.Status != 200 {
		t.Fatalf("poll: %d %s", r.Status, r.Body)
	}
	var pr api.PollResponse
	json.Unmarshal(r.Body, &pr)
	var types []string
	for _, set := range pr.Sets {
		var cl struct {
			Events map[string]any `json:"events"`
		}
		benchClaims(set, &cl)
		for typ := range cl.Events {
			types = append(types, typ)
		}
	}
	slices.Sort(types)
	want := []string{"https://schemas.openid.net/secevent/caep/event-type/credential-change", "https://schemas.openid.net/secevent/caep/event-type/session-revoked"}
	if !slices.Equal(types, want) {
		t.Fatalf("a revoked client with a secret: got events %v, want %v", types, want)
	}
	// The metrics count what was queued; the poll has not acknowledged yet.
	m := e.call("GET", "/metrics", "", nil)
	if !strings.Contains(string(m.Body), `mayfly_ssf_sets_total{result="queued"} 2`) {
		t.Fatalf("metrics lack the queued SETs:\n%s", m.Body)
	}
}

// pushStream creates a push stream to url as the given bearer and returns
// its ID, or the failed response.
func (e *ssfEnv) pushStream(bearer, url string) (string, *servertest.Response) {
	e.t.Helper()
	r := e.call("POST", api.SSFConfigPath, bearer, map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPush, "endpoint_url": url}})
	id, _ := r.JSON()["stream_id"].(string)
	return id, r
}

// TestSSFRevokedOwnerGetsNothing: a receiver whose client is revoked hears
// nothing more, not even of other subjects.
func TestSSFRevokedOwnerGetsNothing(t *testing.T) {
	e := newSSFEnv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	got := make(chan []byte, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	if _, r := e.pushStream(e.token, recv.URL); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	if _, err := e.Admin.RevokeClient(ctx, e.client.ID, "compromised"); err != nil {
		t.Fatal(err)
	}
	other, _ := e.NewClient(api.ClientRequest{Name: "other", Owner: e.Human("olga")})
	if _, err := e.Admin.RevokeClient(ctx, other.ID, "later incident"); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.SSF.Round(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		t.Fatalf("a revoked client's stream was pushed a SET: %s", b)
	default:
	}
}

// TestSSFPushTargets: a client's stream may not point at internal
// addresses, by literal or by a name that resolves to one; an admin's may.
func TestSSFPushTargets(t *testing.T) {
	e := newSSFEnv(t)
	for _, u := range []string{"https://127.0.0.1/events", "https://10.1.2.3/events", "https://[::1]/events", "https://169.254.169.254/latest", "https://100.64.0.1/x"} {
		if _, r := e.pushStream(e.token, u); r.Status != 400 || !strings.Contains(string(r.Body), "public address") {
			t.Errorf("client stream to %s: %d %s, want 400 naming public addresses", u, r.Status, r.Body)
		}
	}
	if _, r := e.pushStream(e.Token, "https://10.1.2.3/events"); r.Status != 201 {
		t.Fatalf("admin stream to an internal address: %d %s", r.Status, r.Body)
	}

	// A name is checked when dialled: localhost resolves to loopback. The
	// listener counts connections, so even one that fails TLS shows.
	hit := make(chan struct{}, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hit <- struct{}{}
			c.Close()
		}
	}()
	url := "https://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:") + "/events"
	if _, r := e.pushStream(e.token, url); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	other, _ := e.NewClient(api.ClientRequest{Name: "other", Owner: e.Human("olga")})
	if _, err := e.Admin.RevokeClient(context.Background(), other.ID, "incident"); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.SSF.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hit:
		t.Fatal("a client's stream reached a loopback receiver through a name")
	default:
	}
	if !strings.Contains(e.Log.String(), "pushing a SET failed") {
		t.Fatalf("the refused push was not logged:\n%s", e.Log.String())
	}
}

// TestSSFPush400Kinds: a 400 that faults the SET drops it; one that says
// the receiver could not authenticate the transmitter keeps it for a retry.
func TestSSFPush400Kinds(t *testing.T) {
	e := newSSFEnv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	answer := make(chan string, 1)
	bodies := make(chan []byte, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"err":"`+<-answer+`","description":"test"}`)
	}))
	defer recv.Close()
	if _, r := e.pushStream(e.Token, recv.URL); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	var cl struct {
		ID string `json:"jti"`
	}
	benchClaims(e.token, &cl)
	answer <- "authentication_failed"
	if _, err := e.Admin.RevokeToken(ctx, cl.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.SSF.Round(ctx); err != nil {
		t.Fatal(err)
	}
	first := <-bodies
	// Due again after the first backoff step.
	e.Clock.Advance(2 * time.Second)
	answer <- "invalid_request"
	if err := e.Server.SSF.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if again := <-bodies; benchSession(string(again)) != benchSession(string(first)) || benchSession(string(first)) != cl.ID {
		t.Fatalf("the SET refused with authentication_failed was not the one sent again")
	}
	e.Clock.Advance(time.Hour)
	if err := e.Server.SSF.Round(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-bodies:
		t.Fatalf("a SET refused with invalid_request was sent again: %s", b)
	default:
	}
}

// TestSSFNarrowedEventsApplyToTheQueue: a receiver that stops asking for an
// event type gets none of it, even what was queued before it asked.
func TestSSFNarrowedEventsApplyToTheQueue(t *testing.T) {
	e := newSSFEnv(t)
	r := e.call("POST", api.SSFConfigPath, e.token, map[string]any{})
	id, _ := r.JSON()["stream_id"].(string)
	if r.Status != 201 || id == "" {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	other, _ := e.NewClient(api.ClientRequest{Name: "other", Owner: e.Human("olga")})
	if _, err := e.Admin.RevokeClient(ctx, other.ID, "incident"); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.SSF.Round(ctx); err != nil { // queued: session-revoked and credential-change
		t.Fatal(err)
	}
	const change = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	if r := e.call("PATCH", api.SSFConfigPath, e.token, map[string]any{"stream_id": id, "events_requested": []string{change}}); r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r = e.call("POST", api.SSFPollPath+id, e.token, map[string]any{"returnImmediately": true})
	var pr api.PollResponse
	json.Unmarshal(r.Body, &pr)
	if len(pr.Sets) != 1 {
		t.Fatalf("poll: want only the credential-change SET, got %d: %s", len(pr.Sets), r.Body)
	}
	for _, set := range pr.Sets {
		var cl struct {
			Events map[string]any `json:"events"`
		}
		benchClaims(set, &cl)
		if _, ok := cl.Events[change]; !ok || len(cl.Events) != 1 {
			t.Fatalf("poll returned %v, want only %s", cl.Events, change)
		}
	}
}

// TestSSFFullQueueDisables: a stream nobody drains is disabled when its
// queue is full, instead of growing without end, and says why.
func TestSSFFullQueueDisables(t *testing.T) {
	e := newSSFEnv(t, func(c *serverConfig) { c.SSFMaxQueue = 3 })
	r := e.call("POST", api.SSFConfigPath, e.token, map[string]any{})
	id, _ := r.JSON()["stream_id"].(string)
	ctx := context.Background()
	revoke := func(name string) {
		c, _ := e.NewClient(api.ClientRequest{Name: name, Owner: e.Human(name)})
		if _, err := e.Admin.RevokeClient(ctx, c.ID, "incident"); err != nil {
			t.Fatal(err)
		}
		if err := e.Server.SSF.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	revoke("a") // two SETs queued
	if st := e.call("GET", api.SSFStatusPath+"?stream_id="+id, e.token, nil).JSON(); st["status"] != "enabled" {
		t.Fatalf("status with two SETs queued: %v", st)
	}
	revoke("b") // four: past the bound
	revoke("c") // the bound is seen
	st := e.call("GET", api.SSFStatusPath+"?stream_id="+id, e.token, nil).JSON()
	if st["status"] != "disabled" || !strings.Contains(fmt.Sprint(st["reason"]), "not delivered") {
		t.Fatalf("status after the queue filled: %v, want disabled with a reason", st)
	}
	if n, err := e.Server.Store().SSFQueueLength(ctx, id); n != 0 || err != nil {
		t.Fatalf("queue of the disabled stream: %d, %v; want emptied", n, err)
	}
}

// TestSSFReactivationComesAfterSuspension: a push receiver hears of a
// reactivation after the suspension, never before, even when the two
// happen before any delivery round.
func TestSSFReactivationComesAfterSuspension(t *testing.T) {
	e := newSSFEnv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	var mu sync.Mutex
	var types []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var cl struct {
			Events map[string]any `json:"events"`
		}
		benchClaims(string(b), &cl)
		mu.Lock()
		for typ := range cl.Events {
			types = append(types, typ)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	if _, r := e.pushStream(e.Token, recv.URL); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	p := e.Human("rae")
	if _, err := e.Admin.Suspend(ctx, p, "on leave"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.Reactivate(ctx, p, "back"); err != nil {
		t.Fatal(err)
	}
	// A background round may be pushing already: round until all is in.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err := e.Server.SSF.Round(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(types)
		mu.Unlock()
		if n >= 3 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"https://schemas.openid.net/secevent/caep/event-type/session-revoked",
		"https://schemas.openid.net/secevent/risc/event-type/account-disabled",
		"https://schemas.openid.net/secevent/risc/event-type/account-enabled",
	}
	if !slices.Equal(types, want) {
		t.Fatalf("pushed %v, want %v in that order", types, want)
	}
}

// TestSSFPushSecretSealed: the receiver's authorization header is stored
// sealed under the root key, and still reaches the receiver after the root
// key is rotated (here by offboarding a person who had it).
func TestSSFPushSecretSealed(t *testing.T) {
	e := newSSFEnv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	const secret = "Bearer s3cr3t-of-the-receiver"
	var mu sync.Mutex
	var auths []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	r := e.call("POST", api.SSFConfigPath, e.Token, map[string]any{"delivery": map[string]any{
		"method": mayfly.DeliveryPush, "endpoint_url": recv.URL, "authorization_header": secret}})
	id, _ := r.JSON()["stream_id"].(string)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	stored := func() string {
		t.Helper()
		st, err := e.Server.Store().SSFStream(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(st.AuthorizationHeader, "s3cr3t") || !strings.HasPrefix(st.AuthorizationHeader, "sealed:") {
			t.Fatalf("stored authorization header %q is not sealed", st.AuthorizationHeader)
		}
		return st.AuthorizationHeader
	}
	before := stored()

	e.Clock.Advance(time.Minute) // the root key was made before the custody began
	keeper := e.Human("keeper")
	if _, err := e.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: keeper, RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "drill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.Offboard(ctx, keeper, api.OffboardRequest{Reason: "left"}); err != nil {
		t.Fatal(err)
	}
	if after := stored(); after == before {
		t.Fatal("the root key rotated but the authorization header was not sealed again")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err := e.Server.SSF.Round(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(auths)
		mu.Unlock()
		if n >= 2 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auths) < 2 {
		t.Fatalf("the offboarding's events were not pushed: %d pushes", len(auths))
	}
	for _, a := range auths {
		if a != secret {
			t.Fatalf("pushed with Authorization %q, want the receiver's header", a)
		}
	}
}

// TestSSFStreamLimitUnderConcurrency: clients creating streams at once
// still end with at most the limit.
func TestSSFStreamLimitUnderConcurrency(t *testing.T) {
	e := newSSFEnv(t)
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", e.URL+api.SSFConfigPath, strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+e.token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	r := e.call("GET", api.SSFConfigPath, e.token, nil)
	var list []map[string]any
	json.Unmarshal(r.Body, &list)
	if len(list) != 16 {
		t.Fatalf("%d streams after 24 concurrent creates, want the limit, 16", len(list))
	}
}

// TestSSFUnopenableHeaderDoesNotStopRotation: a header sealed under a root
// key that is gone neither stops a root key rotation nor stays: its stream
// is disabled, saying why, and a new header can be set.
func TestSSFUnopenableHeaderDoesNotStopRotation(t *testing.T) {
	e := newSSFEnv(t, func(c *serverConfig) { c.SSFAllowHTTP = true })
	r := e.call("POST", api.SSFConfigPath, e.Token, map[string]any{"delivery": map[string]any{
		"method": mayfly.DeliveryPush, "endpoint_url": "http://127.0.0.1:9/events", "authorization_header": "Bearer old"}})
	id, _ := r.JSON()["stream_id"].(string)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	// Seal the header under a root key this server never had.
	other, err := seal.New(bytes.Repeat([]byte{7}, seal.RootKeySize))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := other.Seal(rand.Reader, []byte("Bearer old"), []byte("mayfly ssf authorization header "+id))
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Server.Store().SSFStream(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st.AuthorizationHeader = "sealed:" + base64.RawStdEncoding.EncodeToString(blob)
	if err := e.Server.Audit.Update(ctx, func(tx mayfly.Tx) error { return e.Server.Store().UpdateSSFStream(tx, st) }); err != nil {
		t.Fatal(err)
	}

	e.Clock.Advance(time.Minute)
	keeper := e.Human("keeper")
	if _, err := e.Admin.GrantCustody(ctx, api.CustodyRequest{Principal: keeper, RootKey: true, Kind: mayfly.CustodyBreakGlass, Reason: "drill"}); err != nil {
		t.Fatal(err)
	}
	o, err := e.Admin.Offboard(ctx, keeper, api.OffboardRequest{Reason: "left"})
	if err != nil || o.FinishedAt.IsZero() {
		t.Fatalf("offboarding the root key's custodian: %+v, %v; want it finished", o, err)
	}
	status := e.call("GET", api.SSFStatusPath+"?stream_id="+id, e.Token, nil).JSON()
	if status["status"] != "disabled" || !strings.Contains(fmt.Sprint(status["reason"]), "set it again") {
		t.Fatalf("status after the rotation: %v, want disabled with the reason", status)
	}
	if st, _ := e.Server.Store().SSFStream(ctx, id); st.AuthorizationHeader != "" {
		t.Fatalf("the unopenable header was kept: %q", st.AuthorizationHeader)
	}
	r = e.call("PATCH", api.SSFConfigPath, e.Token, map[string]any{"stream_id": id, "delivery": map[string]any{
		"method": mayfly.DeliveryPush, "endpoint_url": "http://127.0.0.1:9/events", "authorization_header": "Bearer new"}})
	if r.Status != 200 {
		t.Fatalf("setting a new header: %d %s", r.Status, r.Body)
	}
}
