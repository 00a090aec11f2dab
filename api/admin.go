package api

import (
	"encoding/json"
	"time"

	"github.com/mayflyhq/mayfly"
)

// PrincipalRequest creates a principal.
type PrincipalRequest struct {
	Name  string               `json:"name"`
	Kind  mayfly.PrincipalKind `json:"kind"`
	Owner string               `json:"owner,omitempty"`
}

// ClientRequest creates a client.
type ClientRequest struct {
	Name      string          `json:"name"`
	Owner     string          `json:"owner"`
	Scopes    []string        `json:"scopes,omitempty"`
	Audiences []string        `json:"audiences,omitempty"`
	TokenTTL  string          `json:"token_ttl,omitempty"`
	Ring      string          `json:"ring,omitempty"`
	JWKS      json.RawMessage `json:"jwks,omitempty"`
	// TokenEndpointAuthMethod (RFC 7591) chooses how a client with JWKS
	// authenticates: client_secret_basic (or client_secret_post) gives it
	// a secret as well, and its keys then sign only its subject tokens.
	// Empty: private_key_jwt with JWKS, a secret without.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// What the client may do with customers' tokens (mayfly.Client).
	Exchange        []string        `json:"exchange,omitempty"`
	Refresh         bool            `json:"refresh,omitempty"`
	RefreshIdle     string          `json:"refresh_idle,omitempty"` // a Go duration, such as 336h
	RefreshAbsolute string          `json:"refresh_absolute,omitempty"`
	DPoP            mayfly.DPoPMode `json:"dpop,omitempty"`
	Public          bool            `json:"public,omitempty"`
}

// CreatedClient is the one response that carries a client secret.
type CreatedClient struct {
	*mayfly.Client
	OwnerName string   `json:"owner_name,omitempty"` // see ClientView
	Auth      []string `json:"token_endpoint_auth_methods"`
	Secret    string   `json:"client_secret,omitempty"`
}

// DecisionRequest approves or rejects a pending action, with an optional
// reason.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RevokeRequest carries an optional reason for any revocation.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RingRequest creates a key ring.
type RingRequest struct {
	Name     string     `json:"name"`
	Alg      mayfly.Alg `json:"alg,omitempty"`
	Lifetime string     `json:"lifetime,omitempty"`
}

// RingView is a ring with its keys.
type RingView struct {
	mayfly.Ring
	Keys []KeyView `json:"keys"`
}

// KeyView is a key's metadata and state. It never holds key material.
type KeyView struct {
	mayfly.Key
	State    mayfly.KeyState `json:"state"`
	Material string          `json:"material"` // "sealed" or "destroyed"
	// RevokedReason is why a revoked key was revoked, as its revocation
	// says.
	RevokedReason string `json:"revoked_reason,omitempty"`
}

// NamespaceRevokeRequest logs out every subject of a namespace
// (POST /v1/subjects/revoke): every token whose sub is "NAMESPACE:..."
// issued before Before, which is now when zero and may not be in the
// future.
type NamespaceRevokeRequest struct {
	Namespace string    `json:"namespace"`
	Before    time.Time `json:"before,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}
