package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi"
	"github.com/mayflyhq/mayfly/internal/servertest"
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
	c, secret := e.NewClient(httpapi.ClientRequest{Name: "receiver", Owner: e.Human("rita"), Scopes: []string{"ssf"}})
	return &ssfEnv{Env: e, t: t, client: c, token: e.IssueToken(c.ID, secret, nil)}
}

func (e *ssfEnv) call(method, path, bearer string, body any) *servertest.Response {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.Do(req)
}

func TestSSFPollSmoke(t *testing.T) {
	e := newSSFEnv(t)
	r := e.call("POST", httpapi.SSFConfigPath, e.token, map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPoll}})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var cfg httpapi.SSFStreamConfig
	json.Unmarshal(r.Body, &cfg)
	if cfg.Aud != e.client.ID || !strings.HasSuffix(cfg.Delivery.EndpointURL, cfg.StreamID) {
		t.Fatalf("config: %+v", cfg)
	}
	other, _ := e.NewClient(httpapi.ClientRequest{Name: "victim", Owner: e.Human("vic")})
	if _, err := e.Admin.RevokeClient(context.Background(), other.ID, "test"); err != nil {
		t.Fatal(err)
	}
	poll := strings.TrimPrefix(cfg.Delivery.EndpointURL, e.URL)
	r = e.call("POST", poll, e.token, map[string]any{"returnImmediately": false})
	if r.Status != 200 {
		t.Fatalf("poll: %d %s", r.Status, r.Body)
	}
	var pr httpapi.PollResponse
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
