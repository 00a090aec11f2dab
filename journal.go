package mayfly

import "time"

// LedgerBatch is one batch of verified reports the ingest accepted, kept
// in the ledger's journal from the moment it is acknowledged until its
// reports are merged into the ledger's buckets. A batch is detected once
// (Seen), then merged and deleted in one transaction, so that a crash at
// any point neither loses a batch nor counts it twice.
type LedgerBatch struct {
	ID       int64     `json:"id"` // set by the store; later batches have larger IDs
	Received time.Time `json:"received"`
	Service  string    `json:"service"` // the service that reported it
	// Body holds the reports as internal/ledger.EncodeBatch encodes them:
	// claims and digests, never a raw token.
	Body []byte `json:"-"`
	Seen bool   `json:"seen"` // detection has seen its reports
}

// LedgerJournalMaxBody bounds a batch's encoded reports.
const LedgerJournalMaxBody = 256 << 20
