// Package ledger owns the access ledger's policy: it reads the reports
// services post (ParseReports) and maps them to bucket deltas (Deltas);
// as buckets age it rolls them into wider ones (minutes into hours into
// days, each day a credential's rather than a token's), and it deletes
// what is past retention.
//
// # Invariants
//
//   - A bucket rolls only once it has ended, and only into the next width,
//     which is a multiple of its own; the store makes each roll atomic and
//     counts nothing twice, so Maintain may be cut short, or run on every
//     replica at once.
//   - A bucket of the narrower width rolls only once the whole wider
//     bucket holding it has ended, so each wider bucket is written once,
//     save for reports that arrive late.
//   - Nothing older than the retention is kept, in any width, gaps
//     included.
//   - A batch of reports is accepted whole or refused whole, and a raw
//     token in it never appears in an error or a log line. A batch
//     ParseReports accepts always maps to deltas that pass
//     LedgerBucket.Check.
package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Store is what the service keeps the ledger in.
type Store interface {
	mayfly.LedgerStore
	mayfly.TxStore
}

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	Store Store
	// Widths are the bucket widths, narrowest first, each a whole number
	// of seconds and a multiple of the one before. Default: a minute, an
	// hour, a day.
	Widths []time.Duration
	// RollAfter[i] is how long after it ends a bucket of Widths[i] rolls
	// into Widths[i+1]; one fewer than Widths. Default: 2 hours for
	// minutes, 2 days for hours.
	RollAfter []time.Duration
	// ByCredential is the width from which buckets keep what each
	// credential (key, client, principal and subject) did rather than
	// each token: buckets rolling into it, or wider, roll into their
	// credential's roll-up bucket (mayfly.LedgerToken.RolledUp). A
	// credential's tokens read much the same records, so their union costs
	// a fraction of their bitmaps apart; which token read what is kept
	// until then. One of Widths but the first. Default: the widest of
	// several Widths (a day); negative: never.
	ByCredential time.Duration
	// Retention is how long the ledger keeps what it records. Default: 400
	// days, a year with room to look back across it.
	Retention time.Duration
	// Batch is how many buckets one transaction rolls. Default: 1,000.
	Batch int
	// UnionMin is how many day buckets must share a key, client,
	// principal or source /24 before the day's union of their records is
	// kept (mayfly.LedgerUnion), where a day is one of Widths; fewer are
	// read apart. Default: 8; negative: no unions.
	UnionMin int
	Clock    mayfly.Clock
	Log      *slog.Logger
}

// Defaults.
var (
	DefaultWidths    = []time.Duration{time.Minute, time.Hour, 24 * time.Hour}
	DefaultRollAfter = []time.Duration{2 * time.Hour, 48 * time.Hour}
)

const (
	DefaultRetention = 400 * 24 * time.Hour
	DefaultBatch     = 1000
	DefaultUnionMin  = 8
)

// Service keeps the ledger within its widths and retention.
type Service struct{ cfg Config }

// New checks cfg and returns a Service on it.
func New(cfg Config) (*Service, error) {
	const op = "ledger.New"
	if cfg.Widths == nil {
		cfg.Widths = DefaultWidths
		if cfg.RollAfter == nil {
			cfg.RollAfter = DefaultRollAfter
		}
	}
	if cfg.ByCredential == 0 && len(cfg.Widths) > 1 {
		cfg.ByCredential = cfg.Widths[len(cfg.Widths)-1]
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.UnionMin == 0 {
		cfg.UnionMin = DefaultUnionMin
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Clock == nil {
		cfg.Clock = mayfly.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	invalid := func(field, format string, args ...any) error {
		e := mayfly.InvalidField(field, format, args...)
		e.Op = op
		return e
	}
	switch {
	case cfg.Store == nil:
		return nil, &mayfly.Error{Op: op, Code: mayfly.Internal, Msg: "no store"}
	case len(cfg.Widths) == 0:
		return nil, invalid("widths", "the ledger needs at least one bucket width")
	case len(cfg.RollAfter) != len(cfg.Widths)-1:
		return nil, invalid("roll_after", "%d widths need %d roll-after times, not %d", len(cfg.Widths), len(cfg.Widths)-1, len(cfg.RollAfter))
	case cfg.Retention < 0:
		return nil, invalid("retention", "retention cannot be negative")
	case cfg.Batch < 0:
		return nil, invalid("batch", "batch cannot be negative")
	}
	for i, w := range cfg.Widths {
		if w <= 0 || w%time.Second != 0 || w > mayfly.LedgerMaxWidth {
			return nil, invalid("widths", "a bucket width is a whole number of seconds up to %v, not %v", mayfly.LedgerMaxWidth, w)
		}
		if i > 0 && (w <= cfg.Widths[i-1] || w%cfg.Widths[i-1] != 0) {
			return nil, invalid("widths", "bucket width %v is not a larger multiple of %v", w, cfg.Widths[i-1])
		}
	}
	if cfg.ByCredential > 0 && !slices.Contains(cfg.Widths[1:], cfg.ByCredential) {
		return nil, invalid("by_credential", "buckets can roll up by credential only into one of the wider widths %v, not %v", cfg.Widths[1:], cfg.ByCredential)
	}
	for i, d := range cfg.RollAfter {
		if d < 0 {
			return nil, invalid("roll_after", "buckets of %v cannot roll before they end (%v)", cfg.Widths[i], d)
		}
	}
	return &Service{cfg: cfg}, nil
}

// Report says what one Maintain did.
type Report struct {
	Rolled map[time.Duration]int // buckets rolled, by the width they had
	Pruned int                   // buckets deleted past retention
	United int                   // days whose unions were made
}

// Maintain rolls every bucket due to roll and deletes what is past
// retention, in transactions of Batch buckets. If ctx ends or a
// transaction fails, what committed stays, and the next Maintain goes on
// from there.
func (s *Service) Maintain(ctx context.Context) (Report, error) {
	now := s.cfg.Clock.Now()
	rep := Report{Rolled: map[time.Duration]int{}}
	for i, to := range s.cfg.Widths[1:] {
		from := s.cfg.Widths[i]
		cutoff := s.Cutoff(i, now)
		for {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			var n int
			err := mayfly.Transact(ctx, s.cfg.Store, func(tx mayfly.Tx) error {
				var err error
				n, err = s.cfg.Store.CompactLedger(tx, from, to, cutoff, s.cfg.Batch, s.cfg.ByCredential > 0 && to >= s.cfg.ByCredential)
				return err
			})
			if err != nil {
				return rep, fmt.Errorf("rolling buckets of %v into %v: %w", from, to, err)
			}
			rep.Rolled[from] += n
			if n < s.cfg.Batch {
				break
			}
		}
	}
	err := mayfly.Transact(ctx, s.cfg.Store, func(tx mayfly.Tx) error {
		var err error
		rep.Pruned, err = s.cfg.Store.PruneLedger(tx, s.PruneBefore(now))
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("deleting buckets past retention: %w", err)
	}
	if rep.United, err = s.unite(ctx, now); err != nil {
		return rep, fmt.Errorf("making day unions: %w", err)
	}
	s.cfg.Log.Debug("ledger maintained", "rolled", rep.Rolled, "pruned", rep.Pruned, "united", rep.United)
	return rep, nil
}

// unite makes the unions of each day that has rolled into day buckets
// and has none, one transaction a day, oldest first.
func (s *Service) unite(ctx context.Context, now time.Time) (int, error) {
	i := slices.Index(s.cfg.Widths, mayfly.LedgerDay)
	if s.cfg.UnionMin < 0 || i < 0 {
		return 0, nil
	}
	end := now // with days the narrowest width, a day is whole once it ends
	if i > 0 {
		end = s.Cutoff(i-1, now)
	}
	var oldest time.Time
	err := s.cfg.Store.ScanLedger(ctx, mayfly.LedgerFilter{Limit: 1, NoRecords: true}, func(b *mayfly.LedgerBucket) error {
		oldest = b.Start
		return nil
	})
	if err != nil || oldest.IsZero() {
		return 0, err
	}
	if pb := s.PruneBefore(now); pb.After(oldest) {
		oldest = pb
	}
	from := alignDown(oldest, mayfly.LedgerDay)
	made, err := s.cfg.Store.LedgerUnionDays(ctx, from, end)
	if err != nil {
		return 0, err
	}
	n := 0
	for day := from; !day.Add(mayfly.LedgerDay).After(end); day = day.Add(mayfly.LedgerDay) {
		if slices.ContainsFunc(made, day.Equal) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var ok bool
		err := mayfly.Transact(ctx, s.cfg.Store, func(tx mayfly.Tx) error {
			var err error
			ok, err = s.cfg.Store.UniteLedgerDay(tx, day, s.cfg.UnionMin)
			return err
		})
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Cutoff is when buckets of Widths[i] that end at or before it roll into
// Widths[i+1], at now: RollAfter[i] before now, rounded down to the
// wider width, so that only wider buckets that have ended fill.
func (s *Service) Cutoff(i int, now time.Time) time.Time {
	to := s.cfg.Widths[i+1]
	return alignDown(now.Add(-s.cfg.RollAfter[i]), to)
}

// PruneBefore is the end at or before which a bucket is past retention,
// at now.
func (s *Service) PruneBefore(now time.Time) time.Time { return now.Add(-s.cfg.Retention) }

// Run runs Maintain every interval until ctx ends, logging what fails.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("ledger maintenance failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// alignDown rounds t down to a multiple of w since the Unix epoch.
func alignDown(t time.Time, w time.Duration) time.Time {
	n := t.UnixNano()
	r := n % int64(w)
	if r < 0 {
		r += int64(w)
	}
	return time.Unix(0, n-r).UTC()
}
