package token

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Issuance records are kept for a retention, then deleted a step at a time
// (a day or a batch, as the store keeps them), each step recorded in the
// audit log, in its transaction, with a digest of what it deleted.

const (
	// DefaultIssuanceRetention matches the access ledger's: a token the
	// ledger holds can be traced to its client for as long.
	DefaultIssuanceRetention = 400 * 24 * time.Hour
	// MinIssuanceRetention is the shortest retention allowed. The ledger
	// rolls a token's hours into days two days after they end, and looks
	// the token's issuance record up then: a token lives at most an hour
	// (mayfly.MaxTokenTTL: an hour), rolling waits for the day to end, and a week
	// leaves room for maintenance that was held up.
	MinIssuanceRetention = 7 * 24 * time.Hour
	// DefaultPruneBatch bounds the records deleted in one transaction
	// where they are deleted one by one.
	DefaultPruneBatch = 10_000
)

// RetentionConfig configures Retention. Zero Keep and Batch take the
// defaults.
type RetentionConfig struct {
	Store mayfly.TokenStore
	Audit mayfly.Updater
	Keep  time.Duration
	Batch int
	Clock mayfly.Clock
	Log   *slog.Logger
}

// Retention deletes issuance records older than its Keep.
type Retention struct{ cfg RetentionConfig }

// NewRetention checks cfg and returns a Retention on it. A Keep below
// MinIssuanceRetention is refused.
func NewRetention(cfg RetentionConfig) (*Retention, error) {
	if cfg.Keep == 0 {
		cfg.Keep = DefaultIssuanceRetention
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultPruneBatch
	}
	if cfg.Clock == nil {
		cfg.Clock = mayfly.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Keep < MinIssuanceRetention {
		e := mayfly.InvalidField("issuance_retention", "issuance records must be kept at least %v (%d days): the ledger looks them up when it rolls a token's reads into days; %v is too short",
			MinIssuanceRetention, int(MinIssuanceRetention/(24*time.Hour)), cfg.Keep)
		e.Op = "token.NewRetention"
		return nil, e
	}
	return &Retention{cfg: cfg}, nil
}

// Before is the bound retention deletes below at now: the UTC midnight at
// or before now less Keep, so that whole days go.
func (r *Retention) Before(now time.Time) time.Time {
	return now.UTC().Add(-r.cfg.Keep).Truncate(24 * time.Hour)
}

// Maintain deletes every record past retention, a step at a time, and
// returns how many it deleted. If ctx ends or a step fails, what committed
// stays, and the next Maintain goes on from there.
func (r *Retention) Maintain(ctx context.Context) (int64, error) {
	now := r.cfg.Clock.Now()
	before := r.Before(now)
	var n int64
	for ctx.Err() == nil {
		p, err := r.cfg.Store.PruneIssuances(ctx, r.cfg.Audit, mayfly.IssuancePrune{Before: before, Now: now, Batch: r.cfg.Batch,
			Record: func(tx mayfly.Tx, p mayfly.IssuancesPruned) error {
				d := p.Details()
				d["before"] = before.Format(time.RFC3339)
				_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionIssuancesPruned, Actor: "mayfly", Details: d})
				return err
			}})
		if err != nil {
			return n, fmt.Errorf("pruning issuance records issued before %v: %w", before, err)
		}
		if p == (mayfly.IssuancesPruned{}) {
			break
		}
		n += p.Count
		r.cfg.Log.Info("issuance records pruned", "before", before, "day", p.Day, "count", p.Count, "sha256", p.SHA256)
	}
	return n, ctx.Err()
}
