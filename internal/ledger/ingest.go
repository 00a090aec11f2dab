package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/batch"
)

// The ingest takes verified batches of reports into the ledger in three
// steps, each a transaction that leaves the journal telling what is done:
//
//  1. Accept appends the batch to the journal (group-committed with the
//     batches accepted at the same time) and returns once it is durable.
//  2. Detection claims the batches still unseen, hands their reports to
//     the Detector and marks them seen, all in one audit-log transaction:
//     what Detect raises commits with the mark, or neither does.
//  3. Merging claims seen batches, merges the deltas of their reports
//     into the ledger's buckets, and deletes them, in one transaction.
//
// Each step claims by locking the batches' rows, so processes sharing a
// store never take one batch both; a batch claimed by nobody after a
// crash is found in the journal by Recover. Batches move from step to
// step in memory, so that a report reaches detection within milliseconds
// of its acknowledgement and the ledger is written a few times a minute.

// IngestStore is what the ingest keeps the journal and the ledger in.
type IngestStore interface {
	mayfly.LedgerStore
	mayfly.TxStore
}

// IngestConfig configures an Ingest. Zero fields take the defaults.
type IngestConfig struct {
	Store IngestStore
	// Audit runs detection's transactions; needed with a Detector.
	Audit mayfly.Updater
	// Detector sees every report once; nil detects nothing.
	Detector Detector
	// Width is the width of the buckets reports are merged into; default
	// the narrowest of DefaultWidths.
	Width time.Duration
	// Window is how long reports gather in memory before they are merged;
	// default 2 s.
	Window time.Duration
	// RecoverEvery, if set, looks in the journal this often for batches
	// older than it that no step holds, as those of a process sharing the
	// store that died; zero looks only at Start.
	RecoverEvery time.Duration
	// MaxReports merges sooner, once this many reports have gathered;
	// default 200,000.
	MaxReports int
	Clock      mayfly.Clock
	Log        *slog.Logger
}

// Defaults of IngestConfig.
const (
	DefaultWindow     = 2 * time.Second
	DefaultMaxReports = 200_000
	// retryEvery is how long a step that failed waits to try again.
	retryEvery = time.Second
	// closeWait bounds the last merge at Close.
	closeWait = 5 * time.Second
	// recoverPage is how many journal batches one read of Recover takes.
	recoverPage = 256
)

// Ingest takes accepted batches into the ledger (see above).
type Ingest struct {
	cfg       IngestConfig
	committer *batch.Committer[*pending]

	detectQ queue // committed, to be detected
	mergeQ  queue // seen, to be merged
	dueKick chan struct{}

	stop    context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
	closed  atomic.Bool
	metrics IngestMetrics
}

// IngestMetrics counts what the ingest did, for monitoring.
type IngestMetrics struct {
	Reports     atomic.Int64 // reports accepted
	RecordReads atomic.Int64 // record IDs in them
	Merged      atomic.Int64 // batches merged into the ledger
	Detected    atomic.Int64 // batches detection saw
}

// pending is a batch on its way: its journal row and its reports.
type pending struct {
	b       *mayfly.LedgerBatch
	reports []mayfly.LedgerReport
}

// queue is an unbounded hand-off between steps: the step before never
// waits for the one after.
type queue struct {
	mu    sync.Mutex
	items []*pending
	kick  chan struct{}
}

func newQueue() queue { return queue{kick: make(chan struct{}, 1)} }

func (q *queue) put(ps ...*pending) {
	if len(ps) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, ps...)
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *queue) take() []*pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	ps := q.items
	q.items = nil
	return ps
}

// NewIngest checks cfg and returns an Ingest; Start starts it.
func NewIngest(cfg IngestConfig) (*Ingest, error) {
	const op = "ledger.NewIngest"
	if cfg.Width == 0 {
		cfg.Width = DefaultWidths[0]
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxReports <= 0 {
		cfg.MaxReports = DefaultMaxReports
	}
	if cfg.Clock == nil {
		cfg.Clock = mayfly.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Store == nil:
		return nil, &mayfly.Error{Op: op, Code: mayfly.Internal, Msg: "no store"}
	case cfg.Detector != nil && cfg.Audit == nil:
		return nil, &mayfly.Error{Op: op, Code: mayfly.Internal, Msg: "a detector needs the audit log"}
	}
	if _, err := NewAggregate(cfg.Width); err != nil {
		return nil, err
	}
	in := &Ingest{cfg: cfg, detectQ: newQueue(), mergeQ: newQueue(), dueKick: make(chan struct{}, 1)}
	in.committer = batch.New(in.append)
	return in, nil
}

// Metrics are the ingest's counters.
func (in *Ingest) Metrics() *IngestMetrics { return &in.metrics }

// Start recovers what the journal holds from before, and starts the
// steps after the append, until Close.
func (in *Ingest) Start(ctx context.Context) error {
	in.ctx, in.stop = context.WithCancel(context.WithoutCancel(ctx))
	if err := in.Recover(ctx, time.Time{}); err != nil {
		in.stop()
		return err
	}
	in.wg.Add(2)
	go in.detectLoop()
	go in.mergeLoop()
	if in.cfg.Detector != nil {
		in.wg.Add(1)
		go in.tickLoop()
	}
	if every := in.cfg.RecoverEvery; every > 0 {
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-in.ctx.Done():
					return
				case <-t.C:
				}
				if err := in.Recover(in.ctx, in.cfg.Clock.Now().Add(-every)); err != nil && in.ctx.Err() == nil {
					in.cfg.Log.Error("looking for ledger batches left behind failed", "err", err)
				}
			}
		}()
	}
	return nil
}

// Recover hands the journal's batches received at or before until (zero:
// all) to the step each is due for: the unseen to detection, the rest to
// merging. A batch another process, or this one, takes meanwhile is
// passed over when it is claimed.
func (in *Ingest) Recover(ctx context.Context, until time.Time) error {
	var after int64
	n := 0
	for {
		bs, err := in.cfg.Store.LedgerJournal(ctx, after, recoverPage)
		if err != nil {
			return fmt.Errorf("reading the ledger's journal: %w", err)
		}
		if len(bs) == 0 {
			break
		}
		for _, b := range bs {
			after = b.ID
			if !until.IsZero() && b.Received.After(until) {
				continue
			}
			reports, err := DecodeBatch(b.Body)
			if err != nil {
				// Left in the journal, for an operator to see: it holds
				// what a service was told is kept.
				in.cfg.Log.Error("a journal batch does not decode; it stays in the journal", "batch", b.ID, "err", err)
				continue
			}
			p := &pending{b: b, reports: reports}
			b.Body = nil
			if b.Seen || in.cfg.Detector == nil {
				in.mergeQ.put(p)
			} else {
				in.detectQ.put(p)
			}
			n++
		}
	}
	if n > 0 {
		in.cfg.Log.Info("ledger journal batches recovered", "batches", n)
	}
	return nil
}

// Accept appends a batch of verified reports from service to the journal
// and returns once it is durable; detection and merging follow. No report
// may hold a raw token.
func (in *Ingest) Accept(ctx context.Context, service string, reports []mayfly.LedgerReport) (*mayfly.LedgerBatch, error) {
	const op = "ledger.Accept"
	if in.closed.Load() {
		return nil, &mayfly.Error{Op: op, Code: mayfly.Unavailable, Msg: "the ledger's ingest is shutting down"}
	}
	for i := range reports {
		if reports[i].Token != "" {
			return nil, &mayfly.Error{Op: op, Code: mayfly.Internal, Msg: fmt.Sprintf("report %d still holds its raw token", i+1)}
		}
	}
	body, err := EncodeBatch(reports)
	if err != nil {
		return nil, mayfly.E(op, err)
	}
	p := &pending{b: &mayfly.LedgerBatch{Received: in.cfg.Clock.Now(), Service: service, Body: body}, reports: reports}
	if err := in.committer.Add(ctx, p); err != nil {
		if errors.Is(err, batch.ErrClosed) {
			return nil, &mayfly.Error{Op: op, Code: mayfly.Unavailable, Msg: "the ledger's ingest is shutting down"}
		}
		return nil, err
	}
	in.metrics.Reports.Add(int64(len(reports)))
	var reads int64
	for i := range reports {
		for _, ids := range reports[i].Records {
			reads += int64(len(ids))
		}
	}
	in.metrics.RecordReads.Add(reads)
	return p.b, nil
}

// append is the committer's flush: one transaction for every batch
// accepted meanwhile.
func (in *Ingest) append(ctx context.Context, ps []*pending) error {
	bs := make([]*mayfly.LedgerBatch, len(ps))
	for i, p := range ps {
		bs[i] = p.b
	}
	err := mayfly.Transact(ctx, in.cfg.Store, func(tx mayfly.Tx) error { return in.cfg.Store.AppendLedgerBatches(tx, bs) })
	if err != nil {
		return err
	}
	for _, p := range ps {
		// Kept in memory as reports from here; the journal has the bytes.
		p.b = &mayfly.LedgerBatch{ID: p.b.ID, Received: p.b.Received, Service: p.b.Service}
	}
	if in.cfg.Detector == nil {
		in.mergeQ.put(ps...)
	} else {
		in.detectQ.put(ps...)
	}
	return nil
}

// Heartbeat records what a service dropped as a gap, and hands the
// heartbeat to the Detector, in one transaction.
func (in *Ingest) Heartbeat(ctx context.Context, hb mayfly.LedgerHeartbeat) error {
	var gap *mayfly.LedgerGap
	if hb.Dropped > 0 {
		from := hb.DroppedSince
		if from.IsZero() || from.After(hb.Time) {
			from = hb.Time
		}
		gap = &mayfly.LedgerGap{Service: hb.Service, From: from, To: hb.Time, Dropped: hb.Dropped}
		if err := gap.Check(); err != nil {
			return err
		}
	}
	if gap == nil && in.cfg.Detector == nil {
		return nil
	}
	fn := func(tx mayfly.Tx) error {
		if gap != nil {
			if err := in.cfg.Store.RecordLedgerGaps(tx, []*mayfly.LedgerGap{gap}); err != nil {
				return err
			}
		}
		if in.cfg.Detector != nil {
			return in.cfg.Detector.Heartbeat(ctx, tx, hb)
		}
		return nil
	}
	if in.cfg.Audit != nil {
		return in.cfg.Audit.Update(ctx, fn)
	}
	return mayfly.Transact(ctx, in.cfg.Store, fn)
}

// detectLoop runs detection on what the journal has committed.
func (in *Ingest) detectLoop() {
	defer in.wg.Done()
	var retry []*pending
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-in.detectQ.kick:
		}
		ps := append(retry, in.detectQ.take()...)
		retry = nil
		if len(ps) == 0 {
			continue
		}
		if err := in.detect(ps); err != nil {
			if in.ctx.Err() != nil {
				return // the journal keeps them for the next start
			}
			in.cfg.Log.Error("ledger detection failed; retrying", "batches", len(ps), "err", err)
			retry = ps
			in.after(retryEvery, &in.detectQ)
		}
	}
}

// after kicks q once d has passed, unless the ingest stops first.
func (in *Ingest) after(d time.Duration, q *queue) {
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-in.ctx.Done():
		case <-t.C:
			select {
			case q.kick <- struct{}{}:
			default:
			}
		}
	}()
}

// detect hands the reports of the batches still unseen to the Detector,
// and marks them seen, in one transaction; then every batch goes on to
// merging, whoever saw it.
func (in *Ingest) detect(ps []*pending) error {
	// A batch recovered while it was on its way is here twice.
	byID := make(map[int64]*pending, len(ps))
	ids := make([]int64, 0, len(ps))
	uniq := ps[:0]
	for _, p := range ps {
		if byID[p.b.ID] == nil {
			byID[p.b.ID] = p
			ids = append(ids, p.b.ID)
			uniq = append(uniq, p)
		}
	}
	ps = uniq
	slices.Sort(ids)
	err := in.cfg.Audit.Update(in.ctx, func(tx mayfly.Tx) error {
		claimed, err := in.cfg.Store.ClaimLedgerBatches(tx, ids, true)
		if err != nil || len(claimed) == 0 {
			return err
		}
		var reports []mayfly.LedgerReport
		for _, id := range claimed {
			reports = append(reports, byID[id].reports...)
		}
		if err := in.cfg.Detector.Detect(in.ctx, tx, reports); err != nil {
			return fmt.Errorf("detection: %w", err)
		}
		return in.cfg.Store.MarkLedgerBatchesSeen(tx, claimed)
	})
	if err != nil {
		return err
	}
	in.metrics.Detected.Add(int64(len(ps)))
	in.kickTick()
	in.mergeQ.put(ps...)
	return nil
}

// mergeLoop gathers seen batches for a window, then merges them.
func (in *Ingest) mergeLoop() {
	defer in.wg.Done()
	m := &merger{in: in}
	tick := time.NewTicker(in.cfg.Window)
	defer tick.Stop()
	for {
		select {
		case <-in.ctx.Done():
			// What gathered is in the journal, seen: a flush now, bounded,
			// spares the next start recovering it.
			m.add(in.mergeQ.take())
			ctx, cancel := context.WithTimeout(context.Background(), closeWait)
			defer cancel()
			if err := m.flush(ctx); err != nil {
				in.cfg.Log.Warn("merging the last ledger batches failed; the journal keeps them", "err", err)
			}
			return
		case <-in.mergeQ.kick:
			m.add(in.mergeQ.take())
			if m.reports < in.cfg.MaxReports {
				continue
			}
		case <-tick.C:
		}
		if err := m.flush(in.ctx); err != nil && in.ctx.Err() == nil {
			in.cfg.Log.Error("merging ledger batches failed; retrying", "batches", len(m.ps), "err", err)
		}
	}
}

// merger holds the batches gathered for the next merge, and their
// deltas.
type merger struct {
	in      *Ingest
	ps      []*pending
	ids     map[int64]bool // of ps
	agg     *Aggregate
	reports int
}

func (m *merger) add(ps []*pending) {
	if len(ps) == 0 {
		return
	}
	if m.agg == nil {
		m.agg, _ = NewAggregate(m.in.cfg.Width) // checked by NewIngest
		m.ids = map[int64]bool{}
	}
	for _, p := range ps {
		if m.ids[p.b.ID] {
			continue // recovered while it was on its way
		}
		m.ids[p.b.ID] = true
		m.agg.Add(p.reports)
		m.reports += len(p.reports)
		m.ps = append(m.ps, p)
	}
}

// flush merges what gathered and deletes its batches from the journal, in
// one transaction. A batch another transaction claimed meanwhile is left
// to it: the deltas are then made again from the batches claimed.
func (m *merger) flush(ctx context.Context) error {
	if len(m.ps) == 0 {
		return nil
	}
	in := m.in
	ids := make([]int64, len(m.ps))
	for i, p := range m.ps {
		ids[i] = p.b.ID
	}
	slices.Sort(ids)
	deltas, err := m.agg.Deltas()
	if err != nil {
		return err
	}
	err = mayfly.Transact(ctx, in.cfg.Store, func(tx mayfly.Tx) error {
		claimed, err := in.cfg.Store.ClaimLedgerBatches(tx, ids, false)
		if err != nil || len(claimed) == 0 {
			return err
		}
		ds := deltas
		if !slices.Equal(claimed, ids) {
			agg, _ := NewAggregate(in.cfg.Width)
			for _, p := range m.ps {
				if _, ok := slices.BinarySearch(claimed, p.b.ID); ok {
					agg.Add(p.reports)
				}
			}
			if ds, err = agg.Deltas(); err != nil {
				return err
			}
		}
		if err := in.cfg.Store.MergeLedger(tx, ds); err != nil {
			return err
		}
		return in.cfg.Store.DeleteLedgerBatches(tx, claimed)
	})
	if err != nil {
		return err
	}
	in.metrics.Merged.Add(int64(len(m.ps)))
	m.ps, m.agg, m.ids, m.reports = nil, nil, nil, 0
	return nil
}

// dueDetector is a Detector with work due at a time of its own, such as
// a token to look for again once a grace has passed.
type dueDetector interface {
	// Due is when Tick has work, by the ingest's clock; zero: none.
	Due() time.Time
}

// Tick spacing: every second, and sooner when the Detector has work due,
// but never closer than minTick, so that work that stays due (a store
// that fails) cannot spin.
const (
	tickEvery = time.Second
	minTick   = 20 * time.Millisecond
)

// tickLoop calls the Detector's Tick about once a second, and when its
// work is due: a second's wait there would be most of the time from a
// report to its alert.
func (in *Ingest) tickLoop() {
	defer in.wg.Done()
	dd, _ := in.cfg.Detector.(dueDetector)
	t := time.NewTimer(tickEvery)
	defer t.Stop()
	last := time.Now() // of the last tick, real time
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-in.dueKick:
		case <-t.C:
		}
		now := time.Now()
		wait := last.Add(tickEvery).Sub(now)
		if dd != nil {
			if due := dd.Due(); !due.IsZero() {
				wait = min(wait, max(due.Sub(in.cfg.Clock.Now()), last.Add(minTick).Sub(now)))
			}
		}
		if wait > 0 {
			t.Reset(wait)
			continue
		}
		last = now
		t.Reset(tickEvery)
		err := in.cfg.Audit.Update(in.ctx, func(tx mayfly.Tx) error { return in.cfg.Detector.Tick(in.ctx, tx, in.cfg.Clock.Now()) })
		if err != nil && in.ctx.Err() == nil {
			in.cfg.Log.Error("ledger detection tick failed", "err", err)
		}
		if dd != nil && !dd.Due().IsZero() {
			in.kickTick() // to wait for what is still due
		}
	}
}

// kickTick has the tick loop look again at when the Detector's work is
// due.
func (in *Ingest) kickTick() {
	select {
	case in.dueKick <- struct{}{}:
	default:
	}
}

// Depth is how many batches the journal holds, merged into the ledger not
// yet.
func (in *Ingest) Depth(ctx context.Context) (int, error) {
	return in.cfg.Store.LedgerJournalDepth(ctx)
}

// Close stops accepting, waits for the appends under way, merges what has
// been detected, and stops. What is left stays in the journal for the
// next start.
func (in *Ingest) Close() {
	if in.closed.Swap(true) {
		return
	}
	in.committer.Close()
	if in.stop != nil {
		in.stop()
		in.wg.Wait()
	}
}
