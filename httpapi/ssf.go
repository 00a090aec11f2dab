package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/ssf"
	"github.com/prometheus/client_golang/prometheus"
)

// The Shared Signals transmitter (OpenID SSF 1.0): its endpoints are listed
// at api.SSFConfigPath.

// ssfSpecVersion is the SSF version the transmitter implements.
const ssfSpecVersion = "1_0"

// defaultPollEvents is what a poll that names no maxEvents gets at most.
const defaultPollEvents = 100

type ssfHandler func(w http.ResponseWriter, r *http.Request, c ssf.Caller) error

func (s *Server) ssfRoutes() {
	if s.cfg.SSF == nil {
		return
	}
	st := s.cfg.SSF.Stats()
	for name, c := range map[string]*atomic.Int64{"queued": &st.Queued, "delivered": &st.Delivered, "refused": &st.Refused, "retried": &st.Retried, "dropped": &st.Dropped} {
		s.cfg.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mayfly_ssf_sets_total", Help: "Security Event Tokens by what became of them: queued, delivered, refused by the receiver, dropped undelivered, push attempts retried.",
			ConstLabels: prometheus.Labels{"result": name},
		}, func() float64 { return float64(c.Load()) }))
	}
	s.handle("GET /.well-known/ssf-configuration", s.ssfMetadata)
	s.ssf("POST "+api.SSFConfigPath, adminOnly, s.createSSFStream)
	s.ssf("GET "+api.SSFConfigPath, reading, s.getSSFStream)
	s.ssf("PATCH "+api.SSFConfigPath, adminOnly, s.updateSSFStream)
	s.ssf("PUT "+api.SSFConfigPath, adminOnly, s.replaceSSFStream)
	s.ssf("DELETE "+api.SSFConfigPath, adminOnly, s.deleteSSFStream)
	s.ssf("GET "+api.SSFStatusPath, reading, s.getSSFStatus)
	s.ssf("POST "+api.SSFStatusPath, adminOnly, s.setSSFStatus)
	s.ssf("POST "+api.SSFAddPath, adminOnly, s.ssfSubject(false))
	s.ssf("POST "+api.SSFRemovePath, adminOnly, s.ssfSubject(true))
	s.ssf("POST "+api.SSFVerifyPath, adminOnly, s.verifySSFStream)
	s.ssf("POST "+api.SSFPollPath+"{id}", adminOnly, s.pollSSF)
}

func (s *Server) ssfMetadata(w http.ResponseWriter, r *http.Request) {
	iss := s.cfg.Issuer
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, api.SSFMetadata{
		SpecVersion: ssfSpecVersion, Issuer: iss, JWKSURI: iss + api.JWKSPath,
		DeliveryMethodsSupported: []string{mayfly.DeliveryPush, mayfly.DeliveryPoll},
		ConfigurationEndpoint:    iss + api.SSFConfigPath, StatusEndpoint: iss + api.SSFStatusPath,
		AddSubjectEndpoint: iss + api.SSFAddPath, RemoveSubjectEndpoint: iss + api.SSFRemovePath,
		VerificationEndpoint: iss + api.SSFVerifyPath,
		AuthorizationSchemes: []api.SSFAuthScheme{{SpecURN: "urn:ietf:rfc:6749"}},
		DefaultSubjects:      "ALL",
	})
}

// ssf authenticates a stream manager before h runs: an admin credential
// of a role who allows, or an access token of this issuer, for this
// issuer, with the ssf scope.
func (s *Server) ssf(pattern string, who access, h ssfHandler) {
	s.declare(pattern, who)
	s.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, r, err := s.ssfCaller(r, pattern, who)
		if err != nil {
			s.ssfAuthError(w, r, err)
			return
		}
		if err := h(w, r, c); err != nil {
			s.jsonError(w, r, err)
		}
	})
}

func (s *Server) ssfCaller(r *http.Request, pattern string, who access) (ssf.Caller, *http.Request, error) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "stream management needs an Authorization: Bearer access token with the %q scope, or an admin credential", api.SSFScope)
	}
	if strings.Count(bearer, ".") != 2 { // not a JWS: an admin credential
		a, r, err := s.login(r, bearer, who.allows, func(role mayfly.Role) string { return who.denial(role, pattern) })
		if err != nil {
			return ssf.Caller{}, r, err
		}
		return ssf.Caller{Admin: true, Actor: a.ID}, r, nil
	}
	cl := s.cfg.Token.Introspect(r.Context(), bearer)
	switch {
	case cl == nil:
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "the access token is not active")
	case cl.Cnf != nil:
		// RFC 9449 section 7.1: a bound token is worth nothing without
		// its key, and here nothing checks a proof.
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "the access token is bound to a DPoP key: stream management takes bearer tokens only")
	case !slices.Contains(cl.Audience, s.cfg.Issuer):
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "the access token is not for this transmitter: its audience must include %s", s.cfg.Issuer)
	case !slices.Contains(strings.Fields(cl.Scope), api.SSFScope):
		return ssf.Caller{}, r, &mayfly.Error{Code: mayfly.PermissionDenied, Field: "scope", Msg: "the access token lacks the " + api.SSFScope + " scope"}
	}
	return ssf.Caller{ClientID: cl.ClientID, Actor: cl.ClientID}, r.WithContext(audit.WithActor(r.Context(), cl.ClientID)), nil
}

// ssfAuthError answers as RFC 6750 section 3 asks of a protected resource.
func (s *Server) ssfAuthError(w http.ResponseWriter, r *http.Request, err error) {
	code := mayfly.ErrorCode(err)
	s.logError(r, err)
	challenge := `Bearer realm="mayfly"`
	switch {
	case code == mayfly.Unauthenticated && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		challenge += `, error="invalid_token"`
	case code == mayfly.PermissionDenied:
		challenge += `, error="insufficient_scope", scope="` + api.SSFScope + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	retryAfter(w, api.Status[code], err)
	writeJSON(w, api.Status[code], api.ErrorBody{Error: code, Message: mayfly.ErrorMessage(err)})
}

func (s *Server) ssfConfig(st *mayfly.SSFStream) api.SSFStreamConfig {
	d := api.SSFDelivery{Method: st.Method, EndpointURL: st.EndpointURL}
	if st.Method == mayfly.DeliveryPoll {
		d.EndpointURL = s.cfg.Issuer + api.SSFPollPath + st.ID
	}
	return api.SSFStreamConfig{
		StreamID: st.ID, Iss: s.cfg.Issuer, Aud: st.Audience, EventsSupported: ssf.Supported,
		EventsRequested: nonNil(st.EventsRequested), EventsDelivered: nonNil(ssf.EventsDelivered(st)),
		Delivery: d, MinVerificationInterval: int(ssf.MinVerificationInterval / time.Second), Description: st.Description,
	}
}

// streamSpec turns a request into a stream's receiver-supplied
// configuration, starting from base: PATCH keeps what the request leaves out.
func streamSpec(req *api.SSFStreamRequest, base ssf.Spec) ssf.Spec {
	if d := req.Delivery; d != nil {
		keep := d.AuthorizationHeader == "" && d.Method == base.Method && d.EndpointURL == base.EndpointURL
		base.Method, base.EndpointURL = d.Method, d.EndpointURL
		if !keep {
			base.AuthorizationHeader = d.AuthorizationHeader
		}
	}
	if req.EventsRequested != nil {
		base.EventsRequested = *req.EventsRequested
	}
	if req.Description != nil {
		base.Description = *req.Description
	}
	return base
}

func (s *Server) createSSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	var req api.SSFStreamRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID != "" {
		return mayfly.InvalidField("stream_id", "stream_id is the transmitter's to assign; leave it out")
	}
	st, err := s.cfg.SSF.Create(r.Context(), c, streamSpec(&req, ssf.Spec{Method: mayfly.DeliveryPoll}))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.ssfConfig(st))
	return nil
}

func (s *Server) getSSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	if id := r.URL.Query().Get("stream_id"); id != "" {
		st, err := s.cfg.SSF.Stream(r.Context(), c, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.ssfConfig(st))
		return nil
	}
	sts, err := s.cfg.SSF.Streams(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]api.SSFStreamConfig, len(sts))
	for i, st := range sts {
		out[i] = s.ssfConfig(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateSSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	return s.editSSFStream(w, r, c, false)
}

func (s *Server) replaceSSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	return s.editSSFStream(w, r, c, true)
}

// editSSFStream is PATCH (what the request names changes) and PUT (the
// request is the whole receiver-supplied configuration).
func (s *Server) editSSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller, replace bool) error {
	var req api.SSFStreamRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID == "" {
		return mayfly.InvalidField("stream_id", "stream_id is required")
	}
	if replace && req.Delivery == nil {
		return mayfly.InvalidField("delivery", "a replacement configuration needs delivery")
	}
	// A receiver may send back the configuration it read, poll URL and all.
	if d := req.Delivery; d != nil && d.Method == mayfly.DeliveryPoll && d.EndpointURL == s.cfg.Issuer+api.SSFPollPath+req.StreamID {
		d.EndpointURL = ""
	}
	st, err := s.cfg.SSF.Update(r.Context(), c, req.StreamID, func(sp *ssf.Spec) error {
		if replace {
			*sp = ssf.Spec{}
		}
		*sp = streamSpec(&req, *sp)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.ssfConfig(st))
	return nil
}

func (s *Server) deleteSSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	id := r.URL.Query().Get("stream_id")
	if id == "" {
		return mayfly.InvalidField("stream_id", "stream_id is required")
	}
	if err := s.cfg.SSF.Delete(r.Context(), c, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getSSFStatus(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	id := r.URL.Query().Get("stream_id")
	if id == "" {
		return mayfly.InvalidField("stream_id", "stream_id is required")
	}
	st, err := s.cfg.SSF.Stream(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.SSFStatus{StreamID: st.ID, Status: st.Status, Reason: st.Reason})
	return nil
}

func (s *Server) setSSFStatus(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	var req api.SSFStatus
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID == "" {
		return mayfly.InvalidField("stream_id", "stream_id is required")
	}
	st, err := s.cfg.SSF.SetStatus(r.Context(), c, req.StreamID, req.Status, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.SSFStatus{StreamID: st.ID, Status: st.Status, Reason: st.Reason})
	return nil
}

func (s *Server) ssfSubject(remove bool) ssfHandler {
	return func(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
		var req api.SSFSubjectRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.StreamID == "" {
			return mayfly.InvalidField("stream_id", "stream_id is required")
		}
		if req.Subject == nil {
			return mayfly.InvalidField("subject", "subject is required")
		}
		if err := s.cfg.SSF.Exclude(r.Context(), c, req.StreamID, req.Subject, remove); err != nil {
			return err
		}
		if remove {
			w.WriteHeader(http.StatusNoContent)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		return nil
	}
}

func (s *Server) verifySSFStream(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	var req api.SSFVerifyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID == "" {
		return mayfly.InvalidField("stream_id", "stream_id is required")
	}
	if err := s.cfg.SSF.Verify(r.Context(), c, req.StreamID, req.State); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pollSSF(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	var req api.PollRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	max := defaultPollEvents
	if req.MaxEvents != nil {
		max = *req.MaxEvents
	}
	if !req.ReturnImmediately {
		// A long poll may outlast the server's write timeout.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.SSF.PollWait() + 10*time.Second))
	}
	// A long poll ends when the server shuts down, not after it.
	if !req.ReturnImmediately {
		s.polls.Add(1)
		defer s.polls.Add(-1)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	sets, more, err := s.cfg.SSF.Poll(ctx, c, r.PathValue("id"), ssf.PollRequest{
		MaxEvents: max, ReturnImmediately: req.ReturnImmediately, Ack: req.Ack, SetErrs: req.SetErrs})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PollResponse{Sets: sets, MoreAvailable: more})
	return nil
}
