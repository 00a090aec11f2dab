package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/ssf"
	"github.com/mayflyhq/mayfly/internal/tokentest"
)

// TestSubjectRevokeBadInput: each malformed or impossible subject
// revocation gets a clear error naming what is wrong, and changes nothing.
func TestSubjectRevokeBadInput(t *testing.T) {
	e := newSSFEnv(t)
	e.NewClient(api.ClientRequest{Name: "login", Owner: e.Human("lena"), Exchange: []string{"customer"}, JWKS: json.RawMessage(tokentest.LoginJWKS)})
	now := e.Clock.Now()
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		field, msg string
	}{
		{"no namespace", "/v1/subjects/revoke", map[string]any{}, 400, "namespace", "a subject namespace is needed"},
		{"empty namespace", "/v1/subjects/revoke", map[string]any{"namespace": ""}, 400, "namespace", "a subject namespace is needed"},
		{"malformed namespace", "/v1/subjects/revoke", map[string]any{"namespace": "Customer!"}, 400, "namespace", "must be 1-32 lowercase letters"},
		{"a subject as the namespace", "/v1/subjects/revoke", map[string]any{"namespace": "customer:1"}, 400, "namespace", "must be 1-32 lowercase letters"},
		{"unknown namespace", "/v1/subjects/revoke", map[string]any{"namespace": "custmer"}, 404, "", `no client exchanges tokens for subject namespace "custmer" (namespaces in use: customer)`},
		{"future before", "/v1/subjects/revoke", map[string]any{"namespace": "customer", "before": now.Add(time.Hour)}, 400, "before", "is in the future"},
		{"before not a time", "/v1/subjects/revoke", map[string]any{"namespace": "customer", "before": "yesterday"}, 400, "", ""},
		{"unknown member", "/v1/subjects/revoke", map[string]any{"namespace": "customer", "subject": "customer:1"}, 400, "", ""},
		{"subject without a namespace", "/v1/subjects/48213377/revoke", nil, 400, "subject", "is not NAMESPACE:ID"},
		{"subject without an ID", "/v1/subjects/customer:/revoke", nil, 400, "subject", "the ID after"},
		{"subject with a malformed namespace", "/v1/subjects/Customer:1/revoke", nil, 400, "subject", "the namespace must be"},
		{"subject with a space", "/v1/subjects/customer:a%20b/revoke", nil, 400, "subject", "visible ASCII"},
		{"subject of an unknown namespace", "/v1/subjects/custmer:1/revoke", nil, 404, "", `subject namespace "custmer"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", tc.path, e.Token, tc.body)
			var eb api.ErrorBody
			json.Unmarshal(r.Body, &eb)
			if r.Status != tc.status || eb.Field != tc.field || !strings.Contains(eb.Message, tc.msg) {
				t.Errorf("got %d %s, want %d field %q and %q", r.Status, r.Body, tc.status, tc.field, tc.msg)
			}
		})
	}
	revs, err := e.Server.Store().Revocations(context.Background(), 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 0 {
		t.Errorf("refused requests left revocations: %+v", revs)
	}

	// A time a little ahead of this server's clock is taken as now.
	r := e.call("POST", "/v1/subjects/revoke", e.Token, map[string]any{"namespace": "customer", "before": now.Add(10 * time.Second)})
	var v api.RevocationView
	json.Unmarshal(r.Body, &v)
	if r.Status != 200 || !v.At.Equal(now) || v.Kind != mayfly.RevokeNamespace {
		t.Errorf("slightly ahead: got %d %s, want the mark at %s", r.Status, r.Body, now)
	}
}

// TestSubjectRevokeSignals: each revocation is audited, and Shared Signals
// receivers hear session-revoked for the subject as tokens name it, and
// for the namespace as a group.
func TestSubjectRevokeSignals(t *testing.T) {
	e := newSSFEnv(t)
	ctx := context.Background()
	e.NewClient(api.ClientRequest{Name: "login", Owner: e.Human("lena"), Exchange: []string{"customer"}, JWKS: json.RawMessage(tokentest.LoginJWKS)})
	r := e.call("POST", api.SSFConfigPath, e.token, map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPoll}})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var cfg api.SSFStreamConfig
	json.Unmarshal(r.Body, &cfg)

	sub, err := e.Admin.RevokeSubject(ctx, "customer:48213377", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "revoked by admin "; !strings.HasPrefix(sub.Reason, want) {
		t.Errorf("reason %q, want the default %q...", sub.Reason, want)
	}
	e.Clock.Advance(time.Minute)
	before := e.Clock.Now().Add(-30 * time.Second).Truncate(time.Second)
	ns, err := e.Admin.RevokeNamespace(ctx, api.NamespaceRevokeRequest{Namespace: "customer", Before: before, Reason: "breach"})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		action mayfly.Action
		detail map[string]string
	}{
		{mayfly.ActionSubjectRevoked, map[string]string{"subject": "customer:48213377", "seq": "1"}},
		{mayfly.ActionNamespaceRevoked, map[string]string{"namespace": "customer", "before": before.UTC().Format(time.RFC3339Nano), "reason": "breach", "seq": "2"}},
	} {
		items, err := e.Admin.AuditSearch(ctx, mayfly.AuditFilter{Action: tc.action})
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 {
			t.Fatalf("%s: %d entries, want 1", tc.action, len(items))
		}
		for k, want := range tc.detail {
			if got := items[0].Entry.Details[k]; got != want {
				t.Errorf("%s: %s is %q, want %q", tc.action, k, got, want)
			}
		}
	}
	if sub.Seq != 1 || ns.Seq != 2 {
		t.Fatalf("seqs %d, %d", sub.Seq, ns.Seq)
	}

	poll := strings.TrimPrefix(cfg.Delivery.EndpointURL, e.URL)
	r = e.call("POST", poll, e.token, map[string]any{"returnImmediately": false})
	if r.Status != 200 {
		t.Fatalf("poll: %d %s", r.Status, r.Body)
	}
	var pr api.PollResponse
	json.Unmarshal(r.Body, &pr)
	var got []string
	for _, set := range pr.Sets {
		var cl ssf.Claims
		benchClaims(set, &cl)
		for typ, body := range cl.Events {
			b, _ := json.Marshal(cl.SubID)
			got = append(got, typ+" "+string(b)+" "+time.Unix(int64(body["event_timestamp"].(float64)), 0).UTC().Format(time.RFC3339))
		}
	}
	want := []string{
		ssf.SessionRevoked + ` {"format":"iss_sub","iss":"` + e.URL + `","sub":"customer:48213377"} ` + sub.At.Truncate(time.Second).Format(time.RFC3339),
		ssf.SessionRevoked + ` {"format":"complex","group":{"format":"opaque","id":"customer"}} ` + before.UTC().Format(time.RFC3339),
	}
	slices.Sort(got) // the poll's sets come keyed by jti
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got SETs\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRefreshReuseSignals: a refresh token family revoked for the reuse of
// a retired token is session-revoked for receivers: the session, and the
// customer as its user.
func TestRefreshReuseSignals(t *testing.T) {
	e := newSSFEnv(t)
	r := e.call("POST", api.SSFConfigPath, e.token, map[string]any{"delivery": map[string]any{"method": mayfly.DeliveryPoll}})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var cfg api.SSFStreamConfig
	json.Unmarshal(r.Body, &cfg)
	c, secret := e.NewClient(api.ClientRequest{Name: "login", Owner: e.Human("lena"), Refresh: true})
	fam, rt, err := e.Server.App.Refresh.Begin(context.Background(), c, "customer:7", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	refresh := func() int {
		return e.PostForm(api.TokenPath, url.Values{"grant_type": {api.GrantRefreshToken}, "refresh_token": {rt}}, c.ID, secret).Status
	}
	if st := refresh(); st != 200 {
		t.Fatalf("refresh: status %d", st)
	}
	e.Clock.Advance(time.Minute)
	if st := refresh(); st != 400 {
		t.Fatalf("reuse: status %d, want 400", st)
	}

	poll := strings.TrimPrefix(cfg.Delivery.EndpointURL, e.URL)
	r = e.call("POST", poll, e.token, map[string]any{"returnImmediately": false})
	var pr api.PollResponse
	json.Unmarshal(r.Body, &pr)
	var got []string
	for _, set := range pr.Sets {
		var cl ssf.Claims
		benchClaims(set, &cl)
		for typ := range cl.Events {
			b, _ := json.Marshal(cl.SubID)
			got = append(got, typ+" "+string(b))
		}
	}
	want := ssf.SessionRevoked + ` {"format":"complex","session":{"format":"opaque","id":"` + fam.ID + `"},"user":{"format":"iss_sub","iss":"` +
		e.URL + `","sub":"customer:7"}}`
	if !slices.Contains(got, want) {
		t.Errorf("got SETs\n%s\nwant among them\n%s", strings.Join(got, "\n"), want)
	}
}
