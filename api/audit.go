package api

import "github.com/mayflyhq/mayfly"

// AuditItem is an audit entry as the API shows it. The names of the
// entry's actor, principal and client are looked up when it is read (see
// names.go): they are not part of the entry, which is what the log
// hashes, and a name changed since shows as it is now.
type AuditItem struct {
	Entry         mayfly.AuditEntry `json:"entry"`
	LeafHash      []byte            `json:"leaf_hash"`
	ActorName     string            `json:"actor_name,omitempty"`
	PrincipalName string            `json:"principal_name,omitempty"`
	ClientName    string            `json:"client_name,omitempty"`
}

// InclusionProof is an entry's RFC 6962 inclusion proof against a checkpoint.
type InclusionProof struct {
	Index      uint64   `json:"index"`
	Size       uint64   `json:"size"`
	LeafHash   []byte   `json:"leaf_hash"`
	Proof      [][]byte `json:"proof"`
	Checkpoint string   `json:"checkpoint,omitempty"`
}

// ConsistencyProof proves that the tree of size Old is a prefix of the tree of size New.
type ConsistencyProof struct {
	Old   uint64   `json:"old"`
	New   uint64   `json:"new"`
	Proof [][]byte `json:"proof"`
}

// LogKey is the audit log's public key.
type LogKey struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"log_key"` // signed-note verifier key
}
