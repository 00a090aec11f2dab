// Package mayfly holds Mayfly's domain: principals, clients, signing keys,
// issuance records and revocations, the storage contract every backend
// fulfils, and the one error type used across the service.
//
// # Invariants
//
// Types here carry no policy. Who may do what, how keys rotate and when a
// token is valid live in the services under internal/. Secret material never
// marshals: fields holding it are tagged `json:"-"`.
//
// This package imports only the standard library.
package mayfly

import "time"

// Clock tells the time. Services take one so that expiry and rotation can be
// tested without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Fixed lifetimes the whole service relies on.
const (
	// DefaultTokenTTL is an access token's lifetime unless its client says otherwise.
	DefaultTokenTTL = 5 * time.Minute
	// MaxTokenTTL is the ceiling on any access token's lifetime. A retiring
	// key stays published this long after it last signed.
	MaxTokenTTL = time.Hour
	// DefaultKeyLifetime is how long a key signs before the next takes over.
	DefaultKeyLifetime = 24 * time.Hour
	// MinKeyLifetime keeps rotation from outrunning verifiers' JWKS caches.
	MinKeyLifetime = 5 * time.Minute
	// KeyLifetimeCeiling is the longest a key may sign unless the operator
	// explicitly overrides it.
	KeyLifetimeCeiling = 30 * 24 * time.Hour
	// KeyLifetimeOverrideLimit bounds even an explicit override.
	KeyLifetimeOverrideLimit = 365 * 24 * time.Hour
	// JWKSMaxAge is how long verifiers may cache the published key set.
	JWKSMaxAge = time.Minute
	// MinPublication is how long a key must have been published before a
	// manual rotation may make it sign: longer than any JWKS cache.
	MinPublication = 2 * JWKSMaxAge
)
