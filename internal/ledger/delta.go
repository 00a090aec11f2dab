package ledger

import (
	"fmt"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
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
// once in a while.
type Aggregate struct {
	width  time.Duration
	deltas map[aggKey]*aggDelta
}

type aggKey struct {
	start       int64
	jti, digest string
	namespace   string
}

type aggDelta struct {
	b   mayfly.LedgerBucket
	ids *roaring64.Bitmap
}

// NewAggregate returns an empty Aggregate of buckets of width.
func NewAggregate(width time.Duration) (*Aggregate, error) {
	if width <= 0 || width%time.Second != 0 || width > mayfly.LedgerMaxWidth {
		return nil, &mayfly.Error{Op: "ledger.Deltas", Code: mayfly.Invalid, Field: "width",
			Msg: fmt.Sprintf("a bucket width is a whole number of seconds up to %v, not %v", mayfly.LedgerMaxWidth, width)}
	}
	return &Aggregate{width: width, deltas: map[aggKey]*aggDelta{}}, nil
}

// Len is how many buckets the aggregate holds.
func (a *Aggregate) Len() int { return len(a.deltas) }

func (a *Aggregate) add(r *mayfly.LedgerReport, ns string) *aggDelta {
	start := alignDown(r.Time, a.width)
	k := aggKey{start.UnixNano(), r.JTI, r.Digest, ns}
	d := a.deltas[k]
	if d == nil {
		d = &aggDelta{b: mayfly.LedgerBucket{
			Start: start, Width: a.width, Namespace: ns,
			// The first report of a token names its claims; they are
			// the same in every report of it.
			Token: mayfly.LedgerToken{JTI: r.JTI, Digest: r.Digest, KID: r.KID, ClientID: r.ClientID, Subject: r.Subject},
		}}
		a.deltas[k] = d
	}
	d.b.Services, d.b.ServicesMore = union(d.b.Services, d.b.ServicesMore, r.Service, mayfly.LedgerMaxServices)
	d.b.Sources, d.b.SourcesMore = union(d.b.Sources, d.b.SourcesMore, r.SourceIP.String(), mayfly.LedgerMaxSources)
	return d
}

// Add adds reports to the aggregate.
func (a *Aggregate) Add(reports []mayfly.LedgerReport) {
	for i := range reports {
		r := &reports[i]
		switch {
		case r.Refused:
			a.add(r, "").b.Refusals++
		case len(r.Records) == 0:
			a.add(r, "").b.Requests++
		default:
			for ns, ids := range r.Records {
				d := a.add(r, ns)
				d.b.Requests++
				if d.ids == nil {
					d.ids = roaring64.New()
				}
				d.ids.AddMany(ids)
			}
		}
	}
}

// Deltas returns the aggregate's deltas, sorted by key, one per bucket
// key.
func (a *Aggregate) Deltas() ([]mayfly.LedgerBucket, error) {
	const op = "ledger.Deltas"
	out := make([]mayfly.LedgerBucket, 0, len(a.deltas))
	for _, d := range a.deltas {
		b := d.b
		if d.ids != nil {
			// As the stores encode records: runs compressed, then the
			// portable serialization.
			d.ids.RunOptimize()
			rec, err := d.ids.ToPortableBytes()
			if err != nil {
				return nil, mayfly.E(op, err)
			}
			b.Records = rec
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

// union adds v to a bucket's bounded set, as mayfly.BoundedUnion merges
// them; more stays set once set.
func union(set []string, more bool, v string, max int) ([]string, bool) {
	if _, found := slices.BinarySearch(set, v); found {
		return set, more
	}
	u, m := mayfly.BoundedUnion(set, []string{v}, max)
	return u, more || m
}
