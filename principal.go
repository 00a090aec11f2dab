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

// Principal is a person or a service that owns credentials.
type Principal struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Kind      PrincipalKind   `json:"kind"`
	Status    PrincipalStatus `json:"status"`
	OwnerID   string          `json:"owner_id,omitempty"` // a service's accountable human
	CreatedAt time.Time       `json:"created_at"`
}
