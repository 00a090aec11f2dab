package mayfly

import (
	"net/netip"
	"time"
)

// A scope answers "what did this key, person, client or address read?"
// exactly, from the access ledger: the distinct records read, per
// namespace, by the tokens a query selects. Its resolution is the
// ledger's: a bucket is selected or not as a whole, so times are exact to
// the width of the buckets involved (a minute, an hour or a day), and a
// service or source selects the buckets of a token in which it appears.

// ScopeQuery selects ledger buckets. Values within one field are ORed,
// fields are ANDed; an empty field selects everything.
type ScopeQuery struct {
	// KIDs: tokens signed by (or naming) these keys, forged ones included.
	KIDs []string `json:"kid,omitempty"`
	// Principals: their tokens, the tokens of every client and service
	// they own, and with Custody the tokens of every key of a ring they
	// had custody of. IDs or names.
	Principals []string `json:"principal,omitempty"`
	Custody    bool     `json:"custody,omitempty"`
	Clients    []string `json:"client,omitempty"`
	Subjects   []string `json:"subject,omitempty"`
	Services   []string `json:"service,omitempty"`
	// Sources: buckets with a source address within one of these.
	Sources []netip.Prefix `json:"source,omitempty"`
	// Forged: only tokens with no issuance record.
	Forged bool `json:"forged,omitempty"`
	// AfterOffboarding: only use after the first offboarding of each of
	// these principals began (the earliest, if several).
	AfterOffboarding []string  `json:"after_offboarding,omitempty"`
	From             time.Time `json:"from,omitzero"`
	To               time.Time `json:"to,omitzero"`
	Namespaces       []string  `json:"namespace,omitempty"`
	// By breaks the answer down: ScopeBySource, ScopeByClient, ...
	By string `json:"by,omitempty"`
	// Step is the timeline's step: ScopeHour or ScopeDay (the default).
	Step string `json:"step,omitempty"`
	// IDs asks for the record IDs themselves, as bitmaps.
	IDs bool `json:"ids,omitempty"`
	// Minus, if set, takes away every record it selects: the records
	// read under this query but not under Minus (scope diff).
	Minus *ScopeQuery `json:"minus,omitempty"`
}

// ScopeQuery.By and Step values.
const (
	ScopeBySource    = "source"
	ScopeByClient    = "client"
	ScopeByPrincipal = "principal"
	ScopeByService   = "service"
	ScopeByDay       = "day"
	ScopeHour        = "hour"
	ScopeDay         = "day"
)

// Scope is the answer to a ScopeQuery.
type Scope struct {
	Query ScopeQuery `json:"query"`
	// From and To are the window the query asked, after offboarding
	// moved its start; Covered* the span of the buckets selected, which
	// is wider where a bucket straddles the window's edge.
	From        time.Time        `json:"from,omitzero"`
	To          time.Time        `json:"to,omitzero"`
	CoveredFrom time.Time        `json:"covered_from,omitzero"`
	CoveredTo   time.Time        `json:"covered_to,omitzero"`
	Namespaces  []ScopeNamespace `json:"namespaces"`
	FirstRead   time.Time        `json:"first_read,omitzero"` // the start of the first bucket with a read
	LastRead    time.Time        `json:"last_read,omitzero"`  // the end of the last
	Tokens      int              `json:"tokens"`              // distinct tokens, each roll-up counted once
	Credentials int              `json:"credentials"`         // of Tokens, the roll-ups: a credential's tokens of a day
	Requests    int64            `json:"requests"`
	Refusals    int64            `json:"refusals"`
	Services    []string         `json:"services"`
	Sources     []string         `json:"sources"`
	Buckets     int              `json:"buckets"` // ledger buckets selected
	// BucketsDigest is the SHA-256, in hex, of the selected buckets' keys
	// (width, start, jti, digest, namespace) in the order read: which
	// ledger buckets the answer covered.
	BucketsDigest string            `json:"buckets_digest"`
	Timeline      []ScopePoint      `json:"timeline"`
	Groups        []ScopeGroup      `json:"groups,omitempty"`
	Completeness  ScopeCompleteness `json:"completeness"`
}

// ScopeNamespace is what was read in one namespace.
type ScopeNamespace struct {
	Namespace string    `json:"namespace"`
	Records   uint64    `json:"records"` // distinct record IDs, exactly
	FirstRead time.Time `json:"first_read"`
	LastRead  time.Time `json:"last_read"`
	// Digest is the SHA-256, in hex, of the portable roaring64
	// serialization (run-optimised) of the record IDs: it binds a report
	// to the ID set without holding it.
	Digest string `json:"digest"`
	// Bitmap is that serialization, when the query asked for IDs.
	Bitmap []byte `json:"bitmap,omitempty"`
}

// ScopePoint is how many records were first read in one step of the
// timeline, in one namespace.
type ScopePoint struct {
	Start     time.Time `json:"start"`
	Namespace string    `json:"namespace"`
	Records   uint64    `json:"records"`
}

// ScopeGroup is the answer for one group of a breakdown. A bucket with
// several sources or services counts in each of their groups.
type ScopeGroup struct {
	Key        string           `json:"key"`
	Namespaces []ScopeNamespace `json:"namespaces"`
	Tokens     int              `json:"tokens"`
	Requests   int64            `json:"requests"`
}

// ScopeCompleteness says where the ledger may be incomplete for the
// window, so that "exact" is qualified where it must be.
type ScopeCompleteness struct {
	// Reporting lists the services that reported anything in the
	// window, whatever the query selects.
	Reporting     []string     `json:"reporting"`
	ReportingMore bool         `json:"reporting_more,omitempty"` // a bucket kept only some of its services
	Gaps          []*LedgerGap `json:"gaps"`
	// Unsure counts buckets a service or source filter passed over
	// although they kept only some of their services or sources: they
	// may have matched.
	Unsure int `json:"unsure,omitempty"`
}

// ScopeReport is a scope as evidence: the answer without the IDs
// themselves (each namespace's Digest binds the report to its ID set),
// when and by whom it was made, and the audit log entry that records it.
// The log's key signs it; bundle.VerifyScopeReport checks it offline.
type ScopeReport struct {
	Format string    `json:"format"` // bundle.ScopeReportFormat
	Origin string    `json:"origin"` // the audit log's
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Scope  Scope     `json:"scope"`
}

// SignedScopeReport is a report, the audit entry that records its
// digest, and the log key's signed note over both.
type SignedScopeReport struct {
	Report     ScopeReport `json:"report"`
	AuditIndex uint64      `json:"audit_index"`
	Signature  string      `json:"signature"` // a signed note (golang.org/x/mod/sumdb/note)
}
