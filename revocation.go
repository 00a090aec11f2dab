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
	CauseSuspended     Cause = "suspended"      // the principal was suspended
	CauseOffboarded    Cause = "offboarded"     // the principal, or its owner, was offboarded
	CauseSecretRotated Cause = "secret_rotated" // the client's secret was replaced
)
