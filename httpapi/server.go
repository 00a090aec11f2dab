// Package httpapi serves Mayfly over HTTP: the OAuth2 endpoints (token,
// introspection, revocation, discovery, JWKS), the admin API the CLI uses,
// health, readiness and metrics, the last three also on an ops handler of
// their own, and mounts the web console (package console) at /console. It
// and the console are the only packages that know HTTP statuses. The bodies it
// reads and writes, and the paths it serves them at, are package api's,
// which clients import instead of this one.
//
// # Invariants
//
//   - Handlers return errors; one table maps error codes to statuses. The
//     client sees the error's safe message, the log sees its cause.
//   - Request bodies are size-limited before they are read.
//   - No response carries private key material or a stored secret hash; a
//     client secret appears once, in the response that created it.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/httpapi/console"
	"github.com/mayflyhq/mayfly/internal/alert"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/doctor"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/mayflyhq/mayfly/internal/offboard"
	"github.com/mayflyhq/mayfly/internal/pending"
	"github.com/mayflyhq/mayfly/internal/refresh"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/scim"
	"github.com/mayflyhq/mayfly/internal/scope"
	"github.com/mayflyhq/mayfly/internal/ssf"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/sdk/dpop"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxBodySize bounds every request body.
const MaxBodySize = 64 << 10

// Config configures a Server.
type Config struct {
	Issuer   string
	Keys     *keys.Service
	Identity *identity.Service
	Token    *token.Service
	// Refresh rotates refresh tokens; nil offers none.
	Refresh  *refresh.Service
	Audit    *audit.Log
	Offboard *offboard.Service
	Revoker  *revoke.Service
	// SSF is the Shared Signals transmitter; nil serves none.
	SSF *ssf.Service
	// StreamHeartbeat is the revocation stream's heartbeat interval;
	// zero means HeartbeatEvery.
	StreamHeartbeat time.Duration
	Doctor          *doctor.Service
	Clock           mayfly.Clock
	Log             *slog.Logger
	Registry        *prometheus.Registry
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// SCIM decides what provisioning requests do.
	SCIM *scim.Service
	// Pending holds what waits for an administrator's decision.
	Pending *pending.Service
	// Alerts keeps and changes alerts; nil serves no alert routes.
	Alerts *alert.Service
	// Rules are the detection rules as configured, for the console.
	Rules []detect.RuleSetting
	// Limits are the lockouts after failed authentications and the bound
	// on expensive requests; nil limits nothing.
	Limits *limit.Limits
	// Ready reports whether the server can do its work, for /readyz; its
	// error's message is shown to the caller. Nil is always ready.
	Ready func(context.Context) error
	// The access ledger: the ingest of reports, the check of the raw
	// tokens they carry, and the store the admin routes read. A nil
	// Ingest serves no ledger routes.
	Ingest       *ledger.Ingest
	TokenChecker *ledger.TokenChecker
	LedgerStore  mayfly.LedgerStore
	// Scope answers scope queries over the ledger; nil serves no scope
	// routes.
	Scope *scope.Service
	// SeparateOps serves /metrics only from Ops, the handler of a
	// listener of its own, and not from the API's.
	SeparateOps bool
	// DPoPReplayCacheSize bounds the DPoP proofs the token endpoint
	// remembers, of confidential and of public clients each; zero means
	// dpop.DefaultReplayCacheSize.
	DPoPReplayCacheSize int
}

// Server is Mayfly's HTTP handler.
type Server struct {
	cfg       Config
	closing   chan struct{} // closed by Shutdown
	closeOnce sync.Once
	mux       *http.ServeMux
	ops       *http.ServeMux // what Ops serves
	routes    []Route        // who may call what (see Routes)
	dpop      *dpop.Checker  // the token endpoint's DPoP proofs
	// dpopPublic remembers public clients' proofs apart: anyone may name a
	// public client, so a flood of proofs under fresh keys in its name
	// fills this memory, not the one confidential clients need.
	dpopPublic *dpop.Checker
	issued     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	// ledgerRefused counts refused report batches and heartbeats.
	ledgerRefused *prometheus.CounterVec
	// What is being served, for the shutdown's log (see Open).
	requests, streams, polls atomic.Int64
	// The services that reported to the ledger, for the console.
	reportersMu sync.Mutex
	reporters   map[string]console.Reporter
	// The open revocation streams, for the console.
	subsMu sync.Mutex
	subs   map[*subscriber]struct{}
}

// Open is what a Server is serving at a moment.
type Open struct {
	Requests int64 // every request under way, streams and polls included
	Streams  int64 // revocation streams
	Polls    int64 // Shared Signals long polls
}

// Open says what s is serving now.
func (s *Server) Open() Open {
	return Open{Requests: s.requests.Load(), Streams: s.streams.Load(), Polls: s.polls.Load()}
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	if cfg.Limits == nil {
		cfg.Limits = &limit.Limits{}
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), closing: make(chan struct{}), dpop: dpop.New(dpop.Config{Clock: cfg.Clock.Now, ReplayCacheSize: cfg.DPoPReplayCacheSize}),
		dpopPublic: dpop.New(dpop.Config{Clock: cfg.Clock.Now, ReplayCacheSize: cfg.DPoPReplayCacheSize})}
	s.issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mayfly_token_requests_total", Help: "Token endpoint requests by outcome (OAuth error code or ok).",
	}, []string{"result"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mayfly_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"route"})
	cfg.Registry.MustRegister(s.issued, s.latency)
	s.limitMetrics()

	// /healthz and /readyz answer on both listeners: a load balancer
	// in front of the API may probe them too.
	metrics := promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	s.handle("GET "+api.HealthzPath, healthz)
	s.handle("GET "+api.ReadyzPath, s.readyz)
	if !cfg.SeparateOps {
		s.mux.Handle("GET "+api.MetricsPath, metrics)
	}
	s.ops = http.NewServeMux()
	s.ops.HandleFunc("GET "+api.HealthzPath, healthz)
	s.ops.HandleFunc("GET "+api.ReadyzPath, s.readyz)
	s.ops.Handle("GET "+api.MetricsPath, metrics)
	s.ops.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.jsonError(w, r, mayfly.Errorf(mayfly.NotFound, "no route for %s %s on the ops listener", r.Method, r.URL.Path))
	})
	s.oauthRoutes()
	s.adminRoutes()
	s.auditRoutes()
	s.scimRoutes()
	s.streamRoutes()
	s.ssfRoutes()
	s.doctorRoutes()
	s.pendingRoutes()
	s.ledgerRoutes()
	s.scopeRoutes()
	s.alertRoutes()
	s.consoleRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.jsonError(w, r, mayfly.Errorf(mayfly.NotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	return s
}

// Ops is the handler of the ops listener: /healthz, /readyz and /metrics.
func (s *Server) Ops() http.Handler { return s.ops }

// Starting is the ops listener's handler while the server starts: alive,
// not yet ready, and no metrics yet.
func Starting() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.HealthzPath, healthz)
	mux.HandleFunc("GET "+api.ReadyzPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, api.Readiness{Reason: "starting"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, api.ErrorBody{Error: mayfly.Unavailable, Message: "the server is starting"})
	})
	return mux
}

// healthz is the liveness check: the process answers.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok\n"))
}

// readyz is the readiness check: 503 with the reason while the server
// cannot do its work.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, api.Readiness{Reason: mayfly.ErrorMessage(err)})
			return
		}
	}
	writeJSON(w, http.StatusOK, api.Readiness{Ready: true})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	defer s.requests.Add(-1)
	limit := int64(MaxBodySize)
	if r.URL.Path == api.LedgerEventsPath {
		limit = ledger.DefaultBatchBytes + 1 // the parser refuses the byte past its bound
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	s.mux.ServeHTTP(w, r)
}

// handle registers a route and times it under its pattern.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	obs := s.latency.WithLabelValues(pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h(w, r)
		obs.Observe(time.Since(start).Seconds())
	})
}

func (s *Server) jsonError(w http.ResponseWriter, r *http.Request, err error) {
	code := mayfly.ErrorCode(err)
	s.logError(r, err)
	body := api.ErrorBody{Error: code, Message: mayfly.ErrorMessage(err)}
	var me *mayfly.Error
	if errors.As(err, &me) {
		body.Field = me.Field
	}
	if code == mayfly.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mayfly"`)
	}
	retryAfter(w, api.Status[code], err)
	writeJSON(w, api.Status[code], body)
}

func (s *Server) logError(r *http.Request, err error) {
	level := slog.LevelDebug
	// A client that hung up mid-request fails the wait for what it asked
	// for; that is its doing, not the server's.
	gone := r.Context().Err() != nil && errors.Is(err, context.Canceled)
	if mayfly.ErrorCode(err) == mayfly.Internal && !gone {
		level = slog.LevelError
	}
	s.cfg.Log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal","message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// decode reads a JSON request body into v, refusing unknown fields.
// noBody refuses a request with a body on a route that takes none: what
// a caller sent would otherwise be ignored without a word.
func noBody(h adminHandler) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
		if n, _ := r.Body.Read(make([]byte, 1)); n > 0 {
			return mayfly.Errorf(mayfly.Invalid, "%s %s takes no request body", r.Method, r.URL.Path)
		}
		return h(w, r, a)
	}
}

func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return mayfly.Errorf(mayfly.Invalid, "content type must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return mayfly.Errorf(mayfly.Invalid, "request body exceeds %d bytes", MaxBodySize)
		}
		return mayfly.Errorf(mayfly.Invalid, "request body is not valid JSON for this endpoint: %v", err)
	}
	if dec.More() {
		return mayfly.Errorf(mayfly.Invalid, "request body holds more than one JSON value")
	}
	return nil
}
