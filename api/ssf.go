package api

import (
	"encoding/json"

	"github.com/mayflyhq/mayfly"
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
	SSFConfigPath = "/ssf/stream"
	SSFStatusPath = "/ssf/status"
	SSFAddPath    = "/ssf/subjects/add"
	SSFRemovePath = "/ssf/subjects/remove"
	SSFVerifyPath = "/ssf/verify"
	SSFPollPath   = "/ssf/poll/"
	// SSFScope is the scope an access token needs to manage streams.
	SSFScope = "ssf"
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
