package mayfly

import (
	"encoding/json"
	"time"
)

// Client is an OAuth2 client: a credential owned by a principal that obtains
// access tokens with the client_credentials grant.
type Client struct {
	ID        string        `json:"client_id"`
	Name      string        `json:"name"`
	OwnerID   string        `json:"owner_id"`
	Scopes    []string      `json:"scopes"`    // scopes it may request
	Audiences []string      `json:"audiences"` // audiences it may request; the first is the default
	TokenTTL  time.Duration `json:"token_ttl"`
	Ring      string        `json:"ring"` // the key ring that signs its tokens
	// SecretHash is SHA-256 of the client secret. The secret has 256 bits of
	// entropy, so a fast hash is as strong as a slow one here.
	SecretHash []byte `json:"-"`
	// JWKS holds the public keys the client signs its subject tokens with
	// (Exchange) and, unless it also has a secret, its private_key_jwt
	// assertions: a client with both authenticates with the secret.
	JWKS            json.RawMessage `json:"jwks,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	SecretRotatedAt time.Time       `json:"secret_rotated_at,omitzero"`
	RevokedAt       time.Time       `json:"revoked_at,omitzero"`
	// Exchange lists the subject namespaces (such as "customer") the
	// client may exchange a subject token for an access token in (RFC
	// 8693): a login service's. Empty: it may not exchange.
	Exchange []string `json:"exchange,omitempty"`
	// Refresh lets an exchange also return a refresh token, which rotates
	// on each use; RefreshIdle and RefreshAbsolute bound its family (zero:
	// DefaultRefreshIdle, DefaultRefreshAbsolute).
	Refresh         bool          `json:"refresh,omitempty"`
	RefreshIdle     time.Duration `json:"refresh_idle,omitempty"`
	RefreshAbsolute time.Duration `json:"refresh_absolute,omitempty"`
	// DPoP is DPoPRequired if every token request must carry a DPoP proof
	// (RFC 9449), binding the tokens to its key.
	DPoP DPoPMode `json:"dpop,omitempty"`
	// Public marks a client with no credential of its own, such as a
	// mobile app: it may only refresh, proving possession with DPoP.
	Public bool `json:"public,omitempty"`
	// Version counts changes of owner, secret and revocation; an update
	// names the version it read, so that two updates cannot undo each
	// other.
	Version int64 `json:"version"`
}

// DPoPMode says whether a client's token requests must prove possession.
type DPoPMode string

const (
	DPoPOptional DPoPMode = ""         // a proof binds the tokens if given
	DPoPRequired DPoPMode = "required" // a request without a proof is refused
)

// Refresh token family lifetimes, unless a client sets its own.
const (
	DefaultRefreshIdle     = 14 * 24 * time.Hour
	DefaultRefreshAbsolute = 90 * 24 * time.Hour
	// MaxRefreshAbsolute bounds any family's lifetime.
	MaxRefreshAbsolute = 400 * 24 * time.Hour
)

// KeyAuthenticated reports whether the client authenticates with its keys
// (private_key_jwt): it has a JWK Set and no secret.
func (c *Client) KeyAuthenticated() bool { return len(c.JWKS) > 0 && len(c.SecretHash) == 0 }

// Revoked reports whether the client was revoked.
func (c *Client) Revoked() bool { return !c.RevokedAt.IsZero() }

// AuthMethods lists the token endpoint authentication methods the client can use.
// A client with a secret and a JWK Set authenticates with the secret only:
// its keys sign its subject tokens.
func (c *Client) AuthMethods() []string {
	m := []string{} // none is [] in JSON, not null
	if len(c.SecretHash) > 0 {
		m = append(m, "client_secret_basic", "client_secret_post")
	}
	if c.KeyAuthenticated() {
		m = append(m, "private_key_jwt")
	}
	if c.Public {
		m = append(m, "none")
	}
	return m
}
