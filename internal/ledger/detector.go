package ledger

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Detector is what the ingest hands each accepted report to, once: in the
// transaction that marks its batch seen, so that a crash neither skips a
// report nor shows it twice. What Detect raises commits with that mark.
type Detector interface {
	// Detect sees verified reports: for a report of a raw token, its
	// claims are filled and its Check set.
	Detect(ctx context.Context, tx mayfly.Tx, reports []mayfly.LedgerReport) error
	// Heartbeat sees each heartbeat a service sends.
	Heartbeat(ctx context.Context, tx mayfly.Tx, hb mayfly.LedgerHeartbeat) error
	// Tick runs about once a second, for what fires on silence, such as a
	// service that stopped reporting.
	Tick(ctx context.Context, tx mayfly.Tx, now time.Time) error
}
