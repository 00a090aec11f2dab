package mayfly

import "time"

// A refresh family is one customer session at one client: the chain of
// refresh tokens that each use replaces with the next. A family's ID is
// the sid of every access token it produced, so revoking the family
// (RevokeSession) rejects them all. A token is its family's ID, its
// generation and 256 random bits; only its SHA-256 is stored.

// RefreshFamily is a chain of rotating refresh tokens.
type RefreshFamily struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	Subject  string `json:"sub"`
	// JKT binds the family to a DPoP key: only a proof by that key may
	// refresh it. Empty: not bound.
	JKT       string    `json:"jkt,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
	// IdleExpiresAt is LastUsed plus the client's idle lifetime;
	// ExpiresAt the absolute end, CreatedAt plus its absolute lifetime.
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Current is the generation of the one token that may be used next.
	Current   int64     `json:"current"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

// Revoked reports whether the family was revoked.
func (f *RefreshFamily) Revoked() bool { return !f.RevokedAt.IsZero() }

// RefreshToken is one refresh token of a family, by its generation.
type RefreshToken struct {
	Hash       []byte    `json:"-"` // SHA-256 of the token; the token is never stored
	FamilyID   string    `json:"family"`
	Generation int64     `json:"generation"` // 1 for a family's first
	IssuedAt   time.Time `json:"issued_at"`
	Source     string    `json:"source_ip"` // the address of the request it was issued to
	// UsedAt and UsedFrom say when, and from where, it was presented and
	// rotated; zero for a token retired without being presented (the
	// unused successor a retry replaced) or not retired.
	UsedAt    time.Time `json:"used_at,omitzero"`
	UsedFrom  string    `json:"used_from,omitempty"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// Retired reports whether the token may no longer be used.
func (t *RefreshToken) Retired() bool { return !t.RetiredAt.IsZero() }

// RefreshRotation replaces a family's current token with the next one, if
// the family is still at generation From and not revoked.
type RefreshRotation struct {
	FamilyID string
	From     int64 // the generation read as current
	// Used says the token retired was presented, from the address its
	// successor is issued to (Next.Source), not replaced unused.
	Used bool
	// IdleExpiresAt is the family's idle expiry from the rotation on.
	IdleExpiresAt time.Time
	// Next is generation From+1. Its IssuedAt is when the token it
	// replaces was retired, and the family's LastUsed.
	Next *RefreshToken
	// Rotated is set by RotateRefresh: false if the family had moved on
	// or was revoked, and nothing was written.
	Rotated bool
}
