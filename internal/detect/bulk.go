package detect

import (
	"fmt"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// A bulk-read window slides in slices: each key keeps the records read
// per slice, and the union of the window's slices before the one
// filling, made once per slice. The union's count plus the filling
// slice's is a bound on the window's count that costs nothing to keep;
// only a key whose bound passes its limit is counted exactly.
const (
	nSlices  = 10
	baseDays = 7 // the high-water mark is over the last week
)

type bulkState struct {
	width   time.Duration // of a slice
	keys    map[string]*counter
	touched []string // keys with staged records
}

// counter counts the distinct records a key (a client, principal, subject
// or source) read within the window, per namespace.
type counter struct {
	cur    int64 // the slice now filling, as a number since the epoch
	ns     map[string]*nsCounter
	count  int64 // distinct records in the window when last counted exactly
	first  int64 // the slice it was first seen in
	fired  int64 // the slice it last fired in
	firing bool  // it fired in the window: it teaches no more than firedAt
	// firedAt is the limit it passed as it fired.
	firedAt int64
	// high-water marks of the window's count, per day, over baseDays.
	days  [baseDays]int64
	marks [baseDays]int64
	// held are the counts of the windows that end in the last nSlices
	// slices, not learned yet: they overlap the window being judged, and
	// an export read over several slices must not raise its own limit.
	held [nSlices]struct{ slice, n int64 }
	// staged holds what this Detect read, per namespace, to count at its
	// end; last is the latest report of them, for the evidence.
	staged                 map[string][]uint64
	last                   mayfly.AlertEvidence
	kid, client, principal string
	source                 bool
	genuine                bool // the latest report's token is one Mayfly issued
}

type nsCounter struct {
	slice [nSlices]*roaring64.Bitmap
	base  *roaring64.Bitmap // union of the window's slices before the one filling
	baseN int64
}

func slot(s int64) int { return int(((s % nSlices) + nSlices) % nSlices) }

// bound is at least the distinct records of the window up to slice s.
func (n *nsCounter) bound(s int64) int64 {
	if cur := n.slice[slot(s)]; cur != nil {
		return n.baseN + int64(cur.GetCardinality())
	}
	return n.baseN
}

// exact is the distinct records of the window up to slice s.
func (n *nsCounter) exact(s int64) int64 {
	cur := n.slice[slot(s)]
	if cur == nil {
		return n.baseN
	}
	return n.baseN + int64(cur.GetCardinality()-cur.AndCardinality(n.base))
}

func (b *bulkState) init(cfg Config) {
	b.width = max(cfg.BulkWindow/nSlices, time.Millisecond)
	b.keys = map[string]*counter{}
}

// prune forgets keys that read nothing for a whole window, but the marks
// of those that have them.
func (b *bulkState) prune() {
	var newest int64
	for _, c := range b.keys {
		newest = max(newest, c.cur)
	}
	for k, c := range b.keys {
		if c.cur > newest-nSlices || len(c.staged) > 0 {
			continue
		}
		// Quiet for a window: what it holds no longer overlaps what it
		// will read.
		c.learnHeld(c.cur, b.width)
		if c.baseline() == 0 {
			delete(b.keys, k)
		} else {
			clear(c.ns)
			c.count = 0
		}
	}
}

func (c *counter) baseline() int64 {
	var m int64
	for _, v := range c.marks {
		m = max(m, v)
	}
	return m
}

func (c *counter) exact() int64 {
	var n int64
	for _, ns := range c.ns {
		n += ns.exact(c.cur)
	}
	return n
}

// advance moves c to slice s: the count the window reached is learned,
// up to the limit it passed if it fired, once no window it overlaps is
// judged any more; and what left the window is dropped. A window that
// fired teaches its limit: a legitimate growth fires once and is learned,
// and an export does not raise the baseline beyond what the one before
// allowed.
func (c *counter) advance(s int64, width time.Duration) {
	if s <= c.cur {
		return // late reports count in the slice now filling
	}
	n := c.exact()
	if c.firing {
		n = min(n, c.firedAt)
	}
	c.learnHeld(s-nSlices, width)
	if n > 0 {
		if c.cur <= s-nSlices {
			c.learn(c.cur, n, width)
		} else {
			c.held[slot(c.cur)] = struct{ slice, n int64 }{c.cur, n}
		}
	}
	// Marks of days that left the week are forgotten.
	today := s * int64(width) / int64(24*time.Hour)
	for i := range c.days {
		if c.days[i] <= today-baseDays {
			c.marks[i] = 0
		}
	}
	for name, n := range c.ns {
		var live []*roaring64.Bitmap
		for i, bm := range n.slice {
			if bm == nil {
				continue
			}
			// Slot i holds slice number cur - ((cur - i) mod nSlices).
			if held := c.cur - ((c.cur-int64(i))%nSlices+nSlices)%nSlices; held <= s-nSlices {
				n.slice[i] = nil
				continue
			}
			live = append(live, bm)
		}
		if len(live) == 0 {
			delete(c.ns, name)
			continue
		}
		n.base = roaring64.FastOr(live...)
		n.baseN = int64(n.base.GetCardinality())
	}
	if c.fired <= s-nSlices {
		c.firing = false
	}
	c.cur = s
}

// learnHeld learns the held counts of windows that end by slice upTo.
func (c *counter) learnHeld(upTo int64, width time.Duration) {
	for i, h := range c.held {
		if h.n > 0 && h.slice <= upTo {
			c.learn(h.slice, h.n, width)
			c.held[i].n = 0
		}
	}
}

// learn raises the high-water mark of the day of slice s to n.
func (c *counter) learn(s, n int64, width time.Duration) {
	day := s * int64(width) / int64(24*time.Hour)
	i := day % baseDays
	if c.days[i] != day {
		c.days[i], c.marks[i] = day, 0
	}
	c.marks[i] = max(c.marks[i], n)
}

// add adds ids read in namespace ns to the slice filling. ids are runs
// of sorted IDs, each report's, one after another; add reorders them.
func (c *counter) add(ns string, ids []uint64) {
	n := c.ns[ns]
	if n == nil {
		n = &nsCounter{base: roaring64.New()}
		c.ns[ns] = n
	}
	i := slot(c.cur)
	bm := n.slice[i]
	if bm == nil {
		bm = roaring64.New()
		n.slice[i] = bm
	}
	ids = slices.Compact(sortRuns(ids))
	if len(ids) < minBitmapIDs {
		bm.AddMany(ids)
		return
	}
	// roaring64 adds IDs one by one, each a container lookup: many are
	// cheaper built into containers at once and united.
	read := roaring64.New()
	if err := read.UnmarshalBinary(recordset.Encode(ids)); err != nil {
		panic(fmt.Sprintf("detect: recordset encoded what roaring64 cannot read: %v", err)) // a bug, not input
	}
	bm.Or(read)
}

// minBitmapIDs is the fewest IDs add unites as a bitmap rather than adds
// one by one; minRunLength the shortest average run that sortRuns merges rather
// than sorts. Both as measured on 10- and 1,000-ID reports (BENCHMARKS.md).
const (
	minBitmapIDs = 256
	minRunLength = 32
)

// sortRuns sorts ids, which are sorted runs one after another: short runs
// by sorting, long ones by merging them (recordset.MergeRuns).
// It returns the sorted IDs, in ids or in a new slice.
func sortRuns(ids []uint64) []uint64 {
	bounds := []int{0}
	for i := 1; i < len(ids); i++ {
		if ids[i] < ids[i-1] {
			bounds = append(bounds, i)
		}
	}
	bounds = append(bounds, len(ids))
	if len(bounds) == 2 {
		return ids
	}
	if len(ids) < minRunLength*(len(bounds)-1) {
		slices.Sort(ids)
		return ids
	}
	return recordset.MergeRuns(ids, bounds[1:len(bounds)-1])
}

// bulkRead stages what r read for its client, principal, subject and
// source; flushBulk counts it, once per Detect: records added sorted and
// together cost a fraction of what they cost one by one.
func (e *Engine) bulkRead(r *mayfly.LedgerReport, principal string, genuine bool, sigs []signal) []signal {
	if len(r.Records) == 0 {
		return sigs
	}
	b := &e.bulk
	s := r.Time.UnixNano() / int64(b.width)
	keys := [4]string{}
	if r.ClientID != "" {
		keys[0] = "client:" + r.ClientID
	}
	if principal != "" {
		keys[1] = "principal:" + principal
	}
	if r.Subject != "" && r.Subject != r.ClientID && r.Subject != principal {
		keys[2] = "sub:" + r.Subject
	}
	if r.SourceIP.IsValid() {
		keys[3] = "source:" + r.SourceIP.Unmap().String()
	}
	for i, k := range keys {
		if k == "" {
			continue
		}
		c := b.keys[k]
		if c == nil {
			if len(b.keys) >= maxKeys*4 {
				b.prune()
				if len(b.keys) >= maxKeys*4 {
					continue // full of keys reading now: this one is not counted
				}
			}
			c = &counter{cur: s, first: s, ns: map[string]*nsCounter{}, fired: -nSlices - 1}
			b.keys[k] = c
		}
		if s > c.cur {
			if len(c.staged) > 0 {
				sigs = e.count(k, c, sigs)
			}
			c.advance(s, b.width)
		}
		// A key past the ceiling has fired: what it reads beyond is not
		// kept until the window moves on, which bounds its memory.
		if c.firing && c.count > e.cfg.BulkCeiling {
			continue
		}
		if len(c.staged) == 0 {
			b.touched = append(b.touched, k)
		}
		if c.staged == nil {
			c.staged = map[string][]uint64{}
		}
		for ns, ids := range r.Records {
			c.staged[ns] = append(c.staged[ns], ids...)
		}
		c.last = evidence(r, principal)
		c.kid, c.client, c.principal, c.source, c.genuine = r.KID, r.ClientID, principal, i == 3, genuine
	}
	return sigs
}

// flushBulk counts what was staged, and fires for the keys that read more
// than they may.
func (e *Engine) flushBulk(sigs []signal) []signal {
	for _, k := range e.bulk.touched {
		if c := e.bulk.keys[k]; c != nil && len(c.staged) > 0 {
			sigs = e.count(k, c, sigs)
		}
	}
	e.bulk.touched = e.bulk.touched[:0]
	return sigs
}

// count adds c's staged records to its slice now filling, and fires if it
// read more than it may.
func (e *Engine) count(k string, c *counter, sigs []signal) []signal {
	s := c.cur
	for ns, ids := range c.staged {
		c.add(ns, ids)
		delete(c.staged, ns)
	}
	limit := min(max(int64(e.cfg.BulkMultiple*float64(c.baseline())), e.cfg.BulkFloor), e.cfg.BulkCeiling)
	if time.Duration(s-c.first)*e.bulk.width < e.cfg.BulkLearning {
		limit = e.cfg.BulkCeiling // learning: only the ceiling holds
	}
	var bound int64
	for _, n := range c.ns {
		bound += n.bound(s)
	}
	if bound <= limit || c.fired > s-nSlices {
		return sigs // within its limit, or fired in this window already
	}
	if c.count = c.exact(); c.count <= limit {
		return sigs
	}
	c.fired, c.firing, c.firedAt = s, true, limit
	width := e.bulk.width
	ev := c.last
	ev.From, ev.To = time.Unix(0, (s-nSlices+1)*int64(width)).UTC(), time.Unix(0, (s+1)*int64(width)).UTC()
	ev.Observed, ev.Limit = c.count, limit
	ev.Detail = fmt.Sprintf("%d distinct records in %s; baseline %d, limit %d", c.count, e.cfg.BulkWindow, c.baseline(), ev.Limit)
	return append(sigs, signal{
		AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleBulkRead, Subject: k, Evidence: ev,
			Summary: fmt.Sprintf("%s read %d distinct records in %s, more than its limit of %d", k, c.count, e.cfg.BulkWindow, ev.Limit)},
		kid: c.kid, client: c.client, principal: c.principal,
		// Containment acts on a token's owner: a source is no one's, and a
		// forged token's is whom the forger named.
		contain: !c.source && c.genuine,
	})
}
