package mayfly

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
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

// ActionIssuancesPruned records issuance records deleted past retention:
// one entry per deletion, written in the transaction that deletes, with
// what was deleted (IssuancesPruned.Details).
const ActionIssuancesPruned Action = "issuances.pruned"

// IssuancePrune asks a store for one step of issuance retention
// (TokenStore.PruneIssuances).
type IssuancePrune struct {
	// Before: records issued before it are deleted. A whole second.
	Before time.Time
	// Now is the time records are being issued at: a store that keeps
	// each day's records apart makes room for this day and the next ones.
	Now time.Time
	// Batch bounds the records one transaction deletes one by one, so a
	// large backlog never holds the store's writer long.
	Batch int
	// Record records the deletion in its transaction: the audit entry.
	Record func(tx Tx, p IssuancesPruned) error
}

// IssuancesPruned says what one deletion of issuance records held, so that
// an archived copy of them can be checked against the audit log.
type IssuancesPruned struct {
	// Day is the UTC day whose records were dropped whole, zero for a
	// batch deleted record by record.
	Day         time.Time
	Count       int64
	First, Last string // the lowest and highest jti
	// SHA256 is IssuanceSum's digest of the records.
	SHA256 string
}

// Details are the audit entry's details: count, first_jti, last_jti,
// sha256, and day (YYYY-MM-DD) for a day dropped whole.
func (p IssuancesPruned) Details() map[string]string {
	d := map[string]string{"count": strconv.FormatInt(p.Count, 10), "first_jti": p.First, "last_jti": p.Last, "sha256": p.SHA256}
	if !p.Day.IsZero() {
		d["day"] = p.Day.UTC().Format(time.DateOnly)
	}
	return d
}

// IssuanceSum digests a set of issuance records for the audit log: the
// SHA-256 of one line per record, "jti digest" (a space between, the
// token's digest empty where none was kept), each ending in a newline,
// the lines in ascending byte order. An archive holding the records'
// jti and digest gives the same sum with
//
//	LC_ALL=C sort archive.txt | sha256sum
//
// where archive.txt has those lines, in any order.
type IssuanceSum struct {
	h           hash.Hash
	count       int64
	first, last string
}

// NewIssuanceSum returns an empty sum.
func NewIssuanceSum() *IssuanceSum { return &IssuanceSum{h: sha256.New()} }

// Add adds a record. Records must come in ascending order of their line
// (jti, then digest): the caller sorts.
func (s *IssuanceSum) Add(jti, digest string) {
	if s.count == 0 {
		s.first = jti
	}
	s.count++
	s.last = jti
	s.h.Write([]byte(jti + " " + digest + "\n"))
}

// Pruned is what the sum holds, for the day (zero for a batch).
func (s *IssuanceSum) Pruned(day time.Time) IssuancesPruned {
	return IssuancesPruned{Day: day, Count: s.count, First: s.first, Last: s.last, SHA256: hex.EncodeToString(s.h.Sum(nil))}
}

// IssuanceLine orders records for IssuanceSum: by jti, then digest.
func IssuanceLine(a, b Issuance) int {
	if c := strings.Compare(a.JTI, b.JTI); c != 0 {
		return c
	}
	return strings.Compare(a.Digest, b.Digest)
}

// jtiEpoch: Mayfly issued no token before it. A jti that decodes to an
// earlier time was not made by NewJTI, and names no day.
var jtiEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// JTISlack is how far from its jti's time a token's iat may be: the jti
// has the millisecond, iat the second, and a token service may read the
// clock for each apart.
const JTISlack = time.Minute

// JTIWindow returns the bounds, in Unix seconds, that the iat of the token
// jti lies within, and false for a jti that carries no issue time, which
// could have been issued at any time. Stores that keep records by day look
// a jti up in its own days only.
func JTIWindow(jti string) (lo, hi int64, ok bool) {
	t, ok := JTITime(jti)
	if !ok || t.Before(jtiEpoch) {
		return 0, 0, false
	}
	return t.Add(-JTISlack).Unix(), t.Add(JTISlack).Unix(), true
}
