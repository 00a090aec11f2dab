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
	// JWKS holds the public keys the client signs private_key_jwt assertions with.
	JWKS            json.RawMessage `json:"jwks,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	SecretRotatedAt time.Time       `json:"secret_rotated_at,omitzero"`
	RevokedAt       time.Time       `json:"revoked_at,omitzero"`
	// Version counts changes of owner, secret and revocation; an update
	// names the version it read, so that two updates cannot undo each
	// other.
	Version int64 `json:"version"`
}

// Revoked reports whether the client was revoked.
func (c *Client) Revoked() bool { return !c.RevokedAt.IsZero() }

// AuthMethods lists the token endpoint authentication methods the client can use.
func (c *Client) AuthMethods() []string {
	var m []string
	if len(c.SecretHash) > 0 {
		m = append(m, "client_secret_basic", "client_secret_post")
	}
	if len(c.JWKS) > 0 {
		m = append(m, "private_key_jwt")
	}
	return m
}
