package detect

import (
	"fmt"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

// A bulk-read window slides in nSlices: each key keeps the records read
// per slice, and their union, whose count grows as records are read; a
// slice that leaves the window is dropped and the union made again.
const (
	nSlices  = 10
	baseDays = 7 // the high-water mark is over the last week
)

type bulkState struct {
	width time.Duration // of a slice
	keys  map[string]*counter
}

// counter counts the distinct records a key (a client, principal, subject
// or source) read within the window, per namespace.
type counter struct {
	cur    int64 // the slice now filling, as a number since the epoch
	ns     map[string]*nsCounter
	count  int64 // distinct records in the window, over every namespace
	fired  int64 // the slice it last fired in, or -1
	firing bool  // it fired in the window: its counts teach nothing
	// high-water marks of the window's count, per day, over baseDays.
	days  [baseDays]int64
	marks [baseDays]int64
}

type nsCounter struct {
	slice  [nSlices]*roaring64.Bitmap
	window *roaring64.Bitmap
}

func (b *bulkState) init(cfg Config) {
	b.width = max(cfg.BulkWindow/nSlices, time.Millisecond)
	b.keys = map[string]*counter{}
}

// prune forgets keys that read nothing for a whole window.
func (b *bulkState) prune() {
	var newest int64
	for _, c := range b.keys {
		newest = max(newest, c.cur)
	}
	for k, c := range b.keys {
		if c.cur > newest-nSlices {
			continue
		}
		if c.baseline() == 0 {
			delete(b.keys, k)
		} else {
			clear(c.ns) // its marks are what it keeps
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

// advance moves c to slice s: what left the window is dropped, and the
// count it reached is learned, unless it fired.
func (c *counter) advance(s int64, width time.Duration) {
	if s <= c.cur {
		return // late reports count in the slice now filling
	}
	if !c.firing && c.count > 0 {
		day := c.cur * int64(width) / int64(24*time.Hour)
		i := day % baseDays
		if c.days[i] != day {
			c.days[i], c.marks[i] = day, 0
		}
		c.marks[i] = max(c.marks[i], c.count)
	}
	// Marks of days that left the week are forgotten.
	today := s * int64(width) / int64(24*time.Hour)
	for i := range c.days {
		if c.days[i] <= today-baseDays {
			c.marks[i] = 0
		}
	}
	c.count = 0
	for name, n := range c.ns {
		live := false
		for i, bm := range n.slice {
			if bm == nil {
				continue
			}
			// Slot i holds slice number cur - ((cur - i) mod nSlices).
			held := c.cur - ((c.cur-int64(i))%nSlices+nSlices)%nSlices
			if held <= s-nSlices {
				n.slice[i] = nil
				continue
			}
			live = true
		}
		if !live {
			delete(c.ns, name)
			continue
		}
		var parts []*roaring64.Bitmap
		for _, bm := range n.slice {
			if bm != nil {
				parts = append(parts, bm)
			}
		}
		n.window = roaring64.FastOr(parts...)
		c.count += int64(n.window.GetCardinality())
	}
	if c.fired <= s-nSlices {
		c.firing = false
	}
	c.cur = s
}

// add counts ids read in namespace ns, in slice s.
func (c *counter) add(s int64, ns string, ids []uint64) {
	n := c.ns[ns]
	if n == nil {
		n = &nsCounter{window: roaring64.New()}
		c.ns[ns] = n
	}
	i := ((s % nSlices) + nSlices) % nSlices
	bm := n.slice[i]
	if bm == nil {
		bm = roaring64.New()
		n.slice[i] = bm
	}
	for _, id := range ids {
		if n.window.CheckedAdd(id) {
			c.count++
		}
		bm.Add(id)
	}
}

// bulkRead counts what r read for its client, principal, subject and
// source, and fires for each that read more than it may.
func (e *Engine) bulkRead(r *mayfly.LedgerReport, principal string, sigs []signal) []signal {
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
	for _, k := range keys {
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
			c = &counter{cur: s, ns: map[string]*nsCounter{}, fired: -nSlices - 1}
			b.keys[k] = c
		}
		c.advance(s, b.width)
		s := c.cur // a late report counts in the slice now filling
		// A key past the ceiling has fired: what it reads beyond is not
		// kept, which bounds its memory.
		if c.count > e.cfg.BulkCeiling {
			continue
		}
		for ns, ids := range r.Records {
			c.add(s, ns, ids)
		}
		limit := max(int64(e.cfg.BulkMultiple*float64(c.baseline())), e.cfg.BulkFloor)
		over := c.count > limit || c.count > e.cfg.BulkCeiling
		if !over || c.fired > s-nSlices {
			continue // one firing per key and window
		}
		c.fired, c.firing = s, true
		ev := evidence(r, principal)
		ev.From, ev.To = time.Unix(0, (s-nSlices+1)*int64(b.width)).UTC(), time.Unix(0, (s+1)*int64(b.width)).UTC()
		ev.Observed, ev.Limit = c.count, min(limit, e.cfg.BulkCeiling)
		ev.Detail = fmt.Sprintf("%d distinct records in %s; baseline %d, limit %d", c.count, e.cfg.BulkWindow, c.baseline(), ev.Limit)
		sigs = append(sigs, signal{
			AlertSignal: mayfly.AlertSignal{Rule: mayfly.RuleBulkRead, Subject: k, Evidence: ev,
				Summary: fmt.Sprintf("%s read %d distinct records in %s, more than its limit of %d", k, c.count, e.cfg.BulkWindow, ev.Limit)},
			kid: r.KID, client: r.ClientID, principal: principal,
			// Containment acts on a token's owner: a source is no one's.
			contain: k != keys[3],
		})
	}
	return sigs
}
