package mayfly

import "time"

// Issuance is the record every minted token leaves behind. A token is handed
// out only after its record is durable.
type Issuance struct {
	JTI         string    `json:"jti"`
	KID         string    `json:"kid"`
	ClientID    string    `json:"client_id"`
	PrincipalID string    `json:"principal_id"`
	SourceIP    string    `json:"source_ip"`
	UserAgent   string    `json:"user_agent,omitempty"`
	IssuedAt    time.Time `json:"iat"`
	ExpiresAt   time.Time `json:"exp"`
}

// IssuanceFilter selects issuance records. Zero fields match everything.
type IssuanceFilter struct {
	ClientID string
	KID      string
	JTI      string
	Since    time.Time
	Until    time.Time
	Limit    int // at most this many, newest first
}
