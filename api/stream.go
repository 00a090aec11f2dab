package api

import (
	"time"

	"github.com/mayflyhq/mayfly"
)

// The revocation stream: what verifiers subscribe to, as Server-Sent Events.
//
//	GET /v1/revocations/stream    (client credentials with HTTP Basic, or an admin bearer)
//	Last-Event-ID: 41             (or ?after=41: resume after what the verifier holds)
//
// The response first sends every revocation that still matters and is
// numbered above the resume point, then "ready" with the sequence number the
// verifier now stands at, then each revocation as it becomes durable, and a
// heartbeat every few seconds (httpapi.HeartbeatEvery). Every revocation
// event carries its sequence number as its id, so a verifier that
// reconnects with the last id it saw misses nothing:
//
//	id: 42
//	event: revocation
//	data: {"seq":42,"kind":"jti","subject":"...","until":"...","at":"..."}
//
//	event: ready
//	data: {"seq":42}
//
//	event: heartbeat
//	data: {"seq":42,"time":"..."}
//
// The kinds are mayfly.RevocationKind's. All but two only add to what is
// withdrawn; a suspend hold is lifted by a resume of the same subject with
// a higher sequence number, so a verifier keeps, per subject, the newest.
const StreamPath = "/v1/revocations/stream"

// RevocationEvent is a revocation as the stream sends it: without its
// reason, which is for the audit log, not for every verifier.
type RevocationEvent struct {
	Seq     int64                 `json:"seq"`
	Kind    mayfly.RevocationKind `json:"kind"`
	Subject string                `json:"subject"`
	Until   time.Time             `json:"until,omitzero"`
	At      time.Time             `json:"at"`
}

// StreamStatus is the data of ready and heartbeat events.
type StreamStatus struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time,omitzero"`
}
