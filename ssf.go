package mayfly

import "time"

// Shared Signals (OpenID SSF 1.0) delivery methods.
const (
	DeliveryPush = "urn:ietf:rfc:8935" // the transmitter POSTs each SET to the receiver
	DeliveryPoll = "urn:ietf:rfc:8936" // the receiver polls the transmitter
)

// SSFStatus is whether a stream delivers events (SSF 1.0 section 8.1.2).
type SSFStatus string

const (
	SSFEnabled SSFStatus = "enabled" // events are queued and delivered
	// SSFPaused queues events but delivers none until enabled again.
	SSFPaused SSFStatus = "paused"
	// SSFDisabled neither queues nor delivers; what was queued is dropped.
	SSFDisabled SSFStatus = "disabled"
)

// Valid reports whether s is a stream status.
func (s SSFStatus) Valid() bool { return s == SSFEnabled || s == SSFPaused || s == SSFDisabled }

// SSFStream is a Shared Signals event stream to one receiver.
type SSFStream struct {
	ID string
	// Owner is the client that manages the stream; empty if an admin
	// credential created it. Only the owner or an admin may see it.
	Owner    string
	Audience string // the SETs' aud
	Method   string // DeliveryPush or DeliveryPoll
	// EndpointURL is where pushed SETs go; empty for poll streams.
	EndpointURL string
	// AuthorizationHeader is sent with each pushed SET. It is the
	// receiver's secret: stored sealed under the root key, never shown.
	AuthorizationHeader string `json:"-"`
	// EventsRequested are event-type URIs; empty means every supported one.
	EventsRequested []string
	Description     string
	// Excluded holds the subjects removed from the stream, each as its
	// canonical JSON; events about them are not queued.
	Excluded []string
	Status   SSFStatus
	Reason   string // why the status was last set
	// Cursor is the last revocation turned into this stream's events.
	Cursor    int64
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// QueuedSET is a Security Event Token waiting for delivery. It is stored
// unsigned and signed when delivered, so that a key rotating while it waits
// cannot leave it signed by a key receivers no longer trust.
type QueuedSET struct {
	StreamID    string
	JTI         string
	Claims      []byte // the SET's JSON claims
	CreatedAt   time.Time
	Attempts    int       // failed push deliveries so far
	NextAttempt time.Time // not delivered before this
}

// SetErr is a receiver's report that it could not use a SET: a value of
// an RFC 8936 poll's setErrs, keyed there by the SET's jti.
type SetErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}
