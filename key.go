package mayfly

import "time"

// Alg is a JWS signing algorithm a key ring can use.
type Alg string

const (
	ES256 Alg = "ES256"
	RS256 Alg = "RS256"
	EdDSA Alg = "EdDSA"
)

// Valid reports whether a is an algorithm Mayfly signs with.
func (a Alg) Valid() bool { return a == ES256 || a == RS256 || a == EdDSA }

// Ring is a named sequence of signing keys of one algorithm that replace each
// other on a schedule.
type Ring struct {
	Name      string        `json:"name"`
	Alg       Alg           `json:"alg"`
	Lifetime  time.Duration `json:"lifetime"` // how long each key signs
	CreatedAt time.Time     `json:"created_at"`
}

// KeyState is where a key is in its life. It follows from the key's times,
// so it can never disagree with them.
type KeyState string

const (
	KeyNext     KeyState = "next"     // published, not yet signing
	KeyActive   KeyState = "active"   // published and signing
	KeyRetiring KeyState = "retiring" // published so its tokens verify, no longer signing
	KeyRetired  KeyState = "retired"  // every token it signed has expired
	KeyRevoked  KeyState = "revoked"  // withdrawn; its tokens are rejected
)

// Key is one signing key. Its private half exists only sealed under the root
// key and is destroyed once the key is retired or revoked.
type Key struct {
	KID          string    `json:"kid"`
	Ring         string    `json:"ring"`
	Alg          Alg       `json:"alg"`
	Public       []byte    `json:"-"` // PKIX DER
	Sealed       []byte    `json:"-"` // sealed PKCS #8 DER; nil once destroyed
	CreatedAt    time.Time `json:"created_at"`
	ActivateAt   time.Time `json:"activate_at"`
	DeactivateAt time.Time `json:"deactivate_at"`
	RetireAt     time.Time `json:"retire_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
}

// State returns the key's state at now.
func (k *Key) State(now time.Time) KeyState {
	switch {
	case !k.RevokedAt.IsZero():
		return KeyRevoked
	case now.Before(k.ActivateAt):
		return KeyNext
	case now.Before(k.DeactivateAt):
		return KeyActive
	case now.Before(k.RetireAt):
		return KeyRetiring
	default:
		return KeyRetired
	}
}

// Published reports whether the key belongs in the JWKS at now.
func (k *Key) Published(now time.Time) bool {
	s := k.State(now)
	return s == KeyNext || s == KeyActive || s == KeyRetiring
}
