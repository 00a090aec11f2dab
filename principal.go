package mayfly

import "time"

// PrincipalKind says whether a principal is a person or a workload.
type PrincipalKind string

const (
	Human   PrincipalKind = "human"
	Service PrincipalKind = "service"
)

// PrincipalStatus is where a principal stands. Only active principals'
// credentials work.
type PrincipalStatus string

const (
	Active     PrincipalStatus = "active"
	Suspended  PrincipalStatus = "suspended"
	Offboarded PrincipalStatus = "offboarded"
)

// Valid reports whether s is a principal status.
func (s PrincipalStatus) Valid() bool { return s == Active || s == Suspended || s == Offboarded }

// Principal is a person or a service that owns credentials.
type Principal struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"` // unique; SCIM's userName
	Kind      PrincipalKind   `json:"kind"`
	Status    PrincipalStatus `json:"status"`
	OwnerID   string          `json:"owner_id,omitempty"` // a service's accountable human
	CreatedAt time.Time       `json:"created_at"`
	// Identity provider attributes, as SCIM provisioning sets them.
	ExternalID  string `json:"external_id,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
	// SuspendedBy is who suspended the principal (an admin or SCIM
	// credential's ID, or "mayfly"), and SuspendedAt when; both are empty
	// unless the principal is suspended.
	SuspendedBy string    `json:"suspended_by,omitempty"`
	SuspendedAt time.Time `json:"suspended_at,omitzero"`
	// Version counts changes; an update names the version it read.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}
