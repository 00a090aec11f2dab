package ledger

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// Deltas maps reports to the bucket deltas that add them to the ledger,
// in buckets of width starting at multiples of it, sorted by key
// (mayfly.CompareLedgerBuckets), one per bucket key.
//
// Following LedgerBucket: an accepted request counts once as a request in
// each namespace it read in, its IDs joining that bucket's records; one
// that read nothing counts as a request in the namespace "". A refused
// request (which reads nothing) counts as a refusal in "". Every bucket a
// report touches gains its service and source address.
//
// A report's token is keyed by its JTI and Digest; a report of a raw
// token carries only the digest until it is verified, so its caller
// verifies it, and sets the JTI and claims, first.
func Deltas(reports []mayfly.LedgerReport, width time.Duration) ([]mayfly.LedgerBucket, error) {
	a, err := NewAggregate(width)
	if err != nil {
		return nil, err
	}
	a.Add(reports)
	return a.Deltas()
}

// Aggregate gathers the deltas of reports added over time, as Deltas maps
// them: the ingest adds each batch as it arrives and merges the whole
// once in a while. It keeps the reports' ID slices until Deltas.
type Aggregate struct {
	width  time.Duration
	deltas map[aggKey]*delta
	order  []*delta
}

type aggKey struct {
	start       int64
	jti, digest string
	namespace   string
}

// NewAggregate returns an empty Aggregate of buckets of width.
func NewAggregate(width time.Duration) (*Aggregate, error) {
	if width <= 0 || width%time.Second != 0 || width > mayfly.LedgerMaxWidth {
		return nil, &mayfly.Error{Op: "ledger.Deltas", Code: mayfly.Invalid, Field: "width",
			Msg: fmt.Sprintf("a bucket width is a whole number of seconds up to %v, not %v", mayfly.LedgerMaxWidth, width)}
	}
	return &Aggregate{width: width, deltas: map[aggKey]*delta{}}, nil
}

// Len is how many buckets the aggregate holds.
func (a *Aggregate) Len() int { return len(a.deltas) }

func (a *Aggregate) add(r *mayfly.LedgerReport, start time.Time, ns string) *delta {
	k := aggKey{start.UnixNano(), r.JTI, r.Digest, ns}
	d := a.deltas[k]
	if d == nil {
		d = &delta{b: mayfly.LedgerBucket{
			Start: start, Width: a.width, Namespace: ns,
			// The first report of a token names its claims; they are
			// the same in every report of it.
			Token: mayfly.LedgerToken{JTI: r.JTI, Digest: r.Digest, KID: r.KID, ClientID: r.ClientID, Subject: r.Subject},
		}, sorted: true, runsSorted: true}
		a.deltas[k] = d
		a.order = append(a.order, d)
	}
	// A batch's reports of one bucket mostly come from one service
	// and a few addresses: compared as they are, made text and
	// bounded once, at the end.
	if r.Service != d.service || len(d.b.Services) == 0 {
		d.service = r.Service
		d.b.Services, d.b.ServicesMore = union(d.b.Services, d.b.ServicesMore, r.Service, mayfly.LedgerMaxServices)
	}
	if !slices.Contains(d.addrs, r.SourceIP) {
		if len(d.addrs) == maxAddrs {
			d.foldAddrs()
		}
		d.addrs = append(d.addrs, r.SourceIP)
	}
	return d
}

// Add adds reports to the aggregate.
func (a *Aggregate) Add(reports []mayfly.LedgerReport) {
	for i := range reports {
		r := &reports[i]
		start := alignDown(r.Time, a.width)
		switch {
		case r.Refused:
			a.add(r, start, "").b.Refusals++
		case len(r.Records) == 0:
			a.add(r, start, "").b.Requests++
		default:
			for ns, ids := range r.Records {
				d := a.add(r, start, ns)
				d.b.Requests++
				if len(ids) == 0 {
					continue
				}
				set := isSortedSet(ids)
				d.sorted = d.sorted && set && (len(d.ids) == 0 || d.ids[len(d.ids)-1] < ids[0])
				d.runsSorted = d.runsSorted && set
				if len(d.ids) == 0 {
					d.ids = slices.Clip(ids) // the next append copies
				} else {
					d.runs = append(d.runs, len(d.ids))
					d.ids = append(d.ids, ids...)
				}
			}
		}
	}
}

// Deltas returns the aggregate's deltas, sorted by key, one per bucket
// key.
func (a *Aggregate) Deltas() ([]mayfly.LedgerBucket, error) {
	const op = "ledger.Deltas"
	out := make([]mayfly.LedgerBucket, 0, len(a.deltas))
	for _, d := range a.order {
		d.foldAddrs()
		b := d.b
		if len(d.ids) > 0 {
			// As the stores encode records: runs compressed, then the
			// portable serialization.
			if !d.sorted {
				if d.runsSorted {
					// Each report's IDs come sorted: merging them is
					// a few linear passes where a sort is n log n.
					d.ids = recordset.MergeRuns(d.ids, d.runs)
				} else {
					d.ids = slices.Clone(d.ids) // perhaps a report's own
					slices.Sort(d.ids)
				}
				d.ids = slices.Compact(d.ids)
				d.sorted, d.runs = true, nil
			}
			b.Records = recordset.Encode(d.ids)
		}
		if err := b.Check(); err != nil {
			if e, ok := err.(*mayfly.Error); ok {
				e.Op = op
			}
			return nil, err
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b mayfly.LedgerBucket) int { return mayfly.CompareLedgerBuckets(&a, &b) })
	return out, nil
}

// delta is a bucket delta being made.
type delta struct {
	b       mayfly.LedgerBucket
	service string       // the last service added
	addrs   []netip.Addr // distinct sources not yet in b.Sources
	ids     []uint64
	sorted  bool // ids are sorted and distinct, as each report's are
	// runs are where each report's IDs after the first start in ids;
	// runsSorted says each report's are sorted and distinct.
	runs       []int
	runsSorted bool
}

// maxAddrs is how many sources a delta keeps as addresses before it
// makes them text and bounds them.
const maxAddrs = 64

// foldAddrs adds d's addresses to its bounded sources.
func (d *delta) foldAddrs() {
	if len(d.addrs) == 0 {
		return
	}
	text := make([]string, len(d.addrs))
	for i, a := range d.addrs {
		text[i] = a.String()
	}
	var more bool
	d.b.Sources, more = mayfly.BoundedUnion(d.b.Sources, text, mayfly.LedgerMaxSources)
	d.b.SourcesMore = d.b.SourcesMore || more
	d.addrs = d.addrs[:0]
}

// union adds v to a bucket's bounded set, as mayfly.BoundedUnion merges
// them; more stays set once set.
func union(set []string, more bool, v string, max int) ([]string, bool) {
	if _, found := slices.BinarySearch(set, v); found {
		return set, more
	}
	u, m := mayfly.BoundedUnion(set, []string{v}, max)
	return u, more || m
}
