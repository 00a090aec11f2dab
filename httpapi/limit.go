package httpapi

// The limits (internal/limit) at the endpoints: every check of a client's
// credentials and of an admin or SCIM bearer credential runs under the
// lockouts, and the expensive requests under the bound.
//
//   - A lockout answers 429 with Retry-After. At the OAuth endpoints its
//     error code is temporarily_unavailable: what it says is "try later",
//     which client libraries treat as retryable (oauthlib raises
//     TemporarilyUnavailableError; golang.org/x/oauth2's RetrieveError
//     carries the code and the response with its Retry-After).
//     invalid_client would tell a client holding the right secret that
//     its secret is wrong, and an operator to replace it.
//   - The bound on expensive requests answers 503 with Retry-After
//     (temporarily_unavailable at the OAuth endpoints): the server is
//     busy, which is not the caller's doing; 429 would blame it.

import (
	"net/http"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/limit"
	"github.com/prometheus/client_golang/prometheus"
)

// guardClient runs auth, one check of the credentials of the client that
// claims id, under the lockouts: it is refused before auth runs while id
// or r's source address backs off; a failure counts against both, a
// success resets both. An empty id (no credentials) counts against the
// address alone.
func (s *Server) guardClient(r *http.Request, id string, auth func() error) error {
	lim := s.cfg.Limits
	addr := limit.AddressKey(s.sourceIP(r))
	if err := lim.Address.Check(addr); err != nil {
		return err
	}
	if id != "" {
		if err := lim.Client.Check(id); err != nil {
			return err
		}
	}
	err := auth()
	switch mayfly.ErrorCode(err) {
	case "":
		if id != "" {
			lim.Client.Succeed(id)
		}
		lim.Address.Succeed(addr)
	case mayfly.Unauthenticated:
		if id != "" {
			lim.Client.Fail(id)
		}
		lim.Address.Fail(addr)
	}
	return err
}

// guardAdmin runs auth, one check of an admin or SCIM bearer credential,
// under the lockout by source address. The credential is a random token
// that names no ID, so there is nothing else to key on.
func (s *Server) guardAdmin(r *http.Request, auth func() error) error {
	lim := s.cfg.Limits
	addr := limit.AddressKey(s.sourceIP(r))
	if err := lim.Admin.Check(addr); err != nil {
		return err
	}
	err := auth()
	switch mayfly.ErrorCode(err) {
	case "":
		lim.Admin.Succeed(addr)
	case mayfly.Unauthenticated:
		lim.Admin.Fail(addr)
	}
	return err
}

// expensive runs h within the bound on expensive requests: the admin
// requests whose cost grows with the store. On a store of 3,000 people,
// 3,000 clients and 20,000 tokens (BenchmarkAdminReads) an audit export
// took about 3 s, a verification 0.13 s, an audit search or token list of
// 10,000 rows 55-95 ms, the client or principal list or the doctor report
// 12-24 ms; a lookup of one thing stays under a millisecond, and is not
// bounded.
func (s *Server) expensive(what string, h adminHandler) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, a *mayfly.AdminCredential) error {
		g := s.cfg.Limits.Expensive
		if err := g.Acquire(r.Context(), what); err != nil {
			return err
		}
		defer g.Release()
		return h(w, r, a)
	}
}

// retryAfter sets Retry-After (RFC 9110 section 10.2.3, whole seconds) on
// every 429, and on a 503 whose error says when to try again.
func retryAfter(w http.ResponseWriter, status int, err error) {
	d := mayfly.RetryAfter(err)
	switch {
	case status == http.StatusTooManyRequests:
		d = max(d, time.Second)
	case status != http.StatusServiceUnavailable || d <= 0:
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(limit.Seconds(d)))
}

// limitMetrics registers the limits' counters.
func (s *Server) limitMetrics() {
	reg, lim := s.cfg.Registry, s.cfg.Limits
	counter := func(name, help string, labels prometheus.Labels, v func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v()) }))
	}
	gauge := func(name, help string, labels prometheus.Labels, v func() int64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v()) }))
	}
	for _, l := range []*limit.Lockout{lim.Client, lim.Address, lim.Admin} {
		if l == nil {
			continue
		}
		kind := prometheus.Labels{"kind": l.Kind()}
		st := l.Stats()
		counter("mayfly_auth_failures_total", "Failed authentications counted by the lockouts, by what they are keyed on: client (ID), address (clients' failures by source address), admin (admin and SCIM credentials' failures by source address).",
			kind, st.Failures.Load)
		counter("mayfly_auth_lockouts_total", "Lockouts started: a client ID or a source address made to back off after consecutive failed authentications.",
			kind, st.Lockouts.Load)
		counter("mayfly_requests_refused_total", "Requests refused by a limit: a lockout (client, address, admin) or the bound on expensive requests (expensive).",
			prometheus.Labels{"limit": l.Kind()}, st.Refused.Load)
		gauge("mayfly_auth_lockout_keys", "Client IDs and source addresses a lockout tracks now (bounded).",
			kind, func() int64 { return int64(l.Entries()) })
	}
	if g := lim.Expensive; g != nil {
		st := g.Stats()
		counter("mayfly_requests_refused_total", "Requests refused by a limit: a lockout (client, address, admin) or the bound on expensive requests (expensive).",
			prometheus.Labels{"limit": "expensive"}, st.Refused.Load)
		gauge("mayfly_expensive_in_flight", "Expensive requests (RSA signatures, audit exports and verifications, admin lists that grow with the store) running now.", nil, st.InFlight.Load)
		gauge("mayfly_expensive_waiting", "Expensive requests waiting for a slot.", nil, st.Waiting.Load)
		gauge("mayfly_expensive_limit", "The most expensive requests that run at once.", nil, func() int64 { return int64(g.Size()) })
	}
}
