package api

import (
	"time"

	"github.com/mayflyhq/mayfly"
)

// The access ledger's routes.
const (
	// LedgerEventsPath takes a batch of reports as JSON Lines, from a
	// service's own client or the admin credential.
	LedgerEventsPath = "/v1/ledger/events"
	// LedgerHeartbeatPath takes a LedgerHeartbeat.
	LedgerHeartbeatPath = "/v1/ledger/heartbeat"
	// LedgerPath lists buckets; LedgerGapsPath lists gaps.
	LedgerPath     = "/v1/ledger"
	LedgerGapsPath = "/v1/ledger/gaps"
)

// LedgerAccepted answers a batch of reports once it is durable.
type LedgerAccepted struct {
	Accepted int `json:"accepted"`
}

// LedgerHeartbeat is what a reporting service posts to
// LedgerHeartbeatPath.
type LedgerHeartbeat struct {
	Service         string    `json:"service"`
	Time            time.Time `json:"time"`
	RevocationSeq   int64     `json:"revocation_seq"`
	RevocationAgeMS int64     `json:"revocation_age_ms"`
	Dropped         int64     `json:"dropped,omitempty"`
	DroppedSince    time.Time `json:"dropped_since,omitzero"`
}

// LedgerBucketView is a ledger bucket as the admin API shows it: its
// records as a count and, below a bound, the IDs themselves.
type LedgerBucketView struct {
	Start       time.Time          `json:"start"`
	End         time.Time          `json:"end"`
	Token       mayfly.LedgerToken `json:"token"`
	Namespace   string             `json:"namespace"`
	RecordCount uint64             `json:"record_count"`
	// Records lists the IDs when there are at most LedgerShowIDs.
	Records      []uint64 `json:"records,omitempty"`
	Requests     int64    `json:"requests"`
	Refusals     int64    `json:"refusals"`
	Services     []string `json:"services,omitempty"`
	ServicesMore bool     `json:"services_more,omitempty"`
	Sources      []string `json:"sources,omitempty"`
	SourcesMore  bool     `json:"sources_more,omitempty"`
}

// LedgerShowIDs bounds the IDs a LedgerBucketView lists.
const LedgerShowIDs = 1000
