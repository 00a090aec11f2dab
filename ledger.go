package mayfly

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The access ledger records what each token read: per time bucket, token
// and namespace, the set of record IDs read, never the records themselves.
// Services report the requests they accepted or refused; the ledger adds
// each report to its buckets, and rolls buckets into wider ones as they
// age.

// LedgerToken is the token a request presented: its key (JTI and Digest)
// and what the token says of itself. A token's claims are the same in
// every report of it, so the first stored are kept.
type LedgerToken struct {
	JTI    string `json:"jti"`
	Digest string `json:"digest"` // the token's digest: which exact token string
	// What the token names, "" where it names nothing.
	KID         string `json:"kid,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	PrincipalID string `json:"principal_id,omitempty"`
	Subject     string `json:"sub,omitempty"`
}

// RolledUp is the token that stands for every token of t's credential
// (its key, client, principal and subject) in a roll-up bucket: no JTI,
// and for Digest a digest of the credential, which no token's digest can
// equal.
func (t LedgerToken) RolledUp() LedgerToken {
	h := sha256.New()
	for _, v := range []string{t.KID, t.ClientID, t.PrincipalID, t.Subject} {
		h.Write(binary.AppendUvarint(nil, uint64(len(v))))
		h.Write([]byte(v))
	}
	return LedgerToken{Digest: LedgerRollUpPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16]),
		KID: t.KID, ClientID: t.ClientID, PrincipalID: t.PrincipalID, Subject: t.Subject}
}

// LedgerRollUpPrefix begins the digest of a roll-up bucket's token.
const LedgerRollUpPrefix = "credential:"

// IsRollUp reports whether t stands for a credential's tokens, not one.
func (t LedgerToken) IsRollUp() bool {
	return t.JTI == "" && strings.HasPrefix(t.Digest, LedgerRollUpPrefix)
}

// LedgerBucket is what one token did in one namespace during one time
// bucket, or a delta to add to it. Its key is (Start, Width, Token.JTI,
// Token.Digest, Namespace). A roll-up bucket is what all the tokens of
// one credential did; its Token is their RolledUp token.
//
// Invariants: Width is a positive whole number of seconds and Start a
// multiple of it since the Unix epoch, so buckets of one width never
// overlap; Records is a roaring64 bitmap in its portable serialization
// (at most LedgerMaxRecordsBytes); Services and Sources are sorted,
// distinct and hold at most LedgerMaxServices and LedgerMaxSources values,
// the least ones, with ServicesMore and SourcesMore set if more were seen.
// Keeping the least values, not the first, makes merging order-free: any
// order of the same merges gives the same bucket.
type LedgerBucket struct {
	Start time.Time     `json:"start"`
	Width time.Duration `json:"width"`
	Token LedgerToken   `json:"token"`
	// Namespace names the kind of record, such as "customer"; "" holds the
	// requests that read no record, refusals among them.
	Namespace string `json:"namespace"`
	Records   []byte `json:"records"`
	// Requests counts the accepted requests of this token that read in
	// this namespace; Refusals those refused.
	Requests int64 `json:"requests"`
	Refusals int64 `json:"refusals"`
	// Services that reported, and the source addresses the requests came
	// from, as text.
	Services     []string `json:"services,omitempty"`
	ServicesMore bool     `json:"services_more,omitempty"`
	Sources      []string `json:"sources,omitempty"`
	SourcesMore  bool     `json:"sources_more,omitempty"`
}

// Bounds of a ledger bucket.
const (
	LedgerMaxServices = 16
	LedgerMaxSources  = 32
	// LedgerMaxRecordsBytes bounds a serialized bitmap: 64 MiB holds over
	// 30 million scattered IDs, and any number of dense ones.
	LedgerMaxRecordsBytes = 64 << 20
	// LedgerMaxWidth bounds a bucket's width, so that the buckets that
	// overlap a time are found among those that start near it.
	LedgerMaxWidth = 366 * 24 * time.Hour
	// LedgerMaxName bounds a namespace, service, source, jti or digest.
	LedgerMaxName = 256
)

// End is when the bucket ends.
func (b *LedgerBucket) End() time.Time { return b.Start.Add(b.Width) }

// Check reports, as an Invalid error, what breaks the bucket's invariants,
// but for the content of Records, which only a bitmap decoder can check.
func (b *LedgerBucket) Check() error {
	switch {
	case b.Width <= 0 || b.Width%time.Second != 0 || b.Width > LedgerMaxWidth:
		return InvalidField("width", "a ledger bucket's width must be a whole number of seconds up to %v, not %v", LedgerMaxWidth, b.Width)
	case b.Start.UnixNano()%int64(b.Width) != 0:
		return InvalidField("start", "a ledger bucket of width %v must start at a multiple of it, not %s", b.Width, b.Start.UTC().Format(time.RFC3339Nano))
	case b.Token.JTI == "" && b.Token.Digest == "":
		return InvalidField("token", "a ledger bucket needs a token's jti or digest")
	case b.Requests < 0 || b.Refusals < 0:
		return InvalidField("requests", "a ledger bucket's counts cannot be negative")
	case len(b.Records) > LedgerMaxRecordsBytes:
		return InvalidField("records", "a ledger bucket's records are %d bytes, more than %d", len(b.Records), LedgerMaxRecordsBytes)
	case len(b.Services) > LedgerMaxServices || len(b.Sources) > LedgerMaxSources:
		return InvalidField("services", "a ledger bucket holds at most %d services and %d sources", LedgerMaxServices, LedgerMaxSources)
	}
	for _, f := range []struct{ field, v string }{{"jti", b.Token.JTI}, {"digest", b.Token.Digest}, {"kid", b.Token.KID},
		{"client_id", b.Token.ClientID}, {"principal_id", b.Token.PrincipalID}, {"sub", b.Token.Subject}, {"namespace", b.Namespace}} {
		if len(f.v) > LedgerMaxName {
			return InvalidField(f.field, "%s is longer than %d bytes", f.field, LedgerMaxName)
		}
	}
	for _, set := range []struct {
		field string
		vs    []string
	}{{"services", b.Services}, {"sources", b.Sources}} {
		for _, v := range set.vs {
			if v == "" || len(v) > LedgerMaxName {
				return InvalidField(set.field, "a ledger bucket's %s must be 1 to %d bytes each", set.field, LedgerMaxName)
			}
			if v == LedgerUnionMore { // no principal is named so, and no address
				return InvalidField(set.field, "a ledger bucket's %s cannot be %q", set.field, v)
			}
		}
	}
	return nil
}

// SameLedgerBucket reports whether a and b have the same key.
func SameLedgerBucket(a, b *LedgerBucket) bool { return CompareLedgerBuckets(a, b) == 0 }

// CompareLedgerBuckets orders buckets by key: width, then start, token and
// namespace. Stores take buckets' locks in this order, so that merges and
// compactions running at once never wait on each other in a cycle.
func CompareLedgerBuckets(a, b *LedgerBucket) int {
	return cmp.Or(cmp.Compare(a.Width, b.Width), a.Start.Compare(b.Start), strings.Compare(a.Token.JTI, b.Token.JTI),
		strings.Compare(a.Token.Digest, b.Token.Digest), strings.Compare(a.Namespace, b.Namespace))
}

// BoundedUnion returns the least max values of the union of a and b,
// sorted and distinct, and whether the union held more; a and b need not
// be sorted. It is how a bucket's Services and Sources merge.
func BoundedUnion(a, b []string, max int) (union []string, more bool) {
	union = slices.Concat(a, b)
	slices.Sort(union)
	union = slices.Compact(union)
	if len(union) > max {
		return union[:max:max], true
	}
	return union, false
}

// LedgerFilter selects ledger buckets. Zero fields match everything.
type LedgerFilter struct {
	JTI       string
	Digest    string
	Namespace string
	// What the tokens name; these match roll-up buckets too.
	KID, ClientID, PrincipalID, Subject string
	Width                               time.Duration
	// Lists of which a bucket's value must be one, each ANDed with the
	// rest; empty lists match everything.
	KIDs, ClientIDs, Subjects, Namespaces []string
	// Reach, if set, matches the buckets whose token names one of its
	// principals or clients, or one of its keys.
	Reach *LedgerReach
	// NoRecords leaves the buckets' Records nil (ScanLedger only): a
	// caller that decides by the rest of a bucket reads the records of
	// those it keeps (LedgerRecords), not of every one.
	NoRecords bool
	// From and To select the buckets that overlap [From, To); StartFrom,
	// if set, only those that start at or after it.
	From, To  time.Time
	StartFrom time.Time
	Limit     int // at most this many
}

// LedgerReach is what a person can reach: a bucket is theirs if its
// token names one of these principals or clients, or one of these keys.
type LedgerReach struct {
	PrincipalIDs, ClientIDs, KIDs []string
}

// A ledger day union is what one day's buckets in one namespace that
// share one value of one dimension say: a key, a client, a principal, a
// service, a source /24 (IPv6: /48), or every bucket (LedgerDimAll); or,
// for services and sources, the buckets that kept only some of theirs
// (LedgerUnionMore), which a scope by them cannot decide. It lists the
// buckets (without their records) and, where at least a minimum of them
// share the value, holds the union of their records. The store keeps the
// unions of every value for the days whose buckets are all day buckets,
// so that a scope over a key or a quarter of everything reads a few rows
// a day where it read every bucket of the day and a bitmap per
// credential. A day's unions are made from its buckets in one
// transaction, and dropped by any change to the day's buckets.
type LedgerUnion struct {
	Day       time.Time `json:"day"` // a UTC midnight
	Namespace string    `json:"namespace"`
	Dim       string    `json:"dim"`
	Value     string    `json:"value"`
	// Buckets are the buckets it unites, their Records nil (with
	// LedgerUnionFilter.Buckets); Count how many.
	Buckets []LedgerBucket `json:"buckets,omitempty"`
	Count   int            `json:"count"`
	// Records is the union of theirs (with LedgerUnionFilter.Records),
	// nil where fewer than the minimum share the value: read theirs.
	Records []byte `json:"records,omitempty"`
}

// LedgerUnion dimensions.
const (
	LedgerDimAll       = ""
	LedgerDimKID       = "kid"
	LedgerDimClient    = "client"
	LedgerDimPrincipal = "principal"
	LedgerDimService   = "service"
	LedgerDimSource    = "source"
)

// LedgerUnionMore is the value of the service or source union of the
// buckets that kept only some of their services or sources
// (LedgerBucket.ServicesMore, SourcesMore). It lists them without their
// records: a scope counts them as undecided, not as selected.
const LedgerUnionMore = "*"

// LedgerDay is the width of a bucket that day unions are made of.
const LedgerDay = 24 * time.Hour

// LedgerUnionFilter selects one day's unions of one dimension.
type LedgerUnionFilter struct {
	Day        time.Time
	Dim        string
	Values     []string // nil: every value
	Namespaces []string // nil: every namespace
	// What to return besides each union's key and count.
	Buckets, Records bool
}

// LedgerUnionKeys returns the values of dim that a bucket has: its key,
// client or principal, each of its services, the /24 (IPv6: /48) of each
// of its sources, or "" for LedgerDimAll; none where it names nothing.
// A bucket that kept only some of its services or sources has
// LedgerUnionMore too.
func LedgerUnionKeys(b *LedgerBucket, dim string) []string {
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	switch dim {
	case LedgerDimAll:
		return []string{""}
	case LedgerDimKID:
		return one(b.Token.KID)
	case LedgerDimClient:
		return one(b.Token.ClientID)
	case LedgerDimPrincipal:
		return one(b.Token.PrincipalID)
	case LedgerDimService:
		out := slices.Clone(b.Services)
		if b.ServicesMore {
			out = append(out, LedgerUnionMore)
		}
		slices.Sort(out)
		return slices.Compact(out)
	case LedgerDimSource:
		var out []string
		for _, src := range b.Sources {
			if p, ok := LedgerSourceNet(src); ok {
				out = append(out, p.String())
			}
		}
		if b.SourcesMore {
			out = append(out, LedgerUnionMore)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return nil
}

// LedgerUnionDims are the dimensions of day unions.
var LedgerUnionDims = []string{LedgerDimAll, LedgerDimKID, LedgerDimClient, LedgerDimPrincipal, LedgerDimService, LedgerDimSource}

// LedgerSourceNet is the network a source address's day union is kept
// for: its /24, or /48 for IPv6.
func LedgerSourceNet(src string) (netip.Prefix, bool) {
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// LedgerGap records reports a service dropped, rather than let the ledger
// look complete where it is not.
type LedgerGap struct {
	ID      int64     `json:"id"` // set by the store
	Service string    `json:"service"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Dropped int64     `json:"dropped"` // reports dropped between From and To
}

// Check reports, as an Invalid error, what is wrong with g.
func (g *LedgerGap) Check() error {
	switch {
	case g.Service == "" || len(g.Service) > LedgerMaxName:
		return InvalidField("service", "a ledger gap names its service, in 1 to %d bytes", LedgerMaxName)
	case g.From.IsZero() || g.To.Before(g.From):
		return InvalidField("to", "a ledger gap needs a start, and an end not before it")
	case g.Dropped < 0:
		return InvalidField("dropped", "a ledger gap cannot drop a negative number of reports")
	}
	return nil
}

// LedgerReport is one request a service reports to the ledger: one line
// of the JSON Lines a service posts (internal/ledger.ParseReports reads
// them). It names the token either by the claims the service verified
// (JTI and the rest) or by Token, the raw token, for Mayfly to verify.
type LedgerReport struct {
	Time     time.Time
	Service  string
	SourceIP netip.Addr
	Method   string // "" if not reported
	Route    string // the route pattern, "" if not reported
	// Records maps each namespace the request read in to the record IDs
	// it read there, each list sorted and distinct; nil if it read none.
	Records map[string][]uint64
	Refused bool // the service refused the request
	// The claims the service verified; JTI is set if Token is not.
	JTI, KID, Issuer, Subject, ClientID string
	IssuedAt, Expires                   time.Time // zero if not reported
	// Digest is the token's digest: as reported with the claims, or, for
	// a report of Token, computed from it.
	Digest string
	Token  LedgerRawToken
	// Check is what Mayfly found of the token: for a report of Token, the
	// ingest verifies its signature against Mayfly's keys (revoked and
	// retired ones too), fills the claims above from it, and drops Token.
	Check LedgerCheck
}

// LedgerCheck is what Mayfly found of a reported token's signature.
type LedgerCheck string

const (
	// LedgerClaimed: the service reported the claims it verified; Mayfly
	// saw no signature.
	LedgerClaimed LedgerCheck = ""
	// LedgerSigned: the token's signature verifies under a key of
	// Mayfly's, whatever the key's state.
	LedgerSigned LedgerCheck = "signed"
	// LedgerUnsigned: the token names no key of Mayfly's, or its
	// signature does not verify: Mayfly's keys did not sign it.
	LedgerUnsigned LedgerCheck = "unsigned"
)

// LedgerRawToken is a raw compact JWS a service reported. It is a bearer
// credential, so it prints, formats and logs as "[token]", never itself.
type LedgerRawToken string

// Format prints "[token]" for every verb.
func (LedgerRawToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[token]") }

// LogValue logs "[token]".
func (LedgerRawToken) LogValue() slog.Value { return slog.StringValue("[token]") }

// LedgerHeartbeat is what a reporting service says of itself, with each
// flush and at least every few seconds when it has nothing to report:
// how far its revocation feed has got, and what it dropped.
type LedgerHeartbeat struct {
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	// RevocationSeq is the last revocation the service's verifier has
	// applied, and RevocationAge how long ago its feed last delivered
	// (a change or a keep-alive); zero if it follows no feed.
	RevocationSeq int64         `json:"revocation_seq"`
	RevocationAge time.Duration `json:"revocation_age"`
	// Dropped counts the reports the service dropped since DroppedSince
	// and did not report before; the ingest records them as a gap.
	Dropped      int64     `json:"dropped,omitempty"`
	DroppedSince time.Time `json:"dropped_since,omitzero"`
}
