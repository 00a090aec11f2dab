package mayfly

import (
	"encoding/base32"
	"io"
	"strings"
	"time"
)

// Issuance is the record every minted token leaves behind. A token is handed
// out only after its record is durable.
type Issuance struct {
	JTI string `json:"jti"`
	// Digest names the token by what was signed (canon.Digest in package
	// sdk/canon): services compute it from the token they saw. Empty for
	// records made before Mayfly kept it.
	Digest      string `json:"digest"`
	KID         string `json:"kid"`
	ClientID    string `json:"client_id"`
	PrincipalID string `json:"principal_id"`
	// Subject is the token's sub where it is not the client: the customer
	// of an exchanged or refreshed token, such as "customer:48213377".
	// Actor is who acts for it (the act claim's sub): the client that
	// exchanged. Both empty for a client's own token.
	Subject string `json:"sub,omitempty"`
	Actor   string `json:"act,omitempty"`
	// SessionID is the refresh family the token came from (its sid
	// claim), if any.
	SessionID string    `json:"sid,omitempty"`
	SourceIP  string    `json:"source_ip"`
	UserAgent string    `json:"user_agent,omitempty"`
	IssuedAt  time.Time `json:"iat"`
	ExpiresAt time.Time `json:"exp"`
}

// IssuanceFilter selects issuance records. Zero fields match everything.
type IssuanceFilter struct {
	ClientID string
	KID      string
	JTI      string
	Digest   string
	Subject  string // the token's sub, such as "customer:48213377"
	Since    time.Time
	Until    time.Time
	Limit    int // at most this many, newest first
}

// A token ID (jti) begins with its issue time, so that IDs of tokens issued
// together sort together. Stores index issuance records by jti; time-ordered
// IDs keep those index inserts at the end of the index instead of scattered
// through it, and make a jti range a time range.
//
// Layout: 48 bits of Unix milliseconds, then 80 random bits, in lowercase
// base32hex (order-preserving), 26 characters.

var jtiEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewJTI returns a token ID for a token issued at t.
func NewJTI(t time.Time, rand io.Reader) (string, error) {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	if _, err := io.ReadFull(rand, b[6:]); err != nil {
		return "", err
	}
	return strings.ToLower(jtiEncoding.EncodeToString(b[:])), nil
}

// JTIBound returns the smallest token ID of a token issued at or after t.
func JTIBound(t time.Time) string {
	var b [16]byte
	ms := uint64(max(t.UnixMilli(), 0))
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	return strings.ToLower(jtiEncoding.EncodeToString(b[:]))
}

// JTITime returns the issue time, to the millisecond, that a token ID made
// by NewJTI begins with.
func JTITime(jti string) (time.Time, bool) {
	if len(jti) != 26 {
		return time.Time{}, false
	}
	b, err := jtiEncoding.DecodeString(strings.ToUpper(jti))
	if err != nil || len(b) != 16 {
		return time.Time{}, false
	}
	var ms uint64
	for i := range 6 {
		ms = ms<<8 | uint64(b[i])
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}
