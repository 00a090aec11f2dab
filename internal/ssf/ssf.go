// Package ssf is Mayfly's OpenID Shared Signals (SSF 1.0) transmitter. It
// turns revocations into Security Event Tokens (RFC 8417): CAEP
// session-revoked and credential-change, RISC account-disabled. It keeps a
// queue per stream and delivers it by push (RFC 8935) or to a receiver that
// polls (RFC 8936).
//
// # Invariants
//
//   - Each revocation becomes a stream's events once: the write that queues
//     them moves the stream's cursor only from where this process read it
//     (Store.QueueSETs), so replicas racing on one stream convert it once.
//   - Delivery is at least once: a SET leaves its queue only when the
//     receiver acknowledged it (push: a 2xx; poll: ack or setErrs), or
//     refused it for good (push: 400).
//   - SETs are signed when delivered, by the signing key current then, with
//     typ secevent+jwt so that no verifier can take one for an access token.
//   - A stream is visible only to its owner and to admins; to anyone else
//     it does not exist. A push stream's authorization header is never
//     logged or returned.
package ssf

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/seal"
)

// Limits on what a receiver may configure.
const (
	// MaxQueue is the most SETs a stream may hold undelivered. A stream
	// that reaches it is disabled: its receiver is gone or stuck, and the
	// queue must not grow without end.
	MaxQueue           = 10000
	MaxStreamsPerOwner = 16
	maxDescription     = 256
	maxEventsRequested = 32
	maxURL             = 2048
	maxAuthHeader      = 4096
	// MinVerificationInterval is the least time between two verification
	// requests on a stream.
	MinVerificationInterval = 5 * time.Second
)

// Store is what the transmitter keeps and reads in the store: streams and
// their queues, the lock rounds take turns under, and what a revocation's
// SETs say about its subject.
type Store interface {
	mayfly.SSFStore
	mayfly.Coordinator
	Principal(ctx context.Context, idOrName string) (*mayfly.Principal, error)
	Client(ctx context.Context, id string) (*mayfly.Client, error)
	Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error)
	RefreshFamily(ctx context.Context, id string) (*mayfly.RefreshFamily, error)
}

// Config configures a Service.
type Config struct {
	Store    Store
	Revoker  *revoke.Service
	Identity *identity.Service
	Keys     *keys.Service
	Audit    mayfly.Updater // every change of a stream commits through it, with its entry
	// Sealer seals push authorization headers at rest; CanSeal, if set,
	// says whether it may seal now (see keys.Config.CanSeal).
	Sealer  *seal.Sealer
	CanSeal func(context.Context) error
	Issuer  string
	Clock   mayfly.Clock
	Rand    io.Reader
	Log     *slog.Logger
	// HTTP pushes SETs; the default times out after 10 s and follows no
	// redirects.
	HTTP *http.Client
	// AllowHTTP lets push endpoints be plain http:// URLs, and lets
	// clients' streams reach loopback and private addresses, for
	// development and tests. Without it endpoints must be https, and only
	// streams an admin made may reach a private address.
	AllowHTTP bool
	// PollWait bounds how long a poll that asked to wait is held open
	// (default 15 s, under the server's write timeout).
	PollWait time.Duration
	// MaxQueue overrides MaxQueue, for tests.
	MaxQueue int
}

// Service manages streams and delivers their events.
type Service struct {
	cfg Config

	mu       sync.Mutex
	wake     chan struct{}        // closed, and replaced, when SETs were queued here
	verified map[string]time.Time // stream -> last verification request
	kick     chan struct{}
	pushing  map[string]bool // streams being pushed by this process
	pushed   *sync.Cond      // on mu: signalled when a push ends
	next     int             // where the next round starts pushing
	public   *http.Client    // for clients' streams: public addresses only

	stats Stats
}

// Stats count SETs through their life, for metrics.
type Stats struct {
	Queued    atomic.Int64 // queued for a receiver
	Delivered atomic.Int64 // pushed and accepted, or acknowledged by a poll
	Refused   atomic.Int64 // refused by the receiver (push 400, poll setErrs)
	Retried   atomic.Int64 // push attempts that failed and will be retried
	Dropped   atomic.Int64 // dropped undelivered: stream disabled or full, event type no longer requested
}

// Stats returns the service's counters.
func (s *Service) Stats() *Stats { return &s.stats }

// New returns a Service; Run delivers.
func New(cfg Config) *Service {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.HTTP == nil {
		cfg.HTTP = pushClient(nil)
	}
	if cfg.PollWait == 0 {
		cfg.PollWait = 15 * time.Second
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = MaxQueue
	}
	s := &Service{cfg: cfg, wake: make(chan struct{}), verified: map[string]time.Time{}, kick: make(chan struct{}, 1),
		pushing: map[string]bool{}, public: pushClient(publicOnly)}
	s.pushed = sync.NewCond(&s.mu)
	return s
}

// pushClient follows no redirects: the receiver's URL, and its secret, go
// nowhere else. control, if set, vets each address dialed.
func pushClient(control func(network, address string, c syscall.RawConn) error) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: control}
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: true},
	}
}

// publicOnly refuses to connect to an address that is not public. It runs
// after name resolution, so a name that resolves to a private address (or
// is made to, later) reaches nothing inside.
func publicOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !public(ip) {
		return fmt.Errorf("ssf: push endpoint address %s is not public", host)
	}
	return nil
}

// special lists the IANA special-purpose blocks (RFC 6890 and its
// updates) that IsGlobalUnicast and IsPrivate let through.
var special = prefixes(
	"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
	"203.0.113.0/24", "240.0.0.0/4", "100::/64", "2001::/23", "2001:db8::/32", "fec0::/10",
	"64:ff9b:1::/48", // local-use NAT64 (RFC 8215): where it puts the IPv4 address is the operator's choice
)

// embedding lists IPv6 blocks that carry an IPv4 address in their low 32
// bits (NAT64, IPv4-compatible) and 6to4, which carries it in bits 16-47:
// the IPv4 address is what is reached, so it is checked in turn.
var nat64 = prefixes("64:ff9b::/96", "::/96")
var sixToFour = netip.MustParsePrefix("2002::/16")

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		for _, p := range nat64 {
			if p.Contains(ip) {
				return public(netip.AddrFrom4([4]byte(b[12:16])))
			}
		}
		if sixToFour.Contains(ip) {
			return public(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// client is the HTTP client that pushes st: admins' streams may reach
// internal receivers, clients' streams only public ones.
func (s *Service) client(st *mayfly.SSFStream) *http.Client {
	if st.Owner == "" || s.cfg.AllowHTTP {
		return s.cfg.HTTP
	}
	return s.public
}

// PollWait is the longest a poll waits for events.
func (s *Service) PollWait() time.Duration { return s.cfg.PollWait }

// Caller is who manages streams: an admin, who sees every stream, or a
// client holding an access token with the ssf scope, who sees its own.
type Caller struct {
	Admin    bool
	ClientID string
	Actor    string // for the audit log
}

// Spec is what a receiver configures of a stream (SSF 1.0 section 8.1.1:
// the receiver-supplied properties).
type Spec struct {
	Method              string
	EndpointURL         string
	AuthorizationHeader string
	EventsRequested     []string
	Description         string
}

// check vets a configuration for a stream with the given owner: only an
// admin's stream (no owner) may push to an internal address.
func (s *Service) check(sp *Spec, owner string) error {
	switch sp.Method {
	case mayfly.DeliveryPush:
		if err := s.checkEndpoint(sp.EndpointURL, owner == "" || s.cfg.AllowHTTP); err != nil {
			return err
		}
		// No control characters: HTTP clients refuse to send them (RFC 9110
		// section 5.5), so such a stream could never deliver.
		if len(sp.AuthorizationHeader) > maxAuthHeader || strings.ContainsFunc(sp.AuthorizationHeader, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return mayfly.InvalidField("delivery.authorization_header", "authorization_header must be one line of at most %d bytes, without control characters", maxAuthHeader)
		}
	case mayfly.DeliveryPoll:
		if sp.EndpointURL != "" {
			return mayfly.InvalidField("delivery.endpoint_url", "a poll stream's endpoint_url is the transmitter's to set; leave it out")
		}
		if sp.AuthorizationHeader != "" {
			return mayfly.InvalidField("delivery.authorization_header", "authorization_header is for push delivery only")
		}
	case "":
		return mayfly.InvalidField("delivery.method", "delivery.method is required: %s (push) or %s (poll)", mayfly.DeliveryPush, mayfly.DeliveryPoll)
	default:
		return mayfly.InvalidField("delivery.method", "delivery method %q is not supported; use %s (push) or %s (poll)", truncate(sp.Method, 64), mayfly.DeliveryPush, mayfly.DeliveryPoll)
	}
	if len(sp.EventsRequested) > maxEventsRequested {
		return mayfly.InvalidField("events_requested", "at most %d event types may be requested", maxEventsRequested)
	}
	for _, e := range sp.EventsRequested {
		if u, err := url.Parse(e); err != nil || !u.IsAbs() || len(e) > maxURL {
			return mayfly.InvalidField("events_requested", "event type %q is not an absolute URI", truncate(e, 64))
		}
	}
	if err := mayfly.CheckText("description", sp.Description, maxDescription); err != nil {
		return err
	}
	return nil
}

func (s *Service) checkEndpoint(raw string, private bool) error {
	const field = "delivery.endpoint_url"
	if raw == "" {
		return mayfly.InvalidField(field, "a push stream needs delivery.endpoint_url, where SETs are sent")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > maxURL || !u.IsAbs() || u.Host == "":
		return mayfly.InvalidField(field, "endpoint_url must be an absolute URL of at most %d bytes", maxURL)
	case u.Scheme != "https" && !(u.Scheme == "http" && s.cfg.AllowHTTP):
		return mayfly.InvalidField(field, "endpoint_url must be https")
	case u.User != nil:
		return mayfly.InvalidField(field, "endpoint_url must not carry credentials; use authorization_header")
	case u.Fragment != "":
		return mayfly.InvalidField(field, "endpoint_url must not have a fragment")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !private && !public(ip) {
		return mayfly.InvalidField(field, "endpoint_url must be a public address; only an admin's stream may push to an internal one")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Create makes a stream. It starts enabled, at the newest revocation:
// receivers are told of what happens from now on.
func (s *Service) Create(ctx context.Context, c Caller, sp Spec) (*mayfly.SSFStream, error) {
	owner := c.ClientID
	if c.Admin {
		owner = ""
	}
	if err := s.check(&sp, owner); err != nil {
		return nil, err
	}
	if !c.Admin {
		// Count and create under one lock, or concurrent creates could
		// each see room for one more.
		unlock, err := s.cfg.Store.Lock(ctx, lockName+".create."+c.ClientID)
		if err != nil {
			return nil, err
		}
		defer unlock()
		all, err := s.cfg.Store.SSFStreams(ctx)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, st := range all {
			if st.Owner == c.ClientID {
				n++
			}
		}
		if n >= MaxStreamsPerOwner {
			return nil, mayfly.Errorf(mayfly.Conflict, "this client has %d streams, the most it may have; delete one first", n)
		}
	}
	id, err := s.jti()
	if err != nil {
		return nil, err
	}
	id = "ssf_" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(id))
	now := s.cfg.Clock.Now().UTC()
	st := &mayfly.SSFStream{ID: id, Owner: c.ClientID, Status: mayfly.SSFEnabled, Cursor: s.cfg.Revoker.Seq(), CreatedAt: now, UpdatedAt: now}
	if c.Admin {
		st.Owner = ""
	}
	st.Audience = c.ClientID
	if st.Audience == "" {
		st.Audience = s.cfg.Issuer + "/ssf/streams/" + id
	}
	if err := s.apply(ctx, st, sp); err != nil {
		return nil, err
	}
	err = s.cfg.Audit.Update(audit.WithActor(ctx, c.Actor), func(tx mayfly.Tx) error {
		if err := s.cfg.Store.CreateSSFStream(tx, st); err != nil {
			return err
		}
		return record(tx, mayfly.ActionSSFStreamCreated, st, nil)
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("ssf stream created", "stream", st.ID, "owner", st.Owner, "method", st.Method)
	return st, nil
}

// apply sets st's configuration to sp, sealing the authorization header.
func (s *Service) apply(ctx context.Context, st *mayfly.SSFStream, sp Spec) error {
	st.Method, st.EndpointURL = sp.Method, sp.EndpointURL
	st.EventsRequested, st.Description = slices.Clone(sp.EventsRequested), sp.Description
	sealed, err := s.sealHeader(ctx, st.ID, sp.AuthorizationHeader)
	st.AuthorizationHeader = sealed
	return err
}

// spec is st's receiver-supplied configuration, its header opened.
func (s *Service) spec(st *mayfly.SSFStream) (Spec, error) {
	h, err := s.header(st)
	return Spec{Method: st.Method, EndpointURL: st.EndpointURL, AuthorizationHeader: h,
		EventsRequested: slices.Clone(st.EventsRequested), Description: st.Description}, err
}

// A push stream's authorization header is stored sealed under the root
// key, bound to its stream, in this textual form.
const sealedPrefix = "sealed:"

func headerAAD(streamID string) []byte { return []byte("mayfly ssf authorization header " + streamID) }

func (s *Service) sealHeader(ctx context.Context, streamID, h string) (string, error) {
	if h == "" {
		return "", nil
	}
	if s.cfg.CanSeal != nil {
		if err := s.cfg.CanSeal(ctx); err != nil {
			return "", err
		}
	}
	blob, err := s.cfg.Sealer.Seal(s.cfg.Rand, []byte(h), headerAAD(streamID))
	if err != nil {
		return "", mayfly.E("ssf.sealHeader", err)
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(blob), nil
}

// header opens st's authorization header.
func (s *Service) header(st *mayfly.SSFStream) (string, error) {
	return openHeader(s.cfg.Sealer, st)
}

func openHeader(sealer *seal.Sealer, st *mayfly.SSFStream) (string, error) {
	if st.AuthorizationHeader == "" {
		return "", nil
	}
	blob, err := headerBlob(st)
	if err != nil {
		return "", err
	}
	h, err := sealer.Open(blob, headerAAD(st.ID))
	if err != nil {
		return "", mayfly.E("ssf.header", fmt.Errorf("stream %s: the authorization header does not open: %w", st.ID, err))
	}
	return string(h), nil
}

func headerBlob(st *mayfly.SSFStream) ([]byte, error) {
	enc, ok := strings.CutPrefix(st.AuthorizationHeader, sealedPrefix)
	if !ok {
		return nil, mayfly.E("ssf.header", fmt.Errorf("stream %s: the authorization header is not sealed", st.ID))
	}
	blob, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return nil, mayfly.E("ssf.header", fmt.Errorf("stream %s: the sealed authorization header is malformed", st.ID))
	}
	return blob, nil
}

// Reseal seals every stream's authorization header again under sealer's
// current root key, as a root key rotation needs. A header that no longer
// opens (sealed under a root key already gone) is cleared and its stream
// disabled, saying why: one such stream must not stop the rotation, and
// its owner can set the header again. It is a function, not a method: a
// rotation interrupted before a restart finishes before any Service exists.
// A header sealed anew is no change for the audit log; a stream disabled is.
func Reseal(ctx context.Context, store mayfly.SSFStore, up mayfly.Updater, sealer *seal.Sealer, rand io.Reader) error {
	streams, err := store.SSFStreams(ctx)
	if err != nil {
		return err
	}
	for _, st := range streams {
		for try := 0; st.AuthorizationHeader != ""; try++ {
			if blob, err := headerBlob(st); err == nil && sealer.Current(blob) {
				break
			}
			if h, err := openHeader(sealer, st); err == nil {
				blob, err := sealer.Seal(rand, []byte(h), headerAAD(st.ID))
				if err != nil {
					return mayfly.E("ssf.Reseal", err)
				}
				st.AuthorizationHeader = sealedPrefix + base64.RawStdEncoding.EncodeToString(blob)
			} else {
				st.AuthorizationHeader, st.Status = "", mayfly.SSFDisabled
				st.Reason = "the push authorization header could not be opened after a root key rotation; set it again and enable the stream"
			}
			err := up.Update(audit.WithActor(ctx, "mayfly"), func(tx mayfly.Tx) error {
				if err := store.UpdateSSFStream(tx, st); err != nil || st.Status != mayfly.SSFDisabled {
					return err
				}
				return record(tx, mayfly.ActionSSFStreamStatus, st, map[string]string{"status": string(st.Status), "reason": st.Reason})
			})
			if errors.Is(err, mayfly.ErrNotFound) {
				break // deleted meanwhile
			}
			if errors.Is(err, mayfly.ErrConflict) && try < 5 {
				if st, err = store.SSFStream(ctx, st.ID); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if st.Status == mayfly.SSFDisabled {
				if err := dropQueue(ctx, store, st.ID, uncounted); err != nil {
					return err
				}
			}
			break
		}
	}
	return nil
}

// record records a change of st in tx.
func record(tx mayfly.Tx, action mayfly.Action, st *mayfly.SSFStream, extra map[string]string) error {
	d := map[string]string{"stream": st.ID, "owner": st.Owner, "method": st.Method}
	if st.EndpointURL != "" {
		if u, err := url.Parse(st.EndpointURL); err == nil {
			d["endpoint_host"] = u.Host
		}
	}
	for k, v := range extra {
		d[k] = v
	}
	_, err := tx.Audit(mayfly.AuditEntry{Action: action, Details: d})
	return err
}

// Stream returns a stream the caller may see.
func (s *Service) Stream(ctx context.Context, c Caller, id string) (*mayfly.SSFStream, error) {
	st, err := s.cfg.Store.SSFStream(ctx, id)
	if err == nil && !c.Admin && st.Owner != c.ClientID {
		err = mayfly.ErrNotFound
	}
	if errors.Is(err, mayfly.ErrNotFound) {
		return nil, mayfly.Errorf(mayfly.NotFound, "no stream %q", truncate(id, 64))
	}
	return st, err
}

// Streams returns the streams the caller may see, oldest first.
func (s *Service) Streams(ctx context.Context, c Caller) ([]*mayfly.SSFStream, error) {
	all, err := s.cfg.Store.SSFStreams(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(st *mayfly.SSFStream) bool { return !c.Admin && st.Owner != c.ClientID }), nil
}

// Update changes a stream's configuration with edit, which sees the
// current one, retrying if another writer got there first.
func (s *Service) Update(ctx context.Context, c Caller, id string, edit func(*Spec) error) (*mayfly.SSFStream, error) {
	return s.change(ctx, c, id, mayfly.ActionSSFStreamUpdated, func(st *mayfly.SSFStream) (map[string]string, error) {
		sp, err := s.spec(st)
		if err != nil {
			// Let the update set a new header; the old one is lost.
			s.cfg.Log.Warn("a stream's push authorization header does not open; it is cleared by this update", "stream", st.ID, "err", err)
		}
		if err := edit(&sp); err != nil {
			return nil, err
		}
		if err := s.check(&sp, st.Owner); err != nil {
			return nil, err
		}
		return nil, s.apply(ctx, st, sp)
	})
}

// change applies fn to the stream as stored, and stores it, retrying
// on a concurrent change.
func (s *Service) change(ctx context.Context, c Caller, id string, action mayfly.Action, fn func(*mayfly.SSFStream) (map[string]string, error)) (*mayfly.SSFStream, error) {
	for try := 0; ; try++ {
		st, err := s.Stream(ctx, c, id)
		if err != nil {
			return nil, err
		}
		details, err := fn(st)
		if err != nil {
			return nil, err
		}
		st.UpdatedAt = s.cfg.Clock.Now().UTC()
		err = s.cfg.Audit.Update(audit.WithActor(ctx, c.Actor), func(tx mayfly.Tx) error {
			if err := s.cfg.Store.UpdateSSFStream(tx, st); err != nil {
				return err
			}
			return record(tx, action, st, details)
		})
		if errors.Is(err, mayfly.ErrConflict) && try < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.poke()
		return st, nil
	}
}

// Delete deletes a stream and what it has queued.
func (s *Service) Delete(ctx context.Context, c Caller, id string) error {
	st, err := s.Stream(ctx, c, id)
	if err != nil {
		return err
	}
	err = s.cfg.Audit.Update(audit.WithActor(ctx, c.Actor), func(tx mayfly.Tx) error {
		if err := s.cfg.Store.DeleteSSFStream(tx, id); err != nil {
			return err
		}
		return record(tx, mayfly.ActionSSFStreamDeleted, st, nil)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.verified, id)
	s.mu.Unlock()
	return nil
}

// SetStatus enables, pauses or disables a stream. Disabling drops what it
// has queued. A receiver told of a change it did not make itself gets a
// stream-updated event.
func (s *Service) SetStatus(ctx context.Context, c Caller, id string, status mayfly.SSFStatus, reason string) (*mayfly.SSFStream, error) {
	if !status.Valid() {
		return nil, mayfly.InvalidField("status", "status must be enabled, paused or disabled")
	}
	if err := mayfly.CheckText("reason", reason, maxDescription); err != nil {
		return nil, err
	}
	// Under the lock conversion runs under, so that no round still holding
	// the stream as enabled can queue into it once it is disabled.
	unlock, err := s.cfg.Store.Lock(ctx, lockName)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// What was revoked before the change goes by the status it was
	// revoked under: a disabled stream must not get, once enabled, what
	// happened while it was disabled, whether or not a round had got to it.
	if err := s.cfg.Revoker.Refresh(ctx); err != nil {
		return nil, err
	}
	if st, err := s.cfg.Store.SSFStream(ctx, id); err == nil {
		if _, err := s.convert(ctx, st, memo{}); err != nil {
			return nil, err
		}
	}
	return s.setStatus(ctx, c, id, status, reason)
}

func (s *Service) setStatus(ctx context.Context, c Caller, id string, status mayfly.SSFStatus, reason string) (*mayfly.SSFStream, error) {
	var was mayfly.SSFStatus
	st, err := s.change(ctx, c, id, mayfly.ActionSSFStreamStatus, func(st *mayfly.SSFStream) (map[string]string, error) {
		was = st.Status
		st.Status, st.Reason = status, reason
		return map[string]string{"status": string(status), "was": string(was), "reason": reason}, nil
	})
	if err != nil {
		return nil, err
	}
	if status == mayfly.SSFDisabled && was != mayfly.SSFDisabled {
		if err := s.drop(ctx, st.ID); err != nil {
			return nil, err
		}
	}
	if status != mayfly.SSFDisabled && status != was && (c.Admin && st.Owner != "") {
		body := map[string]any{"status": string(status)}
		if reason != "" {
			body["reason"] = reason
		}
		if err := s.queueAbout(ctx, st, StreamUpdated, body); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// drop empties a stream's queue.
func (s *Service) drop(ctx context.Context, id string) error {
	return dropQueue(ctx, s.cfg.Store, id, &s.stats.Dropped)
}

// uncounted counts what a drop outside any Service drops.
var uncounted = new(atomic.Int64)

// afterAll is a time after every SET's NextAttempt.
var afterAll = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// dropQueue empties a stream's queue, deferred SETs too, counting them.
func dropQueue(ctx context.Context, store mayfly.SSFStore, id string, dropped *atomic.Int64) error {
	for {
		sets, err := store.PendingSETs(ctx, id, afterAll, 500)
		if err != nil || len(sets) == 0 {
			return err
		}
		jtis := make([]string, len(sets))
		for i, q := range sets {
			jtis[i] = q.JTI
		}
		n, err := store.AckSETs(ctx, id, jtis)
		dropped.Add(int64(n))
		if err != nil {
			return err
		}
	}
}

// Exclude removes a subject from a stream (remove=true), or adds it back.
// Every subject is in a stream unless removed.
func (s *Service) Exclude(ctx context.Context, c Caller, id string, subject map[string]any, remove bool) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	key := canonical(subject)
	if len(key) > maxSubject {
		return mayfly.InvalidField("subject", "subject is longer than %d bytes", maxSubject)
	}
	action := map[bool]mayfly.Action{true: mayfly.ActionSSFSubjectRemoved, false: mayfly.ActionSSFSubjectAdded}[remove]
	_, err := s.change(ctx, c, id, action, func(st *mayfly.SSFStream) (map[string]string, error) {
		has := slices.Contains(st.Excluded, key)
		switch {
		case remove && !has:
			if len(st.Excluded) >= maxExcluded {
				return nil, mayfly.Errorf(mayfly.Conflict, "a stream may have at most %d subjects removed", maxExcluded)
			}
			st.Excluded = append(st.Excluded, key)
		case !remove && has:
			st.Excluded = slices.DeleteFunc(st.Excluded, func(k string) bool { return k == key })
		}
		return map[string]string{"format": subject["format"].(string)}, nil
	})
	return err
}

// Bounds on removed subjects: each stream keeps its list in one record.
const (
	maxExcluded = 1000
	maxSubject  = 1024
)

// checkSubject accepts an RFC 9493 subject identifier of a format it knows,
// or a complex subject made of them (SSF 1.0 section 3.2).
func checkSubject(sub map[string]any) error {
	return checkSubjectIn(sub, true)
}

func checkSubjectIn(sub map[string]any, top bool) error {
	const field = "subject"
	format, _ := sub["format"].(string)
	need := map[string][]string{
		"account": {"uri"}, "email": {"email"}, "iss_sub": {"iss", "sub"}, "opaque": {"id"},
		"phone_number": {"phone_number"}, "did": {"url"}, "uri": {"uri"},
	}
	if format == "complex" && top {
		n := 0
		for k, v := range sub {
			if k == "format" {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return mayfly.InvalidField(field, "complex subject member %q must be a subject identifier", truncate(k, 32))
			}
			if err := checkSubjectIn(m, false); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return mayfly.InvalidField(field, "a complex subject needs at least one member")
		}
		return nil
	}
	members, ok := need[format]
	if !ok {
		return mayfly.InvalidField(field, "subject format %q is not one this transmitter knows", truncate(format, 32))
	}
	if len(sub) != len(members)+1 {
		return mayfly.InvalidField(field, "a %s subject has exactly the members format, %s", format, strings.Join(members, ", "))
	}
	for _, m := range members {
		if v, ok := sub[m].(string); !ok || v == "" || len(v) > maxURL {
			return mayfly.InvalidField(field, "a %s subject needs a non-empty string %q", format, m)
		}
	}
	return nil
}

// Verify queues a verification event carrying state, so the receiver can
// check the stream end to end (SSF 1.0 section 8.1.4).
func (s *Service) Verify(ctx context.Context, c Caller, id, state string) error {
	st, err := s.Stream(ctx, c, id)
	if err != nil {
		return err
	}
	if err := mayfly.CheckText("state", state, maxDescription); err != nil {
		return err
	}
	if st.Status == mayfly.SSFDisabled {
		return mayfly.Errorf(mayfly.Conflict, "stream %s is disabled; enable it to verify it", st.ID)
	}
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	last, ok := s.verified[id]
	if ok && now.Sub(last) < MinVerificationInterval {
		s.mu.Unlock()
		return &mayfly.Error{Code: mayfly.RateLimited, RetryAfter: MinVerificationInterval - now.Sub(last),
			Msg: fmt.Sprintf("verification was requested less than %s ago", MinVerificationInterval)}
	}
	s.verified[id] = now
	s.mu.Unlock()
	body := map[string]any{}
	if state != "" {
		body["state"] = state
	}
	return s.queueAbout(ctx, st, Verification, body)
}

// queueAbout queues an event about the stream itself, whose subject is
// the stream (SSF 1.0 section 8.1.4.1).
func (s *Service) queueAbout(ctx context.Context, st *mayfly.SSFStream, typ string, body map[string]any) error {
	if n, err := s.cfg.Store.SSFQueueLength(ctx, st.ID); err != nil {
		return err
	} else if n >= s.cfg.MaxQueue {
		return mayfly.Errorf(mayfly.Conflict, "stream %s holds %d undelivered SETs, the most it may; receive them first", st.ID, n)
	}
	sets, err := s.queued(st, "", []event{{typ, Subject{"format": "opaque", "id": st.ID}, body}})
	if err != nil {
		return err
	}
	if err := s.cfg.Store.QueueSETs(ctx, st.ID, st.Cursor, st.Cursor, sets); err != nil {
		return err
	}
	s.stats.Queued.Add(int64(len(sets)))
	s.queuedHere()
	return nil
}

// endpointHost is for logs: where a stream pushes, without path or query.
func endpointHost(st *mayfly.SSFStream) string {
	u, err := url.Parse(st.EndpointURL)
	if err != nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(u.Host); err == nil {
		return h
	}
	return u.Host
}
