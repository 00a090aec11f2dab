package mayfly

import "time"

// PendingAction is a change that waits for an administrator's decision: one
// that a SCIM credential may not make alone, or one that could recreate the
// incident this service exists for and so needs a second person. It is
// carried out when approved, by the server, as the approver.
type PendingAction struct {
	ID      string      `json:"id"`
	Kind    PendingKind `json:"kind"`
	Subject string      `json:"subject"` // what it acts on, as the kind says
	// Params is what the kind needs to carry the action out.
	Params map[string]string `json:"params,omitempty"`
	Why    string            `json:"why"` // why it waits for a decision
	// RequestedBy is the credential that asked, and Requester the person it
	// belongs to, if any: an approver must be someone else.
	RequestedBy string        `json:"requested_by"`
	Requester   string        `json:"requester,omitempty"`
	RequestedAt time.Time     `json:"requested_at"`
	Status      PendingStatus `json:"status"`
	DecidedBy   string        `json:"decided_by,omitempty"`
	Decider     string        `json:"decider,omitempty"`
	DecidedAt   time.Time     `json:"decided_at,omitzero"`
	Reason      string        `json:"reason,omitempty"` // the decider's
	// DoneAt is when an approved action was carried out, and Result what
	// came of it; an approved action not yet done is tried again when
	// approved again.
	DoneAt time.Time `json:"done_at,omitzero"`
	Result string    `json:"result,omitempty"`
	// Material is what carrying the action out needs and no one may read,
	// such as the hash of a credential's token shown to the requester.
	Material []byte `json:"-"`
	Version  int64  `json:"version"`
}

// PendingKind names what a pending action does when approved.
type PendingKind string

const (
	PendingSuspend  PendingKind = "principal.suspend"  // suspend Subject, a principal
	PendingOffboard PendingKind = "principal.offboard" // offboard Subject, a principal

	// The changes that could recreate the incident, which need a second
	// person once two people hold admin credentials.
	PendingAdminCredential PendingKind = "credential.admin" // make Subject, an admin credential of role admin
	PendingRootCustody     PendingKind = "custody.root_key" // grant Subject, a principal, custody of the root key
	PendingCeiling         PendingKind = "keys.ceiling"     // raise the key lifetime ceiling to Params["ceiling"]
)

// PendingStatus is where a pending action stands.
type PendingStatus string

const (
	Pending  PendingStatus = "pending"
	Approved PendingStatus = "approved"
	Rejected PendingStatus = "rejected"
	// Unapproved is a change that needs a second person, carried out
	// without one because fewer than two people held admin credentials.
	// A second person may approve it afterwards.
	Unapproved PendingStatus = "unapproved"
)

// Valid reports whether s is a pending action status.
func (s PendingStatus) Valid() bool {
	return s == Pending || s == Approved || s == Rejected || s == Unapproved
}

// PendingFilter selects pending actions. Zero fields match everything.
type PendingFilter struct {
	Status  PendingStatus
	Kind    PendingKind
	Subject string
}
