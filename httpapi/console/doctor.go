package console

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/doctor"
)

// The overview shows the doctor's findings, whose report reads every
// principal and client: about a second with 100,000 clients. The overview
// shows the latest report, and a report older than doctorFresh starts a
// new one in the background, so no page waits for it.

const doctorFresh = time.Minute

// doctorState is the latest report, or why there is none.
type doctorState struct {
	rep     *mayfly.DoctorReport
	err     error
	at      time.Time // when the latest run began
	running bool
}

// doctorReport returns the latest report (nil if none yet) and its error,
// and starts a new one if it is stale.
func (h *Handler) doctorReport(ctx context.Context) (*mayfly.DoctorReport, error) {
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	d := &h.doctor
	if !d.running && (d.at.IsZero() || now.Sub(d.at) >= doctorFresh) {
		d.running, d.at = true, now
		go func() {
			rep, err := h.cfg.Doctor.Report(context.WithoutCancel(ctx), doctor.Options{})
			h.mu.Lock()
			d.rep, d.err, d.running = rep, err, false
			h.mu.Unlock()
		}()
	}
	return d.rep, d.err
}
