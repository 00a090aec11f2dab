package mayfly

import "time"

// RevocationKind names what a revocation withdraws.
type RevocationKind string

const (
	RevokeToken     RevocationKind = "jti"
	RevokeClient    RevocationKind = "client"
	RevokeKey       RevocationKind = "kid"
	RevokePrincipal RevocationKind = "principal"
	// RevokeNotBefore sets a not-before mark on a principal or client:
	// every token for it issued before At (to the millisecond) is rejected.
	RevokeNotBefore RevocationKind = "nbf"
	// RevokeSuspend holds every token of a principal or client, whenever
	// issued, until a RevokeResume of the same subject with a higher Seq.
	// A suspension writes one for everything it stops.
	RevokeSuspend RevocationKind = "suspend"
	// RevokeResume lifts a hold, and is a not-before mark at At: tokens
	// minted while the subject was held, with copied key material, stay
	// rejected.
	RevokeResume RevocationKind = "resume"
	// RevokeSubject is a not-before mark on a token subject (its sub),
	// such as a customer: every access token for it issued before At, and
	// every refresh family of it begun before At, is rejected. It is how a
	// customer is logged out everywhere.
	RevokeSubject RevocationKind = "sub"
	// RevokeNamespace is a not-before mark on every subject of a namespace
	// (Subject "customer" covers every sub "customer:..."): one event, not
	// one per token, logs every customer out.
	RevokeNamespace RevocationKind = "ns"
	// RevokeSession revokes a refresh token family and every access token
	// it produced (their sid claim).
	RevokeSession RevocationKind = "sid"
)

// Revocation withdraws a token, client, key or principal. Revocations are
// numbered in the order they became durable.
type Revocation struct {
	Seq     int64          `json:"seq"`
	Kind    RevocationKind `json:"kind"`
	Subject string         `json:"subject"`
	// Until is when the revocation stops mattering (a token's expiry); zero
	// means never.
	Until  time.Time `json:"until,omitzero"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
	// Cause says what led to the revocation, for those who act on it,
	// such as Shared Signals receivers; empty for a direct revocation.
	Cause Cause `json:"cause,omitempty"`
}

// Cause is what led to a revocation.
type Cause string

const (
	CauseSuspended      Cause = "suspended"       // the principal was suspended
	CauseOwnerSuspended Cause = "owner_suspended" // the principal's or client's owner, or theirs, was suspended
	CauseOffboarded     Cause = "offboarded"      // the principal, or its owner, was offboarded
	CauseSecretRotated  Cause = "secret_rotated"  // the client's secret was replaced
)
