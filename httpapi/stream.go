package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi/console"
)

// The revocation stream, for verifiers: api.StreamPath describes what it
// sends.

// HeartbeatEvery bounds the silence on a revocation stream, so verifiers
// can tell a quiet stream from a dead one.
const HeartbeatEvery = 5 * time.Second

// Shutdown ends every revocation stream, so that a graceful shutdown does
// not wait on requests that never end.
func (s *Server) Shutdown() {
	s.closeOnce.Do(func() { close(s.closing) })
}

const streamRoute = "GET " + api.StreamPath

func (s *Server) streamRoutes() {
	s.declare(streamRoute, reading) // with an admin credential; any client may
	s.handle(streamRoute, s.stream)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if err := s.authenticate(r, url.Values{}, streamRoute, reading); err != nil {
		s.jsonError(w, r, err)
		return
	}
	after, err := resumePoint(r)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	// The server's write timeout is for requests; a stream lives on.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		s.jsonError(w, r, mayfly.E("httpapi.stream", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)
	s.streams.Add(1)
	defer s.streams.Add(-1)
	sub := s.subscribe(r, after)
	defer s.unsubscribe(sub)
	bw := bufio.NewWriterSize(w, 4096)
	fmt.Fprintf(bw, "retry: 1000\n\n")
	send := func(id, event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if id != "" {
			fmt.Fprintf(bw, "id: %s\n", id)
		}
		_, err = fmt.Fprintf(bw, "event: %s\ndata: %s\n\n", event, b)
		return err
	}
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	rv := s.cfg.Revoker
	cursor, ready := after, false
	every := s.cfg.StreamHeartbeat
	if every <= 0 {
		every = HeartbeatEvery
	}
	beat := time.NewTicker(every)
	defer beat.Stop()
	for {
		revs, wake := rv.Since(cursor)
		for _, e := range revs {
			ev := api.RevocationEvent{Seq: e.Seq, Kind: e.Kind, Subject: e.Subject, Until: e.Until, At: e.At}
			if err := send(strconv.FormatInt(e.Seq, 10), "revocation", ev); err != nil {
				return
			}
			cursor = e.Seq
		}
		sub.seq.Store(cursor)
		if !ready {
			// The point the verifier stands at is what it was sent.
			if err := send("", "ready", api.StreamStatus{Seq: cursor}); err != nil {
				return
			}
			ready = true
		}
		if len(revs) > 0 || bw.Buffered() > 0 {
			if flush() != nil {
				return
			}
		}
		select {
		case <-wake:
		case <-beat.C:
			// Credentials are checked again at every heartbeat: a stream
			// whose client or admin credential was revoked since it
			// connected ends, and its verifier fails closed.
			if s.reauthenticate(r, streamRoute, reading) != nil {
				return
			}
			if send("", "heartbeat", api.StreamStatus{Seq: cursor, Time: s.cfg.Clock.Now().UTC()}) != nil || flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.closing:
			return // the server is shutting down: the verifier reconnects elsewhere or later
		}
	}
}

// resumePoint is the last sequence number the subscriber holds: the
// Last-Event-ID header of an EventSource reconnecting, or ?after=.
func resumePoint(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if q := r.URL.Query().Get("after"); q != "" {
		v = q
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, mayfly.InvalidField("after", "the resume point %q is not a sequence number", v)
	}
	return n, nil
}

// subscriber is an open revocation stream, for the console's overview.
type subscriber struct {
	who, source string
	since       time.Time
	seq         atomic.Int64 // the last revocation sent
}

// subscribe records an open stream; who is the client that presented
// HTTP Basic credentials, else "admin".
func (s *Server) subscribe(r *http.Request, after int64) *subscriber {
	who := "admin"
	if id, _, ok := r.BasicAuth(); ok {
		who = id
	} else if id := r.FormValue("client_id"); id != "" {
		who = id
	}
	sub := &subscriber{who: who, source: s.sourceIP(r), since: s.cfg.Clock.Now()}
	sub.seq.Store(after)
	s.subsMu.Lock()
	if s.subs == nil {
		s.subs = map[*subscriber]struct{}{}
	}
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	return sub
}

func (s *Server) unsubscribe(sub *subscriber) {
	s.subsMu.Lock()
	delete(s.subs, sub)
	s.subsMu.Unlock()
}

// Subscribers lists the revocation streams open on this process, longest
// open first.
func (s *Server) Subscribers() []console.Subscriber {
	s.subsMu.Lock()
	out := make([]console.Subscriber, 0, len(s.subs))
	for sub := range s.subs {
		out = append(out, console.Subscriber{Who: sub.who, Source: sub.source, Since: sub.since, Seq: sub.seq.Load()})
	}
	s.subsMu.Unlock()
	slices.SortFunc(out, func(a, b console.Subscriber) int { return a.Since.Compare(b.Since) })
	return out
}
