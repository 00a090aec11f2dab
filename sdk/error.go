package sdk

import "errors"

// Reason says why a request or token was refused. Every Reason is itself an
// error, so callers branch with errors.Is(err, sdk.Revoked).
type Reason string

// The reasons. Their text is safe to show a token's holder: the middleware
// sends it as the RFC 6750 error_description.
const (
	NoToken           Reason = "no access token"                 // RFC 6750: no error code
	BadRequest        Reason = "malformed authorization header"  // invalid_request
	Malformed         Reason = "malformed token"                 // invalid_token, and every reason below
	BadAlgorithm      Reason = "signature algorithm not allowed" // none, HS*, or not the key's algorithm
	BadType           Reason = "token type is not at+jwt"        // the typ header
	UnknownKey        Reason = "unknown signing key"             // kid not in the issuer's key set
	BadSignature      Reason = "bad signature"                   // does not verify under the issuer's key
	WrongIssuer       Reason = "token is from another issuer"    // iss
	WrongAudience     Reason = "token is for another audience"   // aud
	MissingClaim      Reason = "token lacks a required claim"    // exp, iat, jti or client_id
	Expired           Reason = "token expired"                   // exp
	NotYetValid       Reason = "token not yet valid"             // nbf or iat in the future
	TooLong           Reason = "token lifetime too long"         // exp - iat above MaxLifetime
	Revoked           Reason = "token revoked"                   // its jti, client, key or principal
	Stale             Reason = "revocation feed is stale"        // the verifier cannot vouch for revocations
	InsufficientScope Reason = "token lacks a required scope"    // insufficient_scope
	// RFC 9449: DPoP-bound tokens.
	BadProof   Reason = "invalid DPoP proof"               // invalid_dpop_proof: missing, malformed, replayed, for another request or key
	BoundToken Reason = "token is bound to a DPoP key"     // sent as a bearer token, without its proof
	NotBound   Reason = "token is not bound to a DPoP key" // sent with the DPoP scheme
)

func (r Reason) Error() string { return string(r) }

// Code is the RFC 6750 error code for the reason: "" for NoToken,
// "invalid_request", "insufficient_scope", RFC 9449's
// "invalid_dpop_proof", or "invalid_token". A stale
// revocation feed is invalid_token too: the verifier cannot tell whether the
// token is still good, so it is not.
func (r Reason) Code() string {
	switch r {
	case NoToken:
		return ""
	case BadRequest:
		return "invalid_request"
	case InsufficientScope:
		return "insufficient_scope"
	case BadProof:
		return "invalid_dpop_proof"
	}
	return "invalid_token"
}

// Error is the one error type of the package: a Reason for the token's holder,
// and a detail and cause for the log.
type Error struct {
	Reason Reason
	Detail string // for the log: which claim, which key, what was expected
	Err    error  // the cause, if any
}

func refuse(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }

func (e *Error) Error() string {
	msg := "sdk: " + string(e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the reason and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// Code is the RFC 6750 error code of the error's reason.
func (e *Error) Code() string { return e.Reason.Code() }

// reasonOf returns the Reason of err, or Malformed for an error of another type.
func reasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return Malformed
}
