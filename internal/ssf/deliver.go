package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/keys"
)

const (
	// lockName keeps replicas from pushing the same SETs at once.
	lockName = "ssf.deliver"
	// roundEvery bounds the wait between rounds: for retries that come
	// due and for streams another replica changed.
	roundEvery = 2 * time.Second
	// convertBatch bounds the revocations turned into events per write.
	convertBatch = 500
	// pushBatch bounds the SETs pushed to one stream per round.
	pushBatch = 100
	// pushers bounds the streams pushed to at once.
	pushers = 16
	// pushBudget bounds one stream's turn, so that a slow receiver does
	// not keep the stream's lock for long.
	pushBudget = 30 * time.Second
	// maxBackoff caps the wait between push attempts.
	maxBackoff = 10 * time.Minute
)

// Run converts revocations into events and pushes them until ctx ends.
func (s *Service) Run(ctx context.Context) {
	for {
		_, wake := s.cfg.Revoker.Since(s.cfg.Revoker.Seq())
		if err := s.round(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("shared signals delivery round failed", "err", err)
		}
		t := time.NewTimer(roundEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			s.waitPushes()
			return
		case <-wake:
		case <-s.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// poke asks Run for a round soon.
func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// queuedHere wakes polls waiting in this process, and the pusher.
func (s *Service) queuedHere() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	s.poke()
}

func (s *Service) waiter() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Round runs one whole round, pushes included, as Run does without waiting.
func (s *Service) Round(ctx context.Context) error {
	err := s.round(ctx)
	s.waitPushes()
	return err
}

// round turns new revocations into every stream's events, under a lock
// that keeps replicas from doing it at once, then starts pushing what push
// streams have due. It does not wait for the pushes: one slow receiver must
// hold up neither the others nor the next round.
func (s *Service) round(ctx context.Context) error {
	// Most installations have no streams: spare them the lock.
	if streams, err := s.cfg.Store.SSFStreams(ctx); err != nil || len(streams) == 0 {
		return err
	}
	unlock, err := s.cfg.Store.Lock(ctx, lockName)
	if err != nil {
		return err
	}
	streams, err := s.cfg.Store.SSFStreams(ctx)
	if err != nil {
		unlock()
		return err
	}
	var errs []error
	var push []*mayfly.SSFStream
	seen := memo{}
	for _, st := range streams {
		live, err := s.convert(ctx, st, seen)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if live && st.Method == mayfly.DeliveryPush && st.Status == mayfly.SSFEnabled {
			push = append(push, st)
		}
	}
	unlock()
	// Start where the last round left off, so that when more streams are
	// due than may be pushed at once, the same ones do not always win.
	s.mu.Lock()
	s.next++
	first := s.next
	s.mu.Unlock()
	for i := range push {
		s.startPush(ctx, push[(first+i)%len(push)])
	}
	return errors.Join(errs...)
}

// startPush pushes st in the background unless it is being pushed already
// or too many streams are.
func (s *Service) startPush(ctx context.Context, st *mayfly.SSFStream) {
	s.mu.Lock()
	if s.pushing[st.ID] || len(s.pushing) >= pushers {
		s.mu.Unlock()
		return
	}
	s.pushing[st.ID] = true
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.pushing, st.ID)
			s.pushed.Broadcast()
			s.mu.Unlock()
		}()
		if !s.due(ctx, st) {
			return
		}
		// One replica pushes a stream at a time, so that receivers do not
		// get each SET from every replica.
		unlock, err := s.cfg.Store.Lock(ctx, lockName+"."+st.ID)
		if err != nil {
			return
		}
		defer unlock()
		// The stream as it is now: the lock may have been a while coming,
		// and the stream paused, moved or its owner revoked meanwhile.
		st, err := s.cfg.Store.SSFStream(ctx, st.ID)
		if err != nil || st.Method != mayfly.DeliveryPush || st.Status != mayfly.SSFEnabled {
			return
		}
		if live, err := s.live(ctx, st); err != nil || !live {
			return
		}
		s.push(ctx, st)
	}()
}

// Pushing is how many streams this process is pushing to now.
func (s *Service) Pushing() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pushing)
}

// Queued counts the SETs every stream holds undelivered. They are in the
// store: a restart pushes them, or hands them to the next poll.
func (s *Service) Queued(ctx context.Context) (int, error) {
	streams, err := s.cfg.Store.SSFStreams(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range streams {
		q, err := s.cfg.Store.SSFQueueLength(ctx, st.ID)
		if err != nil {
			return 0, err
		}
		n += q
	}
	return n, nil
}

// waitPushes waits until no push is under way.
func (s *Service) waitPushes() {
	s.mu.Lock()
	for len(s.pushing) > 0 {
		s.pushed.Wait()
	}
	s.mu.Unlock()
}

// due reports whether the head of st's queue may be pushed now.
func (s *Service) due(ctx context.Context, st *mayfly.SSFStream) bool {
	now := s.cfg.Clock.Now()
	head, err := s.cfg.Store.PendingSETs(ctx, st.ID, now.Add(2*maxBackoff), 1)
	return err == nil && len(head) == 1 && !head[0].NextAttempt.After(now)
}

// live reports whether st's owner may still receive events: a stream whose
// client was revoked, or whose owner was suspended or offboarded, gets
// nothing more, whatever it asked for.
func (s *Service) live(ctx context.Context, st *mayfly.SSFStream) (bool, error) {
	if st.Owner == "" {
		return true, nil
	}
	c, err := s.cfg.Identity.Client(ctx, st.Owner)
	if errors.Is(err, mayfly.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.cfg.Identity.Usable(ctx, c) == nil, nil
}

// convert queues st's events for the revocations after its cursor, and
// reports whether st's owner is live. The revocations a disabled stream or
// a dead owner's stream misses are passed over. A stream that another
// process converted first is left to it.
func (s *Service) convert(ctx context.Context, st *mayfly.SSFStream, seen memo) (live bool, err error) {
	if live, err = s.live(ctx, st); err != nil {
		return false, err
	}
	queued := -1 // the queue's length, counted when first needed: it costs a scan
	for {
		revs, _ := s.cfg.Revoker.Since(st.Cursor)
		if len(revs) == 0 {
			return live, nil
		}
		revs = revs[:min(len(revs), convertBatch)]
		var sets []mayfly.QueuedSET
		if live && st.Status != mayfly.SSFDisabled {
			for _, r := range revs {
				evs, err := seen.events(ctx, s, r)
				if err != nil {
					return live, err
				}
				q, err := s.queued(st, revocationTxn(r.Seq), evs)
				if err != nil {
					return live, err
				}
				sets = append(sets, q...)
			}
		}
		if len(sets) > 0 {
			if queued < 0 {
				if queued, err = s.cfg.Store.SSFQueueLength(ctx, st.ID); err != nil {
					return live, err
				}
			}
			if queued+len(sets) > s.cfg.MaxQueue {
				return live, s.overflow(ctx, st, queued)
			}
		}
		to := revs[len(revs)-1].Seq
		err := s.cfg.Store.QueueSETs(ctx, st.ID, st.Cursor, to, sets)
		if errors.Is(err, mayfly.ErrConflict) || errors.Is(err, mayfly.ErrNotFound) {
			return live, nil // converted elsewhere, or deleted
		}
		if err != nil {
			return live, err
		}
		st.Cursor = to
		queued += len(sets)
		s.stats.Queued.Add(int64(len(sets)))
		if len(sets) > 0 {
			s.queuedHere()
		}
	}
}

// push delivers st's due SETs in order, stopping at the first that fails
// so that a receiver gets them in the order they were queued.
func (s *Service) push(ctx context.Context, st *mayfly.SSFStream) {
	// Read the queue's head whether or not it is due: a SET waiting for
	// its retry holds back the ones queued after it.
	now := s.cfg.Clock.Now()
	sets, err := s.cfg.Store.PendingSETs(ctx, st.ID, now.Add(2*maxBackoff), pushBatch)
	if err != nil {
		s.cfg.Log.Error("reading a stream's queue failed", "stream", st.ID, "err", err)
		return
	}
	budget := time.Now().Add(pushBudget)
	for _, q := range sets {
		if q.NextAttempt.After(now) || time.Now().After(budget) {
			return
		}
		var f *failure
		if wanted(st, q) {
			f = s.pushOne(ctx, st, q)
		} else {
			s.stats.Dropped.Add(1)
		}
		if f == nil {
			if _, err := s.cfg.Store.AckSETs(ctx, st.ID, []string{q.JTI}); err != nil {
				s.cfg.Log.Error("acknowledging a delivered SET failed", "stream", st.ID, "jti", q.JTI, "err", err)
				return
			}
			continue
		}
		s.stats.Retried.Add(1)
		wait := min(time.Second<<min(q.Attempts, 20), maxBackoff)
		next := s.cfg.Clock.Now().Add(wait)
		// One line per failed attempt: what went wrong, which attempt it
		// was, and when the next one comes.
		attrs := append([]any{"stream", st.ID, "jti", q.JTI, "host", endpointHost(st), "attempt", q.Attempts + 1}, f.attrs...)
		s.cfg.Log.Log(ctx, f.level, f.msg, append(attrs, "retry_in", wait, "retry_at", next.UTC().Format(time.RFC3339))...)
		if err := s.cfg.Store.DeferSET(ctx, st.ID, q.JTI, q.Attempts+1, next); err != nil {
			s.cfg.Log.Error("deferring a SET failed", "stream", st.ID, "jti", q.JTI, "err", err)
		}
		return
	}
}

// failure is why a push did not go through and will be tried again, for
// the log line that says so.
type failure struct {
	level slog.Level
	msg   string
	attrs []any
}

// pushFailed is a delivery that failed on the receiver's side or on the
// way to it: a warning, as the receiver, not Mayfly, has to act.
func pushFailed(attrs ...any) *failure {
	return &failure{level: slog.LevelWarn, msg: "pushing a SET failed; will retry", attrs: attrs}
}

// pushOne POSTs one SET (RFC 8935 section 2). It returns nil if the SET
// leaves the queue, accepted or refused for good with a 400, and why not
// otherwise.
func (s *Service) pushOne(ctx context.Context, st *mayfly.SSFStream, q mayfly.QueuedSET) *failure {
	raw, err := s.sign(ctx, q.Claims)
	if err != nil {
		return &failure{slog.LevelError, "signing a SET failed; will retry", []any{"err", err}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.EndpointURL, strings.NewReader(raw))
	if err != nil { // the error would quote the URL
		return &failure{slog.LevelError, "a push stream's endpoint is unusable; will retry", nil}
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	h, err := s.header(st)
	if err != nil {
		return &failure{slog.LevelError, "a push stream's authorization header cannot be used; will retry", []any{"err", err}}
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	secrets := pushSecrets(st, h)
	resp, err := s.client(st).Do(req)
	if err != nil {
		return pushFailed("err", transportError(err, secrets))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		s.stats.Delivered.Add(1)
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		json.Unmarshal(body, &e)
		// Only a fault of the SET itself is final (RFC 8935 section 2.4);
		// a receiver that cannot authenticate us or find our key may
		// recover, and its backlog must not go with one answer each.
		if e.Err == "invalid_request" || e.Err == "invalid_issuer" || e.Err == "invalid_audience" {
			s.cfg.Log.Warn("the receiver refused a SET; it will not be sent again", "stream", st.ID, "jti", q.JTI,
				"err", e.Err, "description", snippet([]byte(e.Description), secrets))
			s.stats.Refused.Add(1)
			return nil
		}
	}
	return pushFailed("status", resp.StatusCode, "body", snippet(body, secrets))
}

// maxSnippet bounds how much of a receiver's answer a log line quotes.
const maxSnippet = 256

// minSecret is the shortest part of an endpoint URL taken for a secret:
// shorter ones ("v1", "ssf") are words, and redacting them would garble
// the log, not protect it.
const minSecret = 6

// pushSecrets are what a push to st carries that the log must not: the
// authorization header and its credential, and the endpoint URL's path,
// query and user information, each part of them raw and unescaped, since
// webhook URLs carry tokens in any of them. A receiver may echo any of
// them back in an error ("Cannot POST /hooks/T/B/SECRET").
func pushSecrets(st *mayfly.SSFStream, header string) []string {
	out := []string{header}
	if _, cred, ok := strings.Cut(header, " "); ok {
		out = append(out, strings.TrimSpace(cred))
	}
	if u, err := url.Parse(st.EndpointURL); err == nil {
		parts := []string{u.RawQuery, u.Path, u.EscapedPath()}
		parts = append(parts, strings.Split(u.EscapedPath(), "/")...)
		parts = append(parts, strings.Split(u.Path, "/")...)
		for _, vs := range u.Query() {
			parts = append(parts, vs...)
		}
		for _, kv := range strings.Split(u.RawQuery, "&") {
			_, v, _ := strings.Cut(kv, "=")
			parts = append(parts, v)
		}
		if u.User != nil {
			parts = append(parts, u.User.String(), u.User.Username())
			if p, ok := u.User.Password(); ok {
				parts = append(parts, p)
			}
		}
		for _, p := range parts {
			if len(p) >= minSecret {
				out = append(out, p)
			}
		}
	}
	// The longest first, so that a secret inside another goes with it.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// snippet is the start of a receiver's answer, for the log: secrets
// redacted, control characters and runs of space made one space, invalid
// UTF-8 replaced, at most maxSnippet bytes.
func snippet(body []byte, secrets []string) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	return truncate(s, maxSnippet)
}

// transportError says why a push did not reach the receiver or had no
// answer, without the request's URL, which the HTTP client's errors
// quote in full.
func transportError(err error, secrets []string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return snippet([]byte(err.Error()), secrets)
}

// sign signs SET claims with the default ring's current key.
func (s *Service) sign(ctx context.Context, claims []byte) (string, error) {
	_, raw, err := s.cfg.Keys.WithSigner(ctx, keys.DefaultRing, func(sg *keys.Signer) (string, error) {
		return sg.SignTyped("secevent+jwt", claims, s.cfg.Clock.Now())
	})
	return raw, err
}

// PollRequest is an RFC 8936 poll.
type PollRequest struct {
	MaxEvents         int
	ReturnImmediately bool
	Ack               []string
	SetErrs           map[string]mayfly.SetErr
}

// MaxPollEvents bounds the SETs one poll returns.
const MaxPollEvents = 1000

// Poll acknowledges what the receiver names and returns up to MaxEvents
// SETs, keyed by jti, and whether more are queued. If there are none and
// the receiver may wait, it waits for some, up to the configured bound.
func (s *Service) Poll(ctx context.Context, c Caller, id string, req PollRequest) (map[string]string, bool, error) {
	st, err := s.Stream(ctx, c, id)
	if err != nil {
		return nil, false, err
	}
	if st.Method != mayfly.DeliveryPoll {
		return nil, false, mayfly.Errorf(mayfly.Invalid, "stream %s delivers by push, not poll", st.ID)
	}
	if req.MaxEvents < 0 || req.MaxEvents > MaxPollEvents {
		return nil, false, mayfly.InvalidField("maxEvents", "maxEvents must be between 0 and %d", MaxPollEvents)
	}
	if len(req.Ack)+len(req.SetErrs) > MaxPollEvents {
		return nil, false, mayfly.InvalidField("ack", "at most %d SETs may be acknowledged at once", MaxPollEvents)
	}
	done := append([]string(nil), req.Ack...)
	for jti, e := range req.SetErrs {
		s.cfg.Log.Warn("the receiver could not use a SET", "stream", st.ID, "jti", truncate(jti, 64),
			"err", truncate(e.Err, 64), "description", truncate(e.Description, 256))
		done = append(done, jti)
	}
	if len(done) > 0 {
		n, err := s.cfg.Store.AckSETs(ctx, st.ID, done)
		if err != nil {
			return nil, false, err
		}
		refused := int64(min(len(req.SetErrs), n))
		s.stats.Refused.Add(refused)
		s.stats.Delivered.Add(int64(n) - refused)
	}
	if req.MaxEvents == 0 || st.Status != mayfly.SSFEnabled {
		return map[string]string{}, false, nil
	}
	deadline := time.NewTimer(s.cfg.PollWait)
	defer deadline.Stop()
	for {
		wake := s.waiter()
		if err := s.catchUp(ctx, st.ID); err != nil {
			return nil, false, err
		}
		// Every unacknowledged SET, in order: one a push deferred before
		// the stream became a poll stream too.
		sets, err := s.cfg.Store.PendingSETs(ctx, st.ID, s.cfg.Clock.Now().Add(2*maxBackoff), req.MaxEvents+1)
		if err != nil {
			return nil, false, err
		}
		if dropped, err := s.dropUnwanted(ctx, st, sets); err != nil {
			return nil, false, err
		} else if dropped {
			continue
		}
		if len(sets) > 0 || req.ReturnImmediately {
			more := len(sets) > req.MaxEvents
			sets = sets[:min(len(sets), req.MaxEvents)]
			out := make(map[string]string, len(sets))
			for _, q := range sets {
				raw, err := s.sign(ctx, q.Claims)
				if err != nil {
					return nil, false, err
				}
				out[q.JTI] = raw
			}
			return out, more, nil
		}
		// Another replica may queue events this process hears nothing
		// of; look again every round.
		t := time.NewTimer(roundEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return map[string]string{}, false, nil
		case <-deadline.C:
			t.Stop()
			return map[string]string{}, false, nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
		if st, err = s.Stream(ctx, c, id); err != nil {
			return nil, false, err
		}
		if st.Status != mayfly.SSFEnabled {
			return map[string]string{}, false, nil
		}
	}
}

// wanted reports whether st still takes q's event type: a receiver that
// narrowed events_requested gets nothing of what it dropped, even if it was
// queued before.
func wanted(st *mayfly.SSFStream, q mayfly.QueuedSET) bool {
	var cl struct {
		Events map[string]json.RawMessage `json:"events"`
	}
	if json.Unmarshal(q.Claims, &cl) != nil {
		return false
	}
	for typ := range cl.Events {
		if !delivered(st, typ) {
			return false
		}
	}
	return true
}

// dropUnwanted removes from st's queue the SETs among sets it no longer
// takes, and reports whether there were any.
func (s *Service) dropUnwanted(ctx context.Context, st *mayfly.SSFStream, sets []mayfly.QueuedSET) (bool, error) {
	var drop []string
	for _, q := range sets {
		if !wanted(st, q) {
			drop = append(drop, q.JTI)
		}
	}
	if len(drop) == 0 {
		return false, nil
	}
	n, err := s.cfg.Store.AckSETs(ctx, st.ID, drop)
	s.stats.Dropped.Add(int64(n))
	return true, err
}

// overflow disables st, whose queue would pass MaxQueue: its receiver is
// gone or stuck. What it held is dropped, and the revocations it did not
// take are passed over, as for any disabled stream.
func (s *Service) overflow(ctx context.Context, st *mayfly.SSFStream, queued int) error {
	reason := fmt.Sprintf("%d SETs were queued and not delivered; enable the stream again to receive new events", queued)
	s.cfg.Log.Error("a Shared Signals stream's queue is full; disabling it", "stream", st.ID, "owner", st.Owner, "queued", queued)
	_, err := s.setStatus(ctx, Caller{Admin: true, Actor: "mayfly"}, st.ID, mayfly.SSFDisabled, reason)
	return err
}

// catchUp converts what a stream has not yet had, so that a poll need not
// wait for the next round. It takes the lock rounds and status changes
// take, and reads the stream afresh under it: a copy read before would let
// a stream disabled meanwhile be queued into.
func (s *Service) catchUp(ctx context.Context, id string) error {
	st, err := s.cfg.Store.SSFStream(ctx, id)
	if err != nil {
		return err
	}
	if revs, _ := s.cfg.Revoker.Since(st.Cursor); len(revs) == 0 {
		return nil
	}
	unlock, err := s.cfg.Store.Lock(ctx, lockName)
	if err != nil {
		return err
	}
	defer unlock()
	if st, err = s.cfg.Store.SSFStream(ctx, id); err != nil {
		return err
	}
	_, err = s.convert(ctx, st, memo{})
	return err
}

// Reactivated tells receivers that a suspended principal is active again
// (RISC account-enabled). It first gives every stream the revocations it
// has not had, so that no receiver hears of the reactivation before the
// suspension.
func (s *Service) Reactivated(ctx context.Context, principalID string) error {
	if streams, err := s.cfg.Store.SSFStreams(ctx); err != nil || len(streams) == 0 {
		return err
	}
	unlock, err := s.cfg.Store.Lock(ctx, lockName)
	if err != nil {
		return err
	}
	defer unlock()
	// Under the lock, read every revocation made durable so far, then the
	// principal: if it was suspended again meanwhile, that suspension's
	// events are the last word, and this reactivation says nothing.
	if err := s.cfg.Revoker.Refresh(ctx); err != nil {
		return err
	}
	p, err := s.cfg.Identity.Fresh(ctx, principalID)
	if err != nil || p.Status != mayfly.Active {
		return err
	}
	streams, err := s.cfg.Store.SSFStreams(ctx)
	if err != nil {
		return err
	}
	ev := event{AccountEnabled, s.issSub(principalID), map[string]any{"event_timestamp": s.cfg.Clock.Now().Unix(), "initiating_entity": "admin"}}
	var errs []error
	queued := 0
	seen := memo{}
	for _, st := range streams {
		live, err := s.convert(ctx, st, seen)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !live || st.Status == mayfly.SSFDisabled {
			continue
		}
		sets, err := s.queued(st, "", []event{ev})
		if err == nil {
			err = s.cfg.Store.QueueSETs(ctx, st.ID, st.Cursor, st.Cursor, sets)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		queued += len(sets)
	}
	if queued > 0 {
		s.stats.Queued.Add(int64(queued))
		s.queuedHere()
	}
	return errors.Join(errs...)
}

// memo keeps the events of each revocation for one round, so that streams
// share the lookups they need.
type memo map[int64][]event

func (m memo) events(ctx context.Context, s *Service, r *mayfly.Revocation) ([]event, error) {
	if evs, ok := m[r.Seq]; ok {
		return evs, nil
	}
	evs, err := s.events(ctx, r)
	if err == nil {
		m[r.Seq] = evs
	}
	return evs, err
}
