package api

import "github.com/mayflyhq/mayfly"

// OffboardRequest asks for a person to be offboarded.
type OffboardRequest struct {
	Reason     string `json:"reason,omitempty"`
	TransferTo string `json:"transfer_to,omitempty"`
}

// CustodyRequest records custody by hand. Exactly one of Ring, RootKey and
// Client names the asset.
type CustodyRequest struct {
	Principal string             `json:"principal"`
	Ring      string             `json:"ring,omitempty"`
	RootKey   bool               `json:"root_key,omitempty"`
	Client    string             `json:"client,omitempty"`
	Kind      mayfly.CustodyKind `json:"kind,omitempty"` // default "granted"
	Reason    string             `json:"reason"`
}

// CredentialRequest creates an admin or SCIM credential.
type CredentialRequest struct {
	Name  string      `json:"name"`
	Role  mayfly.Role `json:"role,omitempty"`  // default admin
	Owner string      `json:"owner,omitempty"` // the person it belongs to
}

// CreatedCredential is the one response that carries a credential's token.
type CreatedCredential struct {
	*mayfly.AdminCredential
	OwnerName string `json:"owner_name,omitempty"` // see CredentialView
	Token     string `json:"token"`
	// Pending, for a credential of role admin, is the action that waits
	// for a second person (the answer is then 202 Accepted, and the token
	// works once it is approved), or that recorded its creation without
	// one (status unapproved).
	Pending *mayfly.PendingAction `json:"pending,omitempty"`
}

// GrantedCustody is a custody record made. For the root key, Pending is
// the action that waits for a second person (the answer is then 202
// Accepted, without a record), or that recorded the grant without one.
type GrantedCustody struct {
	*mayfly.Custody
	// The names of the record's principal, actor and asset (see
	// CustodyView).
	PrincipalName string                `json:"principal_name,omitempty"`
	ActorName     string                `json:"actor_name,omitempty"`
	AssetName     string                `json:"asset_name,omitempty"`
	Pending       *mayfly.PendingAction `json:"pending,omitempty"`
}
