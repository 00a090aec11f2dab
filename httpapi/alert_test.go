package httpapi_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// Alerts are raised here through the service, as the detection engine
// raises them, and reach people over real HTTP.

// raise raises signals in one audited transaction of e.
func raise(t *testing.T, e *servertest.Env, sigs ...mayfly.AlertSignal) []*mayfly.Alert {
	t.Helper()
	var out []*mayfly.Alert
	err := e.Server.Audit.Update(t.Context(), func(tx mayfly.Tx) (err error) {
		out, err = e.Server.Alerts.Raise(tx, sigs)
		return err
	})
	if err != nil {
		t.Fatalf("Raise: %v", err)
	}
	return out
}

func forged(kid string) mayfly.AlertSignal {
	return mayfly.AlertSignal{Rule: mayfly.RuleForgedToken, Subject: "kid:" + kid, Summary: "a token Mayfly never issued, signed by " + kid,
		Evidence: mayfly.AlertEvidence{Time: servertest.Epoch, Service: "orders", JTI: "jti-forged", KID: kid, Detail: "no issuance record"}}
}

// call sends method path with the token and an optional JSON body, and
// decodes the answer into out unless it is nil.
func alertCall(t *testing.T, e *servertest.Env, token, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

func TestAlertLife(t *testing.T) {
	e := servertest.New(t)
	first := raise(t, e, forged("k1"), forged("k1"), forged("k2"))
	if first[0].Count != 1 || first[1].ID != first[0].ID || first[1].Count != 2 || first[2].Count != 1 {
		t.Fatalf("raises: counts %d %d %d, ids %s %s; want one alert counted twice and another", first[0].Count, first[1].Count, first[2].Count, first[0].ID, first[1].ID)
	}
	id := first[0].ID
	ctx := t.Context()
	list, err := e.Admin.Alerts(ctx, mayfly.AlertFilter{Subject: "kid:k1"})
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Count != 2 || len(list[0].Evidence) != 2 {
		t.Fatalf("list by subject: %v, %+v", err, list)
	}
	if all, _ := e.Admin.Alerts(ctx, mayfly.AlertFilter{Rule: mayfly.RuleForgedToken}); len(all) != 2 {
		t.Errorf("list by rule: %d alerts; want 2", len(all))
	}
	acked, err := e.Admin.AckAlert(ctx, id, "looking into k1")
	if err != nil || acked.State != mayfly.AlertAcknowledged || acked.Note != "looking into k1" || acked.UpdatedBy == "" {
		t.Fatalf("ack: %v, %+v", err, acked)
	}
	if acked.UpdatedByName != "bootstrap" {
		t.Errorf("ack: updated_by_name %q; want the credential's name, bootstrap", acked.UpdatedByName)
	}
	// Wrong transitions are refused, and say where the alert stands.
	if _, err := e.Admin.AckAlert(ctx, id, ""); mayfly.ErrorCode(err) != mayfly.Conflict || !strings.Contains(err.Error(), "acknowledged already") {
		t.Errorf("ack twice: %v; want a conflict saying it is acknowledged", err)
	}
	resolved, err := e.Admin.ResolveAlert(ctx, id, "key rotated")
	if err != nil || resolved.State != mayfly.AlertResolved {
		t.Fatalf("resolve: %v, %+v", err, resolved)
	}
	for _, change := range []func(context.Context, string, string) (*api.AlertView, error){e.Admin.AckAlert, e.Admin.ResolveAlert} {
		if _, err := change(ctx, id, ""); mayfly.ErrorCode(err) != mayfly.Conflict || !strings.Contains(err.Error(), "resolved already") {
			t.Errorf("change of a resolved alert: %v; want a conflict saying it is resolved", err)
		}
	}
	// The rule firing again after resolution raises a new alert.
	if again := raise(t, e, forged("k1")); again[0].ID == id || again[0].Count != 1 {
		t.Errorf("a firing after resolution added to %s (count %d); want a new alert", again[0].ID, again[0].Count)
	}
	// Every change is in the audit log, with who and why.
	recs, err := e.Server.Audit.Search(ctx, mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[mayfly.Action]int{}
	for _, r := range recs {
		if en := r.Entry; en.Details["alert"] == id {
			got[en.Action]++
			if en.Action == "alert.resolved" && (en.Actor != acked.UpdatedBy || en.Details["note"] != "key rotated") {
				t.Errorf("alert.resolved entry: actor %s note %q", en.Actor, en.Details["note"])
			}
		}
	}
	if fmt.Sprint(got) != "map[alert.acknowledged:1 alert.raised:1 alert.resolved:1]" {
		t.Errorf("audit entries of the alert: %v; want one raised (not one per firing), acknowledged and resolved", got)
	}
	open := again(t, e)
	if err := e.Server.Alerts.Contained(ctx, open.ID, "revoked key k1"); err != nil {
		t.Fatalf("Contained: %v", err)
	}
	if got, err := e.Admin.Alert(ctx, open.ID); err != nil || fmt.Sprint(got.Actions) != "[revoked key k1]" || got.State != mayfly.AlertOpen {
		t.Errorf("after containment: %v, actions %q state %s", err, got.Actions, got.State)
	}
	if err := e.Server.Alerts.Contained(ctx, "alt_NOSUCH", "x"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("Contained on no alert: %v; want not found", err)
	}
}

// again is the open alert of kid:k1.
func again(t *testing.T, e *servertest.Env) *api.AlertView {
	t.Helper()
	list, err := e.Admin.Alerts(t.Context(), mayfly.AlertFilter{Subject: "kid:k1", State: mayfly.AlertOpen})
	if err != nil || len(list) != 1 {
		t.Fatalf("open alert of kid:k1: %v, %d", err, len(list))
	}
	return list[0]
}

func TestAlertAdversarial(t *testing.T) {
	e := servertest.New(t)
	id := raise(t, e, forged("k1"))[0].ID
	auditor, _ := e.Admin.CreateCredential(t.Context(), api.CredentialRequest{Name: "aud", Role: mayfly.RoleAuditor})
	responder, _ := e.Admin.CreateCredential(t.Context(), api.CredentialRequest{Name: "resp", Role: mayfly.RoleResponder})
	ring, _ := e.Admin.CreateCredential(t.Context(), api.CredentialRequest{Name: "ring", Role: mayfly.RoleRingAdmin})
	for _, tt := range []struct {
		name, token, method, path, body string
		want                            int
	}{
		{"no such alert", e.Token, "GET", "/v1/alerts/alt_NOSUCH", "", 404},
		{"an ID of nonsense", e.Token, "GET", "/v1/alerts/%00%27%3B--", "", 404},
		{"ack no such alert", e.Token, "POST", "/v1/alerts/alt_NOSUCH/ack", "", 404},
		{"unknown rule", e.Token, "GET", "/v1/alerts?rule=made-up", "", 400},
		{"unknown state", e.Token, "GET", "/v1/alerts?state=closed", "", 400},
		{"bad limit", e.Token, "GET", "/v1/alerts?limit=-1", "", 400},
		{"bad resume point", e.Token, "GET", "/v1/alerts/stream?after=x", "", 400},
		{"unknown member", e.Token, "POST", "/v1/alerts/" + id + "/ack", `{"reason":"x"}`, 400},
		{"a note too long", e.Token, "POST", "/v1/alerts/" + id + "/ack", `{"note":"` + strings.Repeat("x", 3000) + `"}`, 400},
		{"auditor reads", auditor.Token, "GET", "/v1/alerts/" + id, "", 200},
		{"auditor may not ack", auditor.Token, "POST", "/v1/alerts/" + id + "/ack", "", 403},
		{"ring admin may not read", ring.Token, "GET", "/v1/alerts", "", 403},
		{"no credential", "", "GET", "/v1/alerts", "", 401},
		{"responder acks", responder.Token, "POST", "/v1/alerts/" + id + "/ack", `{"note":"mine"}`, 200},
		{"responder acks again", responder.Token, "POST", "/v1/alerts/" + id + "/ack", "", 409},
	} {
		if got := alertCall(t, e, tt.token, tt.method, tt.path, tt.body, nil); got != tt.want {
			t.Errorf("%s: %s %s: %d; want %d", tt.name, tt.method, tt.path, got, tt.want)
		}
	}
}

// alertSSE reads a Server-Sent Events stream.
type alertSSE struct {
	events chan alertEventOf
	cancel context.CancelFunc
}

type alertEventOf struct {
	id, event string
	alert     mayfly.Alert
}

func alertStreamOf(t *testing.T, url, token, lastID string) *alertSSE {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+api.AlertStreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("stream: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	s := &alertSSE{events: make(chan alertEventOf, 100), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev alertEventOf
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					s.events <- ev
				}
				ev = alertEventOf{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.alert)
			}
		}
	}()
	return s
}

// next waits for the next event; a bound keeps a broken stream from
// hanging the test, and is not a timing assertion.
func (s *alertSSE) next(t *testing.T) alertEventOf {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event on the alert stream")
	}
	return alertEventOf{}
}

func TestAlertStream(t *testing.T) {
	e := servertest.New(t)
	before := raise(t, e, forged("k0"))[0]
	s := alertStreamOf(t, e.URL, e.Token, "")
	if ev := s.next(t); ev.event != "alert" || ev.alert.ID != before.ID || ev.id != fmt.Sprint(before.Seq) {
		t.Fatalf("first event: %+v; want the alert raised before the stream began, id %d", ev, before.Seq)
	}
	a := raise(t, e, forged("k1"))[0]
	ev := s.next(t)
	if ev.alert.ID != a.ID || ev.alert.Rule != mayfly.RuleForgedToken || ev.alert.Subject != "kid:k1" || len(ev.alert.Evidence) != 1 {
		t.Fatalf("event after a raise: %+v", ev)
	}
	if _, err := e.Admin.AckAlert(t.Context(), a.ID, ""); err != nil {
		t.Fatal(err)
	}
	acked := s.next(t)
	if acked.alert.ID != a.ID || acked.alert.State != mayfly.AlertAcknowledged || acked.id <= ev.id {
		t.Fatalf("event after ack: %+v; want %s acknowledged with a later id than %s", acked, a.ID, ev.id)
	}
	s.cancel()
	// Reconnecting with Last-Event-ID resumes after it: what came since,
	// and nothing before.
	b := raise(t, e, forged("k2"))[0]
	r := alertStreamOf(t, e.URL, e.Token, ev.id)
	if got := r.next(t); got.alert.ID != a.ID || got.alert.State != mayfly.AlertAcknowledged {
		t.Fatalf("resumed after %s: %+v; want the acknowledgement of %s", ev.id, got, a.ID)
	}
	if got := r.next(t); got.alert.ID != b.ID {
		t.Fatalf("resumed: %+v; want %s", got, b.ID)
	}
}

// TestAlertStreamReplicas: an alert raised through one replica appears on
// the stream of another sharing the PostgreSQL store.
func TestAlertStreamReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	// No heartbeat comes to wake the stream: only the change notice can.
	shared := func(c *server.Config) { c.Store = dsn; c.StreamHeartbeat = time.Hour }
	a := servertest.Start(t, dir, servertest.NewClock(servertest.Epoch), shared)
	b := servertest.Start(t, dir, servertest.NewClock(servertest.Epoch), shared)
	s := alertStreamOf(t, b.URL, b.Token, "")
	raised := raise(t, a, forged("k1"))[0]
	if ev := s.next(t); ev.alert.ID != raised.ID {
		t.Fatalf("replica b's stream: %+v; want %s raised through a", ev, raised.ID)
	}
	if _, err := a.Admin.ResolveAlert(t.Context(), raised.ID, "done"); err != nil {
		t.Fatal(err)
	}
	if ev := s.next(t); ev.alert.ID != raised.ID || ev.alert.State != mayfly.AlertResolved {
		t.Fatalf("replica b's stream after a resolved it: %+v", ev)
	}
}

// TestAlertFromAnotherReplica: a forged token reported to one replica
// raises forged-token, which another replica sharing the PostgreSQL store
// shows on its stream and in its list.
func TestAlertFromAnotherReplica(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	// No heartbeat comes to wake the stream: only the change notice can.
	shared := func(c *server.Config) { c.Store = dsn; c.StreamHeartbeat = time.Hour }
	a := servertest.Start(t, dir, servertest.NewClock(servertest.Epoch), shared)
	b := servertest.Start(t, dir, servertest.NewClock(servertest.Epoch), shared)
	ctx := t.Context()
	svc, err := a.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: "orders", Kind: mayfly.Service, Owner: a.Human("alice")})
	if err != nil {
		t.Fatal(err)
	}
	c, secret := a.NewClient(api.ClientRequest{Name: "orders-client", Owner: svc.ID})
	stolen := a.Steal("default")
	forgedTok := stolen.Forge(c.ID, "", "api")

	s := alertStreamOf(t, b.URL, b.Token, "")
	body := fmt.Sprintf(`{"time":%q,"service":"orders","source_ip":"10.1.2.3","method":"GET","route":"/customers","records":{"customer":[17]},"token":%q}`+"\n",
		a.Clock.Now().Format(time.RFC3339), forgedTok)
	req, _ := http.NewRequest("POST", a.URL+api.LedgerEventsPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.SetBasicAuth(c.ID, secret)
	if r := a.Do(req); r.Status != http.StatusOK {
		t.Fatalf("posting the report to replica a: %d %s", r.Status, r.Body)
	}
	// Replica a detects, and looks for the token's issuance record again
	// once the issuance grace has passed by its clock, which moves here
	// with real time. The bound is no timing assertion.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var got mayfly.Alert
	for deadline := time.After(30 * time.Second); got.ID == ""; {
		select {
		case ev := <-s.events:
			if ev.alert.Rule == mayfly.RuleForgedToken {
				got = ev.alert
			}
		case <-tick.C:
			a.Clock.Advance(50 * time.Millisecond)
		case <-deadline:
			t.Fatal("no forged-token alert on replica b's stream after 30 s")
		}
	}
	if got.Subject != "kid:"+stolen.KID || got.State != mayfly.AlertOpen || len(got.Evidence) == 0 || got.Evidence[0].JTI != jtiFromToken(t, forgedTok) {
		t.Errorf("replica b's stream: %+v; want forged-token on kid:%s with the report as evidence", got, stolen.KID)
	}
	list, err := b.Admin.Alerts(ctx, mayfly.AlertFilter{Rule: mayfly.RuleForgedToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != got.ID || list[0].Subject != "kid:"+stolen.KID {
		t.Errorf("replica b's GET /v1/alerts: %+v; want %s", list, got.ID)
	}
}

// verify checks a Standard Webhooks signature, written from the
// specification rather than with the sender's code.
func verify(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	m.Write(body)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if v, s, ok := strings.Cut(sig, ","); ok && v == "v1" && hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

func TestAlertWebhookAndOCSF(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	type delivery struct {
		h    http.Header
		body []byte
	}
	got := make(chan delivery, 100)
	var mu sync.Mutex
	calls := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		got <- delivery{r.Header.Clone(), body}
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError) // the first two attempts fail
		}
	}))
	defer recv.Close()
	dir := t.TempDir()
	secretFile, ocsf := filepath.Join(dir, "webhook.secret"), filepath.Join(dir, "alerts.ocsf.jsonl")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := servertest.New(t, func(c *server.Config) {
		c.AlertWebhooks, c.AlertWebhookSecretFile, c.AlertOCSF = []string{recv.URL + "/hook"}, secretFile, ocsf
		c.AlertWebhookBackoff = time.Millisecond
	})
	a := raise(t, e, forged("k1"))[0]
	var ids []string
	for i := range 3 {
		d := <-got
		if err := verify(secret, d.h, d.body); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if err := verify(secret, d.h, append(d.body, ' ')); err == nil {
			t.Fatalf("the verifier took a changed body")
		}
		var ev api.AlertEvent
		if err := json.Unmarshal(d.body, &ev); err != nil || ev.Type != "alert.raised" || ev.Data == nil || ev.Data.ID != a.ID || ev.Timestamp.IsZero() {
			t.Fatalf("delivery %d: %v, %s", i, err, d.body)
		}
		ids = append(ids, d.h.Get("webhook-id"))
	}
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("webhook-id across retries: %q; want one id", ids)
	}
	if _, err := e.Admin.AckAlert(t.Context(), a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.ResolveAlert(t.Context(), a.ID, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alert.acknowledged", "alert.resolved"} {
		var ev api.AlertEvent
		d := <-got
		if err := json.Unmarshal(d.body, &ev); err != nil || ev.Type != want || verify(secret, d.h, d.body) != nil {
			t.Errorf("delivery: %v %s; want a signed %s", err, d.body, want)
		}
	}
	metrics := alertMetrics(t, e)
	for _, want := range []string{`mayfly_alerts_raised_total{rule="forged-token"} 1`, `mayfly_alert_firings_total{rule="forged-token"} 1`,
		`mayfly_alert_webhook_failures_total 2`, `mayfly_alerts_raised_total{rule="bulk-read"} 0`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}

	// The OCSF file holds a finding per change: Create, Update, Close.
	b, err := os.ReadFile(ocsf)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("OCSF lines: %d; want 3:\n%s", len(lines), b)
	}
	for i, line := range lines {
		checkOCSF(t, line, a.ID, []int{1, 2, 3}[i], []int{1, 2, 4}[i])
	}
}

// checkOCSF checks a Detection Finding's required members.
func checkOCSF(t *testing.T, line, id string, activity, status int) {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal([]byte(line), &f); err != nil {
		t.Fatalf("OCSF line: %v: %s", err, line)
	}
	num := func(k string) float64 { v, _ := f[k].(float64); return v }
	info, _ := f["finding_info"].(map[string]any)
	meta, _ := f["metadata"].(map[string]any)
	product, _ := meta["product"].(map[string]any)
	switch {
	case num("class_uid") != 2004 || num("category_uid") != 2:
		t.Errorf("class/category: %s", line)
	case num("activity_id") != float64(activity) || num("type_uid") != float64(200400+activity):
		t.Errorf("activity: want %d: %s", activity, line)
	case num("status_id") != float64(status) || f["status"] == "":
		t.Errorf("status: want %d: %s", status, line)
	case num("severity_id") != 5 || num("time") <= 0:
		t.Errorf("severity or time: %s", line)
	case info["uid"] != id || info["title"] == "" || fmt.Sprint(info["types"]) != "[forged-token]" || info["first_seen_time"] == nil || info["last_seen_time"] == nil:
		t.Errorf("finding_info: %s", line)
	case product["name"] != "Mayfly" || meta["version"] == "":
		t.Errorf("metadata: %s", line)
	}
}

func alertMetrics(t *testing.T, e *servertest.Env) string {
	t.Helper()
	res, err := http.Get(e.URL + api.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
