package mayfly

import "time"

// AuditEntry is one entry of the audit log: a state change, who made it,
// and what it touched. Its canonical encoding is encoding/json's output for
// this struct (fields in this order, map keys sorted, no extra spaces); the
// Merkle leaf is the RFC 6962 leaf hash of those bytes.
type AuditEntry struct {
	V         int               `json:"v"` // encoding version, 1
	Index     uint64            `json:"index"`
	Time      time.Time         `json:"time"`
	Action    Action            `json:"action"` // such as ActionKeyRevoked
	Actor     string            `json:"actor"`  // admin credential, client or "mayfly"
	Principal string            `json:"principal,omitempty"`
	Client    string            `json:"client,omitempty"`
	KID       string            `json:"kid,omitempty"`
	Ring      string            `json:"ring,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// AuditRecord is an audit entry as stored: its canonical bytes, its leaf
// hash and the fields searches use.
type AuditRecord struct {
	Index    uint64
	Body     []byte
	LeafHash []byte
	Entry    AuditEntry // decoded from Body
}

// AuditNode is a stored node of the log's Merkle tree (RFC 6962), named by
// its level (0 for leaves) and index within the level.
type AuditNode struct {
	Level uint
	Index uint64
	Hash  []byte
}

// AuditFilter selects audit entries. Zero fields match everything.
type AuditFilter struct {
	From, To  uint64 // index range [From, To); To 0 means the end
	Action    Action
	Principal string
	Client    string
	KID       string
	Since     time.Time
	Until     time.Time
	Limit     int
	Newest    bool // newest first
}

// Checkpoint is a signed note committing to the log's first Size entries.
type Checkpoint struct {
	Size uint64    `json:"size"`
	Note string    `json:"note"` // C2SP tlog-checkpoint, signed as a C2SP signed note
	Time time.Time `json:"time"`
}

// AuditReport is the outcome of verifying the stored log: the entries and
// checkpoints checked, and the first problem found, if any.
type AuditReport struct {
	OK          bool   `json:"ok"`
	Entries     uint64 `json:"entries"`
	Checkpoints int    `json:"checkpoints"`
	// FirstBad is the first index found wrong, or -1.
	FirstBad int64  `json:"first_bad"`
	Problem  string `json:"problem,omitempty"`
}
