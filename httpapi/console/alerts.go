package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/detect"
)

// Alerts: the list, a fragment of it the script reloads when the event
// stream says alerts changed, and acknowledging and resolving.

type alertsData struct {
	Alerts     []*mayfly.Alert
	State      string
	Rules      []detect.RuleSetting
	Thresholds map[mayfly.Rule]string
}

func (h *Handler) alertsData(r *http.Request) (*alertsData, error) {
	if h.cfg.Alerts == nil {
		return nil, mayfly.Errorf(mayfly.NotFound, "%v", errNoAlerts)
	}
	st := mayfly.AlertState(r.URL.Query().Get("state"))
	list, err := h.cfg.Alerts.List(r.Context(), mayfly.AlertFilter{State: st, Limit: pageSize})
	if err != nil {
		return nil, err
	}
	d := &alertsData{Alerts: list, State: string(st), Rules: h.cfg.Rules, Thresholds: map[mayfly.Rule]string{}}
	for _, r := range h.cfg.Rules {
		d.Thresholds[r.Rule] = r.Thresholds
	}
	return d, nil
}

func (h *Handler) alerts(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.alertsData(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "alerts", s, "alerts", d)
	return nil
}

// alertList is the list alone, for the script to put in place.
func (h *Handler) alertList(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.alertsData(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "alertlist", s, "alerts", d)
	return nil
}

// alertEvents tells the page, over Server-Sent Events, each time alerts
// change in any process sharing the store; it carries no alert itself.
func (h *Handler) alertEvents(w http.ResponseWriter, r *http.Request, s *session) error {
	if h.cfg.Alerts == nil {
		return mayfly.Errorf(mayfly.NotFound, "%v", errNoAlerts)
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return mayfly.E("console.alertEvents", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	send := func(event string) bool {
		if _, err := w.Write([]byte("event: " + event + "\ndata: {}\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("ready") {
		return nil
	}
	for {
		wake := h.cfg.Alerts.Changes()
		select {
		case <-r.Context().Done():
			return nil
		case <-h.cfg.Closing:
			return nil
		case <-beat.C:
			// The session may have ended meanwhile: the stream ends with it.
			if _, _, err := h.authenticate(r); err != nil {
				return nil
			}
			if !send("heartbeat") {
				return nil
			}
		case <-wake:
			if !send("change") {
				return nil
			}
		}
	}
}

func (h *Handler) changeAlert(ack bool) action {
	return func(w http.ResponseWriter, r *http.Request, s *session) error {
		if h.cfg.Alerts == nil {
			return mayfly.Errorf(mayfly.NotFound, "%v", errNoAlerts)
		}
		change, done := h.cfg.Alerts.Resolve, "resolved"
		if ack {
			change, done = h.cfg.Alerts.Ack, "acknowledged"
		}
		a, err := change(r.Context(), r.PathValue("id"), s.credential, r.PostFormValue("note"))
		if err != nil {
			return err
		}
		redirect(w, r, Path+"/alerts?done="+done+"#"+url.QueryEscape(a.ID))
		return nil
	}
}
