package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/ssf"
	"github.com/prometheus/client_golang/prometheus"
)

// The Shared Signals transmitter (OpenID SSF 1.0). Receivers discover it at
// /.well-known/ssf-configuration and manage their streams with an access
// token that carries the ssf scope (a client's own streams) or an admin
// credential (every stream):
//
//	POST|GET|PATCH|PUT|DELETE /ssf/stream    stream configuration
//	GET|POST /ssf/status                     stream status
//	POST /ssf/subjects/add, /ssf/subjects/remove
//	POST /ssf/verify                         ask for a verification event
//	POST /ssf/poll/{stream_id}               RFC 8936 poll delivery
const (
	SSFConfigPath  = "/ssf/stream"
	SSFStatusPath  = "/ssf/status"
	SSFAddPath     = "/ssf/subjects/add"
	SSFRemovePath  = "/ssf/subjects/remove"
	SSFVerifyPath  = "/ssf/verify"
	SSFPollPath    = "/ssf/poll/"
	SSFScope       = "ssf"
	ssfSpecVersion = "1_0"
)

// SSFMetadata is the transmitter configuration (SSF 1.0 section 7.1).
type SSFMetadata struct {
	SpecVersion              string          `json:"spec_version"`
	Issuer                   string          `json:"issuer"`
	JWKSURI                  string          `json:"jwks_uri"`
	DeliveryMethodsSupported []string        `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string          `json:"configuration_endpoint"`
	StatusEndpoint           string          `json:"status_endpoint"`
	AddSubjectEndpoint       string          `json:"add_subject_endpoint"`
	RemoveSubjectEndpoint    string          `json:"remove_subject_endpoint"`
	VerificationEndpoint     string          `json:"verification_endpoint"`
	AuthorizationSchemes     []SSFAuthScheme `json:"authorization_schemes"`
	DefaultSubjects          string          `json:"default_subjects"`
}

// SSFAuthScheme names how receivers authorize (SSF 1.0 section 7.1.1).
type SSFAuthScheme struct {
	SpecURN string `json:"spec_urn"`
}

// SSFDelivery is a stream's delivery method. AuthorizationHeader is taken
// from receivers and never returned.
type SSFDelivery struct {
	Method              string `json:"method"`
	EndpointURL         string `json:"endpoint_url,omitempty"`
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// SSFStreamConfig is a stream's configuration as the transmitter returns it.
type SSFStreamConfig struct {
	StreamID                string      `json:"stream_id"`
	Iss                     string      `json:"iss"`
	Aud                     string      `json:"aud"`
	EventsSupported         []string    `json:"events_supported"`
	EventsRequested         []string    `json:"events_requested"`
	EventsDelivered         []string    `json:"events_delivered"`
	Delivery                SSFDelivery `json:"delivery"`
	MinVerificationInterval int         `json:"min_verification_interval"`
	Description             string      `json:"description,omitempty"`
}

// SSFStreamRequest creates, updates or replaces a stream. The
// transmitter-supplied properties a receiver may echo back are accepted
// and ignored.
type SSFStreamRequest struct {
	StreamID        string       `json:"stream_id,omitempty"`
	Delivery        *SSFDelivery `json:"delivery,omitempty"`
	EventsRequested *[]string    `json:"events_requested,omitempty"`
	Description     *string      `json:"description,omitempty"`

	Iss                     json.RawMessage `json:"iss,omitempty"`
	Aud                     json.RawMessage `json:"aud,omitempty"`
	EventsSupported         json.RawMessage `json:"events_supported,omitempty"`
	EventsDelivered         json.RawMessage `json:"events_delivered,omitempty"`
	MinVerificationInterval json.RawMessage `json:"min_verification_interval,omitempty"`
	InactivityTimeout       json.RawMessage `json:"inactivity_timeout,omitempty"`
}

// SSFStatus is a stream's status (SSF 1.0 section 8.1.2).
type SSFStatus struct {
	StreamID string           `json:"stream_id"`
	Status   mayfly.SSFStatus `json:"status"`
	Reason   string           `json:"reason,omitempty"`
}

// SSFSubjectRequest adds or removes a subject (SSF 1.0 section 8.1.3).
type SSFSubjectRequest struct {
	StreamID string         `json:"stream_id"`
	Subject  map[string]any `json:"subject"`
	Verified *bool          `json:"verified,omitempty"`
}

// SSFVerifyRequest asks for a verification event (SSF 1.0 section 8.1.4.2).
type SSFVerifyRequest struct {
	StreamID string `json:"stream_id"`
	State    string `json:"state,omitempty"`
}

// PollRequest is an RFC 8936 poll request.
type PollRequest struct {
	MaxEvents         *int                     `json:"maxEvents,omitempty"`
	ReturnImmediately bool                     `json:"returnImmediately,omitempty"`
	Ack               []string                 `json:"ack,omitempty"`
	SetErrs           map[string]mayfly.SetErr `json:"setErrs,omitempty"`
}

// PollResponse is an RFC 8936 poll response.
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable,omitempty"`
}

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
	s.ssf("POST "+SSFConfigPath, s.createSSFStream)
	s.ssf("GET "+SSFConfigPath, s.getSSFStream)
	s.ssf("PATCH "+SSFConfigPath, s.updateSSFStream)
	s.ssf("PUT "+SSFConfigPath, s.replaceSSFStream)
	s.ssf("DELETE "+SSFConfigPath, s.deleteSSFStream)
	s.ssf("GET "+SSFStatusPath, s.getSSFStatus)
	s.ssf("POST "+SSFStatusPath, s.setSSFStatus)
	s.ssf("POST "+SSFAddPath, s.ssfSubject(false))
	s.ssf("POST "+SSFRemovePath, s.ssfSubject(true))
	s.ssf("POST "+SSFVerifyPath, s.verifySSFStream)
	s.ssf("POST "+SSFPollPath+"{id}", s.pollSSF)
}

func (s *Server) ssfMetadata(w http.ResponseWriter, r *http.Request) {
	iss := s.cfg.Issuer
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, SSFMetadata{
		SpecVersion: ssfSpecVersion, Issuer: iss, JWKSURI: iss + JWKSPath,
		DeliveryMethodsSupported: []string{mayfly.DeliveryPush, mayfly.DeliveryPoll},
		ConfigurationEndpoint:    iss + SSFConfigPath, StatusEndpoint: iss + SSFStatusPath,
		AddSubjectEndpoint: iss + SSFAddPath, RemoveSubjectEndpoint: iss + SSFRemovePath,
		VerificationEndpoint: iss + SSFVerifyPath,
		AuthorizationSchemes: []SSFAuthScheme{{SpecURN: "urn:ietf:rfc:6749"}},
		DefaultSubjects:      "ALL",
	})
}

// ssf authenticates a stream manager before h runs: an admin credential,
// or an access token of this issuer, for this issuer, with the ssf scope.
func (s *Server) ssf(pattern string, h ssfHandler) {
	s.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, r, err := s.ssfCaller(r)
		if err != nil {
			s.ssfAuthError(w, r, err)
			return
		}
		if err := h(w, r, c); err != nil {
			s.jsonError(w, r, err)
		}
	})
}

func (s *Server) ssfCaller(r *http.Request) (ssf.Caller, *http.Request, error) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "stream management needs an Authorization: Bearer access token with the %q scope, or an admin credential", SSFScope)
	}
	if strings.Count(bearer, ".") != 2 { // not a JWS: an admin credential
		a, r, err := s.login(r, bearer, mayfly.RoleAdmin, "a scim credential may not manage streams")
		if err != nil {
			return ssf.Caller{}, r, err
		}
		return ssf.Caller{Admin: true, Actor: a.ID}, r, nil
	}
	cl := s.cfg.Token.Introspect(r.Context(), bearer)
	switch {
	case cl == nil:
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "the access token is not active")
	case !slices.Contains(cl.Audience, s.cfg.Issuer):
		return ssf.Caller{}, r, mayfly.Errorf(mayfly.Unauthenticated, "the access token is not for this transmitter: its audience must include %s", s.cfg.Issuer)
	case !slices.Contains(strings.Fields(cl.Scope), SSFScope):
		return ssf.Caller{}, r, &mayfly.Error{Code: mayfly.PermissionDenied, Field: "scope", Msg: "the access token lacks the " + SSFScope + " scope"}
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
		challenge += `, error="insufficient_scope", scope="` + SSFScope + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, status[code], ErrorBody{Error: code, Message: mayfly.ErrorMessage(err)})
}

func (s *Server) ssfConfig(st *mayfly.SSFStream) SSFStreamConfig {
	d := SSFDelivery{Method: st.Method, EndpointURL: st.EndpointURL}
	if st.Method == mayfly.DeliveryPoll {
		d.EndpointURL = s.cfg.Issuer + SSFPollPath + st.ID
	}
	return SSFStreamConfig{
		StreamID: st.ID, Iss: s.cfg.Issuer, Aud: st.Audience, EventsSupported: ssf.Supported,
		EventsRequested: nonNil(st.EventsRequested), EventsDelivered: nonNil(ssf.EventsDelivered(st)),
		Delivery: d, MinVerificationInterval: int(ssf.MinVerificationInterval / time.Second), Description: st.Description,
	}
}

// spec turns a request into a stream's receiver-supplied configuration,
// starting from base: PATCH keeps what the request leaves out.
func (req *SSFStreamRequest) spec(base ssf.Spec) ssf.Spec {
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
	var req SSFStreamRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID != "" {
		return mayfly.InvalidField("stream_id", "stream_id is the transmitter's to assign; leave it out")
	}
	st, err := s.cfg.SSF.Create(r.Context(), c, req.spec(ssf.Spec{Method: mayfly.DeliveryPoll}))
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
	out := make([]SSFStreamConfig, len(sts))
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
	var req SSFStreamRequest
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
	if d := req.Delivery; d != nil && d.Method == mayfly.DeliveryPoll && d.EndpointURL == s.cfg.Issuer+SSFPollPath+req.StreamID {
		d.EndpointURL = ""
	}
	st, err := s.cfg.SSF.Update(r.Context(), c, req.StreamID, func(sp *ssf.Spec) error {
		if replace {
			*sp = ssf.Spec{}
		}
		*sp = req.spec(*sp)
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
	writeJSON(w, http.StatusOK, SSFStatus{StreamID: st.ID, Status: st.Status, Reason: st.Reason})
	return nil
}

func (s *Server) setSSFStatus(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
	var req SSFStatus
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
	writeJSON(w, http.StatusOK, SSFStatus{StreamID: st.ID, Status: st.Status, Reason: st.Reason})
	return nil
}

func (s *Server) ssfSubject(remove bool) ssfHandler {
	return func(w http.ResponseWriter, r *http.Request, c ssf.Caller) error {
		var req SSFSubjectRequest
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
	var req SSFVerifyRequest
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
	var req PollRequest
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
	writeJSON(w, http.StatusOK, PollResponse{Sets: sets, MoreAvailable: more})
	return nil
}
