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

// readiness is the last answer of Ready.
type readiness struct {
	mu      sync.Mutex
	checked bool
	at      time.Time
	err     error
}

// Ready reports whether this server can do its work: its store answers a
// read within two seconds, and every key ring has a key that can sign now.
// The error's message is safe to show anyone; its cause is for the log.
// An answer is reused for a second, so that probes cost little, and a
// change of answer is logged.
func (s *App) Ready(ctx context.Context) error {
	r := &s.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.cfg.Clock.Now()
	if r.checked && !now.Before(r.at) && now.Sub(r.at) < readyFor {
		return r.err
	}
	err := s.checkReady(context.WithoutCancel(ctx))
	switch {
	case err != nil && (r.err == nil || r.err.Error() != err.Error()):
		s.cfg.Log.Warn("not ready", "err", err)
	case err == nil && r.err != nil:
		s.cfg.Log.Info("ready again")
	}
	r.checked, r.at, r.err = true, now, err
	return err
}

// checkReady does what Ready reports. It does not stop for the caller's
// cancellation: its answer is shared with the probes that follow.
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
