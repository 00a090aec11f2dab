package scope

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// idSet gathers record IDs from many buckets. Or-ing each bucket's small,
// scattered bitmap into a large one walks the large one's containers every
// time, which cost most of a wide scope; IDs are gathered in a slice
// instead and added sorted, in bulk, when the slice grows or the set is
// read.
type idSet struct {
	rb      *roaring64.Bitmap
	pending []uint64
}

// pendingMax bounds the IDs gathered before they are added: 8 MiB.
const pendingMax = 1 << 20

func newIDSet() *idSet { return &idSet{rb: roaring64.New()} }

// addIDs adds sorted IDs.
func (s *idSet) addIDs(ids []uint64) {
	s.pending = append(s.pending, ids...)
	if len(s.pending) >= pendingMax {
		s.settle()
	}
}

// addBitmap adds a bitmap's IDs: a dense bucket, which a bitmap holds
// better than a slice.
func (s *idSet) addBitmap(rb *roaring64.Bitmap) {
	s.settle()
	s.rb.Or(rb)
}

// settle adds the gathered IDs to the bitmap.
func (s *idSet) settle() {
	if len(s.pending) == 0 {
		return
	}
	slices.Sort(s.pending)
	s.rb.AddMany(slices.Compact(s.pending))
	s.pending = s.pending[:0]
}

// bitmap returns the set, every gathered ID added.
func (s *idSet) bitmap() *roaring64.Bitmap {
	s.settle()
	return s.rb
}
