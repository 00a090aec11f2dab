package ledgergen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// The workload the ingest tests run: a full week, 20 services, 1,000,000
// customers, at a density that keeps each test near a minute here.
var week = Config{Seed: 14, Start: servertest.Epoch.Truncate(24 * time.Hour).Add(24 * time.Hour), PeakPerMinute: 3}

// window is how much simulated time one round of posts covers: each
// service posts its reports of the window, or a heartbeat if it has none,
// as the SDK's reporter does, so that none is ever silent for longer than
// stale-verifier's bound (5 minutes).
const window = 4 * time.Minute

// counting hands everything to the real detector, and counts the reports
// it saw and the ticks it ran, once committed: the test moves the clock on
// only once detection has caught up with it, as it does within
// milliseconds when a week is not run in a minute.
type counting struct {
	ledger.Detector
	reports, ticks atomic.Int64
}

func (c *counting) Detect(ctx context.Context, tx mayfly.Tx, reports []mayfly.LedgerReport) error {
	if err := c.Detector.Detect(ctx, tx, reports); err != nil {
		return err
	}
	tx.AfterCommit(func() { c.reports.Add(int64(len(reports))) })
	return nil
}

func (c *counting) Tick(ctx context.Context, tx mayfly.Tx, now time.Time) error {
	if err := c.Detector.Tick(ctx, tx, now); err != nil {
		return err
	}
	tx.AfterCommit(func() { c.ticks.Add(1) })
	return nil
}

// ingestRun feeds a workload to Mayfly over HTTP, as its services would.
type ingestRun struct {
	t        *testing.T
	env      *servertest.Env
	m        *minted
	det      *counting
	services int
	http     *http.Client
	buf      map[string][]byte // per service, its reports of the window
	end      time.Time         // of the window
	posted   int64             // reports accepted
	posts    int               // requests made
}

func newIngestRun(t *testing.T, cfg Config) *ingestRun {
	cfg = cfg.withDefaults()
	det := &counting{}
	env := servertest.New(t, func(c *server.Config) {
		// The learning period is the workload's; the defaults are a week.
		c.Detect.Learning = cfg.Learning
		// The defaults suit a larger company: one address presenting
		// tokens of SharedClients of the 20 services is far beyond what
		// any benign address does here (one client each).
		c.Detect.SharedMax = SharedClients / 2
		c.WrapDetector = func(d ledger.Detector) ledger.Detector { det.Detector = d; return det }
	})
	env.Clock.Advance(cfg.Start.Sub(env.Clock.Now()))
	return &ingestRun{t: t, env: env, m: newMinted(t, env, cfg.Services, "1h"), det: det, services: cfg.Services,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, buf: map[string][]byte{}, end: cfg.Start.Add(window)}
}

// emit takes one event of the workload.
func (r *ingestRun) emit(ev Event) error {
	for !ev.Time.Before(r.end) {
		if err := r.flush(r.end); err != nil {
			return err
		}
		r.end = r.end.Add(window)
	}
	if ev.Action != nil {
		// What came before is reported before the action is done.
		if err := r.flush(ev.Time); err != nil {
			return err
		}
		r.m.act(ev.Action)
		return nil
	}
	r.buf[ev.Report.Service] = AppendJSONL(r.buf[ev.Report.Service], ev.Report)
	return nil
}

// flush moves the clock to at, has every service post its reports, or a
// heartbeat, at once, and waits for detection to have seen them.
func (r *ingestRun) flush(at time.Time) error {
	if d := at.Sub(r.env.Clock.Now()); d > 0 {
		r.env.Clock.Advance(d)
	}
	var wg sync.WaitGroup
	errs := make([]error, r.services)
	counts := make([]int, r.services)
	for i := range r.services {
		name := ServiceName(i)
		body := r.buf[name]
		delete(r.buf, name)
		wg.Go(func() {
			if len(body) > 0 {
				counts[i], errs[i] = r.post(name, api.LedgerEventsPath, "application/x-ndjson", body)
				return
			}
			hb, _ := json.Marshal(api.LedgerHeartbeat{Service: name, Time: at})
			_, errs[i] = r.post(name, api.LedgerHeartbeatPath, "application/json", hb)
		})
	}
	wg.Wait()
	r.posts += r.services
	for i, err := range errs {
		if err != nil {
			return err
		}
		r.posted += int64(counts[i])
	}
	r.drain()
	return nil
}

// post posts body to path as service's own client, and returns how many
// reports Mayfly accepted.
func (r *ingestRun) post(service, path, ctype string, body []byte) (int, error) {
	req, err := http.NewRequest("POST", r.env.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ctype)
	c := r.m.clients[service]
	req.SetBasicAuth(url.QueryEscape(c[0]), url.QueryEscape(c[1]))
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	switch {
	case path == api.LedgerHeartbeatPath && resp.StatusCode == http.StatusNoContent:
		return 0, nil
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("%s as %s: %s: %s", path, service, resp.Status, b)
	}
	var acc api.LedgerAccepted
	if err := json.Unmarshal(b, &acc); err != nil {
		return 0, err
	}
	if n := bytes.Count(body, []byte("\n")); acc.Accepted != n {
		return 0, fmt.Errorf("%s as %s: %d of %d reports accepted", path, service, acc.Accepted, n)
	}
	return acc.Accepted, nil
}

// drain waits until detection has seen every report posted.
func (r *ingestRun) drain() {
	r.t.Helper()
	for deadline := time.Now().Add(time.Minute); r.det.reports.Load() < r.posted; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("detection saw %d of %d reports after a minute", r.det.reports.Load(), r.posted)
		}
	}
}

// run runs cfg's workload through the ingest, and waits until detection
// has seen all of it and ticked on the clock where the week ends.
func (r *ingestRun) run(cfg Config) []Attack {
	r.t.Helper()
	began := time.Now()
	attacks, err := New(cfg, r.m).Run(r.emit)
	if err == nil {
		err = r.flush(r.end)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	// A tick on the week's last clock fires what fires on time passing,
	// such as a token whose issuance record never came.
	deadline := time.Now().Add(time.Minute)
	for ticks := r.det.ticks.Load(); r.det.ticks.Load() < ticks+2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatal("detection did not tick for a minute")
		}
	}
	r.t.Logf("%d reports in %d requests, detected in %s", r.posted, r.posts, time.Since(began).Round(time.Second))
	return attacks
}

func (r *ingestRun) alerts() []*api.AlertView {
	r.t.Helper()
	as, err := r.env.Admin.Alerts(context.Background(), mayfly.AlertFilter{Limit: 1000})
	if err != nil {
		r.t.Fatal(err)
	}
	return as
}

// raised reports whether an alert of as meets e.
func raised(as []*api.AlertView, e Expect) bool {
	return slices.ContainsFunc(as, func(a *api.AlertView) bool { return a.Rule == e.Rule && slices.Contains(e.Subjects, a.Subject) })
}

// TestWorkloadAlerts runs the week with its attacks through the ingest
// over HTTP: every attack raises what it must, and nothing raises what no
// attack may.
func TestWorkloadAlerts(t *testing.T) {
	r := newIngestRun(t, week)
	attacks := r.run(week)
	if len(attacks) != 6 {
		t.Fatalf("%d attacks; want 6", len(attacks))
	}
	// Detection has seen every report and ticked since: what it raised
	// has committed.
	as := r.alerts()
	var may []Expect
	for _, a := range attacks {
		for _, e := range a.Must {
			if !raised(as, e) {
				t.Errorf("attack %s: no %s alert about one of %v", a.Name, e.Rule, e.Subjects)
			}
		}
		may = append(append(may, a.Must...), a.May...)
	}
	for _, a := range as {
		if !slices.ContainsFunc(may, func(e Expect) bool { return raised([]*api.AlertView{a}, e) }) {
			t.Errorf("alert %s about %s, which no attack may raise: %s", a.Rule, a.Subject, a.Summary)
		}
	}
	t.Logf("%d alerts", len(as))
}

// TestWorkloadBenign runs the week without attacks: nothing is raised.
func TestWorkloadBenign(t *testing.T) {
	cfg := week
	cfg.NoAttacks = true
	r := newIngestRun(t, cfg)
	r.run(cfg)
	for _, a := range r.alerts() {
		t.Errorf("benign week: alert %s about %s: %s", a.Rule, a.Subject, a.Summary)
	}
}
