package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly"
)

const (
	// readyFor is how long an answer to Ready is reused: probes come
	// often, and each check is a round trip to the store.
	readyFor = time.Second
	// storeTimeout bounds the store's answer to a readiness check: a
	// store that takes longer is as good as unreachable to a client.
	storeTimeout = 2 * time.Second
)

// readiness is the last answer of Ready, and the check in flight.
type readiness struct {
	mu      sync.Mutex
	checked bool
	at      time.Time // when the answer was known
	err     error
	running chan struct{} // closed when the check in flight ends; nil if none
}

// Ready reports whether this server can do its work: its store answers a
// read within two seconds, and every key ring has a key that can sign now.
// The error's message is safe to show anyone; its cause is for the log.
// An answer is reused for a second, so that probes cost little, and a
// change of answer is logged. At most one check runs at a time: probes
// that come while one runs wait for its answer, or for their own end,
// so a slow store is asked once however many probes queue behind it.
func (s *App) Ready(ctx context.Context) error {
	r := &s.ready
	r.mu.Lock()
	now := s.cfg.Clock.Now()
	if r.checked && !now.Before(r.at) && now.Sub(r.at) < readyFor {
		err := r.err
		r.mu.Unlock()
		return err
	}
	done := r.running
	if done == nil {
		done = make(chan struct{})
		r.running = done
		go s.refreshReady(context.WithoutCancel(ctx), done)
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return &mayfly.Error{Op: "ready", Code: mayfly.Unavailable, Msg: "the readiness check did not finish", Err: ctx.Err()}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// refreshReady runs one check under ctx, the context of the probe that
// began it without its cancellation, keeps its answer, timed when it is
// known, and closes done.
func (s *App) refreshReady(ctx context.Context, done chan struct{}) {
	err := s.checkReady(ctx)
	r := &s.ready
	r.mu.Lock()
	switch {
	case err != nil && (r.err == nil || r.err.Error() != err.Error()):
		s.cfg.Log.Warn("not ready", "err", err)
	case err == nil && r.err != nil:
		s.cfg.Log.Info("ready again")
	}
	r.checked, r.at, r.err, r.running = true, s.cfg.Clock.Now(), err, nil
	r.mu.Unlock()
	close(done)
}

// checkReady does what Ready reports. It does not stop for a caller's
// cancellation: its answer is shared by every probe waiting for it.
func (s *App) checkReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if _, err := s.store.Setting(ctx, rootCheckSetting); err != nil {
		return &mayfly.Error{Op: "ready", Code: mayfly.Unavailable, Msg: "the store is unreachable", Err: err}
	}
	if rings := s.Keys.Unsigned(); len(rings) > 0 {
		return &mayfly.Error{Op: "ready", Code: mayfly.Unavailable, Msg: "signing keys are not loaded",
			Err: fmt.Errorf("no key can sign now in ring %s", strings.Join(rings, ", "))}
	}
	return nil
}
