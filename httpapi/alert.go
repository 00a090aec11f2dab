package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Alerts: listing, showing, acknowledging and resolving them, and the
// Server-Sent Events stream of their changes.

const alertStreamRoute = "GET " + api.AlertStreamPath

func (s *Server) alertRoutes() {
	if s.cfg.Alerts == nil {
		return
	}
	s.admin("GET "+api.AlertsPath, reading, s.listAlerts)
	s.admin(alertStreamRoute, reading, s.alertStream)
	s.admin("GET "+api.AlertsPath+"/{id}", reading, s.showAlert)
	s.admin("POST "+api.AlertsPath+"/{id}/ack", responding, s.ackAlert)
	s.admin("POST "+api.AlertsPath+"/{id}/resolve", responding, s.resolveAlert)
	s.alertMetrics()
}

func (s *Server) alertMetrics() {
	reg, al := s.cfg.Registry, s.cfg.Alerts
	counter := func(name, help string, labels prometheus.Labels, v func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v()) }))
	}
	for _, r := range mayfly.Rules {
		rule := prometheus.Labels{"rule": string(r)}
		counter("mayfly_alerts_raised_total", "Alerts this process raised, by rule: a rule firing for a rule and subject with no alert that is not resolved.",
			rule, func() int64 { return al.Stats().Raised[r] })
		counter("mayfly_alert_firings_total", "Firings of a rule this process recorded, new alerts and repeats alike.",
			rule, func() int64 { return al.Stats().Firings[r] })
	}
	counter("mayfly_alert_webhook_failures_total", "Alert webhook delivery attempts that failed (each retry counts).",
		nil, func() int64 { return al.Stats().WebhookFailures })
	counter("mayfly_alert_webhook_dropped_total", "Alert webhook messages given up on: every attempt failed, or the queue was full.",
		nil, func() int64 { return al.Stats().WebhookDropped })
}

func (s *Server) alertViews(ctx context.Context, as ...*mayfly.Alert) ([]api.AlertView, error) {
	subjectID := func(a *mayfly.Alert) string {
		kind, id, _ := strings.Cut(a.Subject, ":")
		if kind == "client" || kind == "principal" {
			return id
		}
		return ""
	}
	return named(s, ctx, as, func(ids []string, a *mayfly.Alert) []string { return append(ids, subjectID(a), a.UpdatedBy) },
		func(a *mayfly.Alert, n map[string]string) api.AlertView {
			return api.AlertView{Alert: *a, SubjectName: n[subjectID(a)], UpdatedByName: n[a.UpdatedBy]}
		})
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	q := r.URL.Query()
	f := mayfly.AlertFilter{Rule: mayfly.Rule(q.Get("rule")), State: mayfly.AlertState(q.Get("state")), Subject: q.Get("subject"), Limit: 1000}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return mayfly.InvalidField("limit", "limit %q is not a number from 1 to 10000", v)
		}
		f.Limit = n
	}
	list, err := s.cfg.Alerts.List(r.Context(), f)
	if err != nil {
		return err
	}
	vs, err := s.alertViews(r.Context(), list...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) showAlert(w http.ResponseWriter, r *http.Request, _ *mayfly.AdminCredential) error {
	al, err := s.cfg.Alerts.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeAlert(w, r, al)
}

func (s *Server) writeAlert(w http.ResponseWriter, r *http.Request, al *mayfly.Alert) error {
	v, err := one(s.alertViews(r.Context(), al))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// alertNote reads the optional note of an acknowledgement or resolution.
func alertNote(r *http.Request) (string, error) {
	var req api.AlertNote
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return "", err
		}
	}
	return req.Note, nil
}

func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	return s.changeAlert(w, r, a, s.cfg.Alerts.Ack)
}

func (s *Server) resolveAlert(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
	return s.changeAlert(w, r, a, s.cfg.Alerts.Resolve)
}

func (s *Server) changeAlert(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential, change func(ctx context.Context, id, actor, note string) (*mayfly.Alert, error)) error {
	note, err := alertNote(r)
	if err != nil {
		return err
	}
	al, err := change(r.Context(), r.PathValue("id"), a.ID, note)
	if err != nil {
		return err
	}
	return s.writeAlert(w, r, al)
}

// alertPage bounds the alerts a stream reads at once.
const alertPage = 500

// alertStream sends every alert change after the resume point, as it
// commits in any process sharing the store: the store's change notice
// wakes it, and it reads the store by Seq.
func (s *Server) alertStream(w http.ResponseWriter, r *http.Request, _ *mayfly.AdminCredential) error {
	cursor, err := resumePoint(r)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return mayfly.E("httpapi.alertStream", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.streams.Add(1)
	defer s.streams.Add(-1)
	bw := bufio.NewWriterSize(w, 4096)
	fmt.Fprintf(bw, "retry: 1000\n\n")
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	if flush() != nil {
		return nil
	}
	every := s.cfg.StreamHeartbeat
	if every <= 0 {
		every = HeartbeatEvery
	}
	beat := time.NewTicker(every)
	defer beat.Stop()
	al := s.cfg.Alerts
	for {
		wake := al.Changes() // before reading: a change after the read wakes us
		for {
			list, err := al.Since(r.Context(), cursor, alertPage)
			if err != nil {
				s.logError(r, err)
				return nil // the client reconnects with Last-Event-ID
			}
			for _, a := range list {
				b, err := json.Marshal(a)
				if err != nil {
					return nil
				}
				fmt.Fprintf(bw, "id: %d\nevent: alert\ndata: %s\n\n", a.Seq, b)
				cursor = a.Seq
			}
			if len(list) > 0 && flush() != nil {
				return nil
			}
			if len(list) < alertPage {
				break
			}
		}
		select {
		case <-wake:
		case <-beat.C:
			// A credential revoked since the stream began ends it.
			if s.reauthenticate(r, alertStreamRoute, reading) != nil {
				return nil
			}
			if _, err := fmt.Fprintf(bw, ": keep-alive\n\n"); err != nil || flush() != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}
