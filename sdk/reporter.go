package sdk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reporting defaults and bounds.
const (
	// DefaultFlushInterval is also the longest FlushInterval allowed: the
	// ledger's alerts promise to fire within a second of a request.
	DefaultFlushInterval     = 250 * time.Millisecond
	DefaultHeartbeatInterval = time.Second
	DefaultMaxReports        = 100_000
	DefaultMaxRecords        = 10_000_000
	DefaultRetryFor          = 10 * time.Second

	eventsPath    = "/v1/ledger/events"
	heartbeatPath = "/v1/ledger/heartbeat"
	// A batch stays well under the ledger's default bounds (10,000 lines,
	// 16 MiB), so that one post is never refused as too large.
	maxBatchLines = 5_000
	maxBatchBytes = 4 << 20
	// attemptTimeout bounds one post, whatever the HTTP client's Timeout.
	attemptTimeout = 5 * time.Second
	// maxLineRetries bounds how many refused lines are taken out of one
	// batch before the rest is given up.
	maxLineRetries = 16
)

// ReporterConfig configures a Reporter. Fields left empty are taken from
// the Verifier given to NewReporter.
type ReporterConfig struct {
	// Service names the reporting service as Mayfly knows it: the name or
	// ID of the principal that owns ClientID. Required.
	Service string
	// URL is Mayfly's base URL; "" means the verifier's issuer.
	URL string
	// ClientID and ClientSecret are the service's own Mayfly client, which
	// may report for its own service only. "" means the verifier's.
	ClientID, ClientSecret string
	// HTTPClient sends reports; nil means the verifier's.
	HTTPClient *http.Client
	// FlushInterval is how often buffered reports are sent: at most, and by
	// default, DefaultFlushInterval.
	FlushInterval time.Duration
	// HeartbeatInterval is how often the reporter tells Mayfly how far its
	// verifier's revocation feed has got and what it dropped, even when no
	// request arrives. Zero means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// MaxReports and MaxRecords bound the buffer: requests, and record IDs
	// in them. A request that would go past either is dropped, and counted.
	// Zero means DefaultMaxReports and DefaultMaxRecords.
	MaxReports, MaxRecords int
	// RetryFor bounds how long a batch that Mayfly did not take is retried,
	// with backoff, before it is dropped and counted: no attempt starts
	// after it, and each attempt takes at most 5 s. Zero means
	// DefaultRetryFor.
	RetryFor time.Duration
	// SourceIP returns a request's source address, for a service behind a
	// proxy it trusts; nil means the address of RemoteAddr, and the
	// unspecified address "::" where that has none.
	SourceIP func(*http.Request) netip.Addr
	// Logger gets failed sends and drops; nil means the verifier's.
	Logger *slog.Logger
}

// Reporter sends the access ledger a report of every request a Middleware
// accepted or refused: the token's claims and digest (never the token),
// the service, the source address, the method and route, the time, and
// the record IDs the handler read (see Read), never the records.
//
// Reports wait in a bounded buffer and are sent in batches, as JSON Lines,
// to POST {URL}/v1/ledger/events, at least every FlushInterval, by one
// goroutine of the reporter's own: recording a request is a few appends
// under a lock, and never waits for the network. When the buffer is full
// a report is dropped and counted; a batch Mayfly does not take within
// RetryFor is dropped and counted too. Heartbeats, to POST
// {URL}/v1/ledger/heartbeat, carry that count, so that the ledger records
// where it is incomplete. Both authenticate with HTTP Basic as the
// service's client.
//
// A Reporter is safe for concurrent use. Close it when the service stops.
type Reporter struct {
	cfg     ReporterConfig
	v       *Verifier
	log     *slog.Logger
	hc      *http.Client
	clock   func() time.Time
	start   time.Time
	events  string
	beat    string
	auth    string // the Authorization header: never logged
	service []byte // the service as a JSON string

	mu        sync.Mutex
	buf       []report
	ids       []uint64 // the record IDs of buf's reports
	spans     []span   // and their namespaces
	spare     buffer   // the last flush's, to reuse
	closed    bool
	dropped   int64 // reports dropped and not yet told in a heartbeat
	dropSince int64 // Clock time, Unix nanoseconds, of the first of them

	badReads atomic.Int64 // Read calls with a namespace the ledger refuses

	wake     chan struct{}
	flushReq chan chan error
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once

	// The flusher's own.
	enc  encoder
	body []byte
	ends []int
}

// NewReporter starts a reporter for the service of cfg. v, the service's
// verifier, lends it what cfg leaves empty, and its revocation feed's
// position for heartbeats; v may be nil if cfg names the URL and client.
func NewReporter(v *Verifier, cfg ReporterConfig) (*Reporter, error) {
	if v != nil {
		if cfg.URL == "" {
			cfg.URL = v.cfg.Issuer
		}
		if cfg.ClientID == "" && cfg.ClientSecret == "" {
			cfg.ClientID, cfg.ClientSecret = v.cfg.ClientID, v.cfg.ClientSecret
		}
		if cfg.HTTPClient == nil {
			cfg.HTTPClient = v.hc
		}
		if cfg.Logger == nil {
			cfg.Logger = v.log
		}
	}
	switch {
	case cfg.Service == "" || !fits(cfg.Service, 128):
		return nil, errors.New("sdk: ReporterConfig.Service must name the service, in 1 to 128 bytes of text")
	case cfg.URL == "":
		return nil, errors.New("sdk: ReporterConfig.URL is required without a verifier")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("sdk: reporting needs the service's ClientID and ClientSecret")
	case cfg.FlushInterval > DefaultFlushInterval:
		return nil, fmt.Errorf("sdk: ReporterConfig.FlushInterval is %s, more than %s", cfg.FlushInterval, DefaultFlushInterval)
	case cfg.FlushInterval < 0 || cfg.HeartbeatInterval < 0 || cfg.MaxReports < 0 || cfg.MaxRecords < 0 || cfg.RetryFor < 0:
		return nil, errors.New("sdk: a ReporterConfig bound is negative")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, errors.New("sdk: ReporterConfig.URL is not a URL")
	}
	cfg.FlushInterval = orDuration(cfg.FlushInterval, DefaultFlushInterval)
	cfg.HeartbeatInterval = orDuration(cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	cfg.RetryFor = orDuration(cfg.RetryFor, DefaultRetryFor)
	if cfg.MaxReports == 0 {
		cfg.MaxReports = DefaultMaxReports
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	r := &Reporter{cfg: cfg, v: v, log: cfg.Logger, hc: cfg.HTTPClient, clock: time.Now,
		wake: make(chan struct{}, 1), flushReq: make(chan chan error), stop: make(chan struct{}), done: make(chan struct{})}
	if v != nil {
		r.clock = v.cfg.Clock
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.hc == nil {
		r.hc = &http.Client{Timeout: attemptTimeout}
	}
	base := strings.TrimSuffix(cfg.URL, "/")
	r.events, r.beat = base+eventsPath, base+heartbeatPath
	// RFC 6749 section 2.3.1, as at the token endpoint.
	cred := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
	r.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
	r.service = appendString(nil, cfg.Service)
	r.enc.service = append([]byte(`,"service":`), r.service...)
	r.start = r.clock()
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// sourceIP is where req came from, as cfg.SourceIP says.
func (r *Reporter) sourceIP(req *http.Request) netip.Addr {
	if r.cfg.SourceIP != nil {
		return r.cfg.SourceIP(req)
	}
	if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
		return ap.Addr()
	}
	if a, err := netip.ParseAddr(req.RemoteAddr); err == nil {
		return a
	}
	return netip.IPv6Unspecified()
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// buffer is what a flush takes from the Reporter at once.
type buffer struct {
	reports []report
	ids     []uint64
	spans   []span
}

// add buffers rep, with the reads in s, or drops and counts it. It never
// waits but for the buffer's lock, and gives s back to the pool.
func (r *Reporter) add(rep report, s *slab) {
	defer putSlab(s)
	n := s.len()
	r.mu.Lock()
	if r.closed || len(r.buf) >= r.cfg.MaxReports || len(r.ids)+n > r.cfg.MaxRecords {
		r.dropLocked(1, rep.when)
		r.mu.Unlock()
		return
	}
	if n > 0 {
		rep.ids = [2]int{len(r.ids), len(r.ids) + n}
		rep.spans = [2]int{len(r.spans), len(r.spans) + len(s.spans)}
		r.ids = append(r.ids, s.ids...)
		r.spans = append(r.spans, s.spans...)
	}
	r.buf = append(r.buf, rep)
	wake := len(r.buf)%maxBatchLines == 0
	r.mu.Unlock()
	if wake {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (r *Reporter) dropLocked(n int64, since int64) {
	r.dropped += n
	if r.dropSince == 0 || since < r.dropSince {
		r.dropSince = since
	}
}

func (r *Reporter) drop(n int64, since int64) {
	r.mu.Lock()
	r.dropLocked(n, since)
	r.mu.Unlock()
}

// Flush sends what is buffered, and a heartbeat, and returns when both
// are done: nil if Mayfly took everything.
func (r *Reporter) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.flushReq <- reply:
	case <-r.done:
		return errors.New("sdk: the reporter is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking reports, sends what is buffered and a last heartbeat,
// and stops. When ctx ends first it abandons the sends and returns
// ctx.Err(). Reports made after Close are dropped.
func (r *Reporter) Close(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.stop)
	})
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.cancel()
		<-r.done
		return ctx.Err()
	}
}

// run is the flusher: it alone encodes and sends.
func (r *Reporter) run() {
	defer close(r.done)
	defer r.cancel()
	tick := time.NewTicker(r.cfg.FlushInterval)
	defer tick.Stop()
	var lastBeat time.Time // real time
	for {
		var reply chan error
		final := false
		select {
		case <-tick.C:
		case <-r.wake:
		case reply = <-r.flushReq:
		case <-r.stop:
			final = true
		}
		err := r.flush()
		if reply != nil || final || time.Since(lastBeat) >= r.cfg.HeartbeatInterval || r.pendingDrops() {
			err = errors.Join(err, r.heartbeat())
			lastBeat = time.Now()
		}
		if reply != nil {
			reply <- err
		}
		if final {
			return
		}
	}
}

func (r *Reporter) pendingDrops() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped > 0
}

// flush sends everything buffered, in batches.
func (r *Reporter) flush() error {
	if n := r.badReads.Swap(0); n > 0 {
		r.log.Warn("sdk: record IDs read in a namespace that is not 1 to 64 of a-z, 0-9, _ and - were not reported", "calls", n)
	}
	r.mu.Lock()
	taken := buffer{r.buf, r.ids, r.spans}
	r.buf, r.ids, r.spans = r.spare.reports, r.spare.ids, r.spare.spans
	r.spare = buffer{}
	r.mu.Unlock()
	batch := taken.reports

	var errs error
	body, ends := r.body[:0], r.ends[:0]
	var first int64 // the earliest report in the batch
	sendBatch := func() {
		if len(ends) > 0 {
			errs = errors.Join(errs, r.send(body, ends, first))
		}
		body, ends, first = body[:0], ends[:0], 0
	}
	for i := range batch {
		rep := &batch[i]
		reads := slab{ids: taken.ids[rep.ids[0]:rep.ids[1]], spans: taken.spans[rep.spans[0]:rep.spans[1]]}
		var ok bool
		if body, ok = r.enc.appendReport(body, rep, &reads); !ok {
			r.drop(1, rep.when)
		} else {
			for at := lastEnd(ends); at < len(body); { // an end per line appended
				at += bytes.IndexByte(body[at:], '\n') + 1
				ends = append(ends, at)
			}
			if first == 0 || rep.when < first {
				first = rep.when
			}
		}
		if len(ends) >= maxBatchLines || len(body) >= maxBatchBytes {
			sendBatch()
		}
	}
	sendBatch()
	if cap(body) <= 2*maxBatchBytes {
		r.body, r.ends = body, ends
	}
	clear(batch)
	clear(taken.spans)
	r.mu.Lock()
	r.spare = buffer{batch[:0], taken.ids[:0], taken.spans[:0]}
	r.mu.Unlock()
	return errs
}

func lastEnd(ends []int) int {
	if len(ends) == 0 {
		return 0
	}
	return ends[len(ends)-1]
}

// send posts a batch of lines, ending at ends, retrying within RetryFor.
// What Mayfly does not take is dropped, counted from first.
func (r *Reporter) send(body []byte, ends []int, first int64) error {
	deadline := time.Now().Add(r.cfg.RetryFor)
	removed := 0
	for attempt := 0; ; attempt++ {
		status, desc, err := r.post(r.events, "application/x-ndjson", body)
		switch {
		case err == nil && status == http.StatusOK:
			return nil
		case err == nil && status == http.StatusBadRequest:
			// Malformed lines refuse the whole batch, and the answer names
			// the first: take it out and send the rest.
			n, ok := badLine(desc)
			if !ok || n > len(ends) || len(ends) == 1 || removed == maxLineRetries {
				r.drop(int64(len(ends)), first)
				return fmt.Errorf("sdk: Mayfly refused a batch of %d reports: %s", len(ends), desc)
			}
			r.log.Warn("sdk: Mayfly refused a report; sending its batch without it", "reason", desc)
			from, to := 0, ends[n-1]
			if n > 1 {
				from = ends[n-2]
			}
			body = append(body[:from], body[to:]...)
			for k := n; k < len(ends); k++ {
				ends[k] -= to - from
			}
			ends = append(ends[:n-1], ends[n:]...)
			r.drop(1, first)
			removed++
			attempt = -1
			continue
		case err == nil && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout && status < 500:
			// Retrying cannot help: wrong credentials, a service not the
			// client's, or a Mayfly without the ledger.
			r.drop(int64(len(ends)), first)
			return fmt.Errorf("sdk: Mayfly answered %d to a batch of %d reports: %s", status, len(ends), desc)
		}
		if err == nil {
			err = fmt.Errorf("status %d: %s", status, desc)
		}
		wait := backoff(attempt)
		if time.Now().Add(wait).After(deadline) || !r.sleep(wait) {
			r.drop(int64(len(ends)), first)
			return fmt.Errorf("sdk: dropped a batch of %d reports after %d attempts: %w", len(ends), attempt+1, err)
		}
	}
}

// sleep waits d, or until the reporter is abandoned (false).
func (r *Reporter) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// badLine reads the line number from an answer such as "line 3: records: ...".
func badLine(desc string) (int, bool) {
	rest, ok := strings.CutPrefix(desc, "line ")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	return n, err == nil && n > 0
}

// heartbeat tells Mayfly the verifier's revocation feed position and what
// was dropped since the last heartbeat it took.
func (r *Reporter) heartbeat() error {
	r.mu.Lock()
	dropped, since := r.dropped, r.dropSince
	r.mu.Unlock()
	now := r.clock()
	var seq, ageMS int64
	if r.v != nil {
		seq = r.v.Seq()
		fresh := r.v.fresh.Load()
		if fresh == 0 {
			fresh = r.start.UnixNano() // never current: stale since start
		}
		ageMS = max(now.UnixNano()-fresh, 0) / int64(time.Millisecond)
	}
	b := append([]byte(`{"service":`), r.service...)
	b = append(b, `,"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","revocation_seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"revocation_age_ms":`...)
	b = strconv.AppendInt(b, ageMS, 10)
	if dropped > 0 {
		b = append(b, `,"dropped":`...)
		b = strconv.AppendInt(b, dropped, 10)
		b = append(b, `,"dropped_since":"`...)
		b = time.Unix(0, since).UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, '}')

	deadline := time.Now().Add(r.cfg.RetryFor)
	for attempt := 0; ; attempt++ {
		status, desc, err := r.post(r.beat, "application/json", b)
		switch {
		case err == nil && (status == http.StatusNoContent || status == http.StatusOK):
			r.mu.Lock()
			if r.dropped -= dropped; r.dropped == 0 {
				r.dropSince = 0
			}
			r.mu.Unlock()
			return nil
		case err == nil && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout && status < 500:
			return fmt.Errorf("sdk: Mayfly answered %d to a heartbeat: %s", status, desc)
		}
		if err == nil {
			err = fmt.Errorf("status %d: %s", status, desc)
		}
		// The count stays for the next heartbeat.
		wait := backoff(attempt)
		if time.Now().Add(wait).After(deadline) || !r.sleep(wait) {
			return fmt.Errorf("sdk: heartbeat not sent after %d attempts: %w", attempt+1, err)
		}
	}
}

// post sends body and returns the status and, for an error, its
// error_description. Its errors never hold the credentials, which travel
// only in the Authorization header.
func (r *Reporter) post(url, contentType string, body []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(r.ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", r.auth)
	req.Header.Set("Content-Type", contentType)
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, "", nil
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	desc := http.StatusText(resp.StatusCode)
	if json.Unmarshal(msg, &e) == nil && (e.Description != "" || e.Error != "") {
		desc = e.Description
		if desc == "" {
			desc = e.Error
		}
	}
	if len(desc) > 200 {
		desc = desc[:200]
	}
	return resp.StatusCode, desc, nil
}
