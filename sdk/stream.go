package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	// streamPath is the revocation stream, under the issuer URL.
	streamPath = "/v1/revocations/stream"
	// idleTimeout ends a connection that has sent nothing, not even a
	// heartbeat (sent at least every 5 s), for this long.
	idleTimeout = 15 * time.Second
	// Reconnection delays double from minBackoff to maxBackoff; each is
	// drawn between half of that and all of it.
	minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	// pruneEvery is how often revocations of certainly expired tokens are
	// forgotten.
	pruneEvery = time.Minute
)

var errUnauthorized = errors.New("the issuer refused the stream's credentials")

// follow keeps the revocation stream connected until Close.
func (v *Verifier) follow() {
	failures := 0
	for {
		caughtUp, err := v.connect()
		if v.ctx.Err() != nil {
			return
		}
		if caughtUp {
			failures = 0
		}
		delay := backoff(failures)
		if errors.Is(err, errUnauthorized) {
			delay = backoff(100)
			v.log.Error("sdk: revocation stream refused; tokens are refused until it is back", "err", err, "retry_in", delay)
		} else {
			v.log.Warn("sdk: revocation stream interrupted; reconnecting", "err", err, "retry_in", delay, "seq", v.seq.Load())
		}
		failures++
		t := time.NewTimer(delay)
		select {
		case <-v.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the delay before reconnection attempt n+1: minBackoff doubled n
// times, at most maxBackoff, with jitter so that many verifiers cut off
// together do not return together.
func backoff(n int) time.Duration {
	d := min(minBackoff<<min(n, 16), maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// connect reads the stream once, from the newest revocation applied, until it
// ends. It reports whether the stream caught up ("ready") on the way.
func (v *Verifier) connect() (caughtUp bool, err error) {
	ctx, cancel := context.WithCancelCause(v.ctx)
	defer cancel(nil)
	idle := time.AfterFunc(idleTimeout, func() { cancel(fmt.Errorf("nothing received for %s", idleTimeout)) })
	defer idle.Stop()
	defer func() {
		if cause := context.Cause(ctx); err != nil && cause != nil && v.ctx.Err() == nil {
			err = cause
		}
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.streamURL, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if seq := v.seq.Load(); seq > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(seq, 10))
	}
	if v.cfg.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+v.cfg.AdminToken)
	} else {
		// RFC 6749 section 2.3.1: each part form-encoded, then Basic.
		cred := url.QueryEscape(v.cfg.ClientID) + ":" + url.QueryEscape(v.cfg.ClientSecret)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	resp, err := v.streamHC.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Errorf("%w: %s", errUnauthorized, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("stream: %s", resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, fmt.Errorf("stream: content type %q is not text/event-stream", mt)
	}

	p := newSSEReader(&idleReader{r: resp.Body, t: idle})
	for {
		ev, err := p.next()
		if err != nil {
			return caughtUp, fmt.Errorf("stream: %w", err)
		}
		switch ev.typ {
		case "revocation":
			var r revocation
			if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
				return caughtUp, fmt.Errorf("stream: revocation event: %w", err)
			}
			if r.Seq <= 0 || r.Kind == "" || r.Subject == "" || ((r.Kind == kindNotBefore || r.Kind == kindResume || r.Kind == kindSubject || r.Kind == kindNamespace) && r.At.IsZero()) {
				return caughtUp, fmt.Errorf("stream: incomplete revocation event %q", ev.data)
			}
			if !v.revs.apply(&r) {
				v.log.Error("sdk: revocation of an unknown kind ignored", "kind", r.Kind, "subject", r.Subject, "seq", r.Seq)
			} else {
				v.log.Debug("sdk: revocation applied", "kind", r.Kind, "subject", r.Subject, "seq", r.Seq)
			}
			if r.Seq > v.seq.Load() {
				v.seq.Store(r.Seq)
			}
			if caughtUp {
				v.stamp() // a revocation as it happens: the feed is current
			} else {
				v.notify() // replay: the feed is not current until ready
			}
		case "ready":
			var m struct {
				Seq int64 `json:"seq"`
			}
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				return caughtUp, fmt.Errorf("stream: ready event: %w", err)
			}
			if seq := v.seq.Load(); m.Seq < seq {
				v.log.Warn("sdk: the issuer's revocation sequence is behind this verifier's; keeping every revocation", "issuer_seq", m.Seq, "seq", seq)
			}
			caughtUp = true
			v.stamp()
			v.log.Info("sdk: revocation stream caught up", "seq", v.seq.Load())
		case "heartbeat":
			if caughtUp {
				v.stamp()
			}
		}
	}
}

// stamp records that the feed is current now.
func (v *Verifier) stamp() {
	now := v.cfg.Clock()
	v.fresh.Store(now.UnixNano())
	if now.Sub(v.lastPrune) >= pruneEvery || now.Before(v.lastPrune) {
		// lastPrune is only touched by the stream's goroutine.
		v.lastPrune = now
		v.revs.prune(now.Add(-MaxLifetime))
	}
	v.notify()
}

// idleReader restarts the idle timer whenever bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(idleTimeout)
	}
	return n, err
}
