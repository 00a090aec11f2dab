package mayfly

import (
	"context"
	"time"
)

// Detection rules watch the access ledger's reports as they arrive and
// raise alerts. An alert is durable and deduplicated: one alert that is
// not resolved per rule and subject, its count and last-seen moving as
// the rule fires again.

// Rule names a detection rule. The values are stable: scripts, webhook
// consumers and the configuration file name them.
type Rule string

const (
	// RuleForgedToken: a service accepted a token Mayfly never issued (no
	// issuance record for its jti, or its digest, kid, client or times
	// disagree with the record).
	RuleForgedToken Rule = "forged-token"
	// RuleRevokedInUse: a token whose jti, key, client, principal or
	// subject was revoked, suspended or offboarded was accepted after
	// that.
	RuleRevokedInUse Rule = "revoked-in-use"
	// RuleBulkRead: a client, principal, subject or source read more
	// distinct records in a window than its baseline or ceiling allows.
	RuleBulkRead Rule = "bulk-read"
	// RuleNewNetwork: a client or principal's tokens appear from a network
	// not seen for it during its learning period.
	RuleNewNetwork Rule = "new-network"
	// RuleSharedSource: one source address presents tokens of many clients
	// or subjects within a window.
	RuleSharedSource Rule = "shared-source"
	// RuleStaleVerifier: a reporting service's revocation feed lags beyond
	// its bound, or the service stopped reporting.
	RuleStaleVerifier Rule = "stale-verifier"
	// RuleRefreshReuse: a retired refresh token was presented again, so
	// it was copied; its family is revoked as the alert is raised. Raised
	// by the token endpoint, not from the ledger.
	RuleRefreshReuse Rule = "refresh-reuse"
)

// Rules lists every rule, in the order the documentation gives them.
var Rules = []Rule{RuleForgedToken, RuleRevokedInUse, RuleBulkRead, RuleNewNetwork, RuleSharedSource, RuleStaleVerifier, RuleRefreshReuse}

// AlertState is where an alert is in its life: open, then acknowledged by
// someone looking into it, then resolved. Each change is audited.
type AlertState string

const (
	AlertOpen         AlertState = "open"
	AlertAcknowledged AlertState = "acknowledged"
	AlertResolved     AlertState = "resolved"
)

// Alert is what a rule raised about a subject.
//
// Subject names what the alert is about as KIND:ID, the kinds those of
// the revocation state and the ledger: "kid:", "jti:", "client:",
// "principal:", "sub:" (a token's subject), "source:" (an address or
// network) and "service:" (a reporting service).
type Alert struct {
	ID        string     `json:"id"`
	Rule      Rule       `json:"rule"`
	State     AlertState `json:"state"`
	Subject   string     `json:"subject"`
	Summary   string     `json:"summary"` // one line, for people
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	Count     int64      `json:"count"` // times the rule fired for this alert
	// Evidence holds what fired the alert, the first and the latest
	// firings within a bound (AlertMaxEvidence), never a token itself.
	Evidence []AlertEvidence `json:"evidence"`
	// Actions are what containment did, automatically, for this alert.
	Actions []string `json:"actions,omitempty"`
	// Seq numbers changes to alerts across every process sharing the
	// store: each raise, count change and state change takes the next
	// one, so a stream resumes after the last Seq it sent.
	Seq       int64     `json:"seq"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"` // who changed the state last
	Note      string    `json:"note,omitempty"`       // why, as they said
}

// AlertMaxEvidence bounds an alert's evidence: the first firings are kept,
// and the latest replace each other after them.
const AlertMaxEvidence = 20

// AlertEvidence is one firing of a rule: the report or reports and the
// token that fired it, and what the rule counted. Fields a rule does not
// use are zero.
type AlertEvidence struct {
	Time     time.Time `json:"time"`
	Service  string    `json:"service,omitempty"`
	SourceIP string    `json:"source_ip,omitempty"`
	Method   string    `json:"method,omitempty"`
	Route    string    `json:"route,omitempty"`
	// The token, by what names it, never by itself.
	JTI         string `json:"jti,omitempty"`
	Digest      string `json:"digest,omitempty"`
	KID         string `json:"kid,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	PrincipalID string `json:"principal_id,omitempty"`
	TokenSub    string `json:"sub,omitempty"`
	// What the rule counted, over which window.
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to,omitzero"`
	Observed int64     `json:"observed,omitempty"`
	Limit    int64     `json:"limit,omitempty"`
	Detail   string    `json:"detail,omitempty"` // why the rule fired, in a few words
}

// AlertSignal is one firing of a rule, for the alert service to raise or
// add to the alert of its rule and subject.
type AlertSignal struct {
	Rule     Rule
	Subject  string
	Summary  string
	Evidence AlertEvidence
}

// AlertFilter selects alerts. Zero fields match everything.
type AlertFilter struct {
	Rule     Rule
	State    AlertState
	Subject  string
	Since    time.Time // last seen at or after
	AfterSeq int64     // changed after this Seq
	BySeq    bool      // ordered by Seq, as when AfterSeq is set, even from 0
	Limit    int       // at most this many
}

// AlertStore keeps alerts.
type AlertStore interface {
	// RaiseAlert adds s to the alert of its rule and subject that is not
	// resolved, or creates one (open, with a new ID); it returns the
	// alert as stored and whether it is new. Raises of one rule and
	// subject from transactions in any process never make two alerts.
	RaiseAlert(tx Tx, s AlertSignal, id string, now time.Time) (a *Alert, created bool, err error)
	Alert(ctx context.Context, id string) (*Alert, error)
	// Alerts returns the matching alerts: by Seq when AfterSeq or BySeq
	// is set, oldest change first, else newest last-seen first.
	Alerts(ctx context.Context, f AlertFilter) ([]*Alert, error)
	// UpdateAlert stores a's State, UpdatedAt, UpdatedBy, Note and Actions
	// and gives it the next Seq. a.Seq is the Seq it was read at: if the
	// alert changed since, UpdateAlert returns ErrConflict and stores
	// nothing.
	UpdateAlert(tx Tx, a *Alert) error
}
