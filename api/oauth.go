package api

// OAuth2 endpoint paths, relative to the issuer.
const (
	TokenPath      = "/oauth2/token"
	IntrospectPath = "/oauth2/introspect"
	RevokePath     = "/oauth2/revoke"
	JWKSPath       = "/oauth2/jwks"
)

// Metadata is the RFC 8414 / OpenID discovery document.
type Metadata struct {
	Issuer                           string   `json:"issuer"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	JWKSURI                          string   `json:"jwks_uri"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	GrantTypes                       []string `json:"grant_types_supported"`
	ResponseTypes                    []string `json:"response_types_supported"`
	SubjectTypes                     []string `json:"subject_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs     []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	IDTokenSigningAlgs               []string `json:"id_token_signing_alg_values_supported"`
	AccessTokenSigningAlgs           []string `json:"access_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
	DPoPSigningAlgs                  []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// TokenResponse is a successful RFC 6749 section 5.1 response.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// RefreshToken is returned by grants that begin or continue a refresh
	// family; IssuedTokenType by token exchange (RFC 8693 section 2.2.1).
	RefreshToken    string `json:"refresh_token,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Grant types beyond client_credentials, and RFC 8693's token types.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantRefreshToken  = "refresh_token"
	TokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// Introspection is an RFC 7662 response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	Principal string   `json:"principal,omitempty"`
	// Cnf names the key a DPoP-bound token is bound to (RFC 9449 section
	// 6.2); its TokenType is then "DPoP".
	Cnf *Confirmation `json:"cnf,omitempty"`
	// Digest is a Mayfly extension: the token's digest (canon.Digest in
	// package sdk/canon), as its issuance record holds it.
	Digest string `json:"digest,omitempty"`
}

// Confirmation is a token's cnf claim (RFC 7800): the SHA-256 thumbprint
// of the DPoP key it is bound to (RFC 9449 section 6).
type Confirmation struct {
	JKT string `json:"jkt"`
}
