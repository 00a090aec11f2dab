package recordset

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Gather gathers record IDs from many buckets. Or-ing each bucket's small,
// scattered bitmap into a large one walks the large one's containers every
// time, and adding a bucket's IDs one by one searches for each one's
// container; either cost most of a wide scope. IDs are gathered in a
// slice instead, radix-sorted, and added in order, which fills each
// container once.
type Gather struct {
	rb      *roaring64.Bitmap
	pending []uint64
	scratch []uint64
	max     int // IDs gathered before they are added
}

// pendingMax bounds the IDs gathered before they are added: 32 MiB.
const pendingMax = 1 << 22

// NewGather returns an empty Gather.
func NewGather() *Gather { return NewGatherOf(pendingMax) }

// NewGatherOf returns an empty Gather that gathers up to max IDs (8 bytes
// each, and as many again to sort them) before it adds them: less memory
// where many are gathering at once.
func NewGatherOf(max int) *Gather { return &Gather{rb: roaring64.New(), max: max} }

// AddIDs adds IDs, in any order.
func (s *Gather) AddIDs(ids []uint64) {
	s.pending = append(s.pending, ids...)
	if len(s.pending) >= s.max {
		s.settle()
	}
}

// AddBitmap adds a bitmap's IDs: a dense bucket, which a bitmap holds
// better than a slice.
func (s *Gather) AddBitmap(rb *roaring64.Bitmap) {
	s.settle()
	s.rb.Or(rb)
}

// settle adds the gathered IDs to the bitmap.
func (s *Gather) settle() {
	if len(s.pending) == 0 {
		return
	}
	s.scratch = radixSort(s.pending, s.scratch)
	sorted := slices.Compact(s.pending)
	if s.rb.IsEmpty() {
		s.rb.AddMany(sorted)
	} else {
		s.rb.Or(roaring64.BitmapOf(sorted...))
	}
	s.pending = s.pending[:0]
}

// Bitmap returns the set, every gathered ID added.
func (s *Gather) Bitmap() *roaring64.Bitmap {
	s.settle()
	return s.rb
}

// radixSort sorts a in place, 16 bits a pass, least significant first,
// up to the highest bit any value has, skipping a pass where every value
// has the same digit; it returns the scratch space it used, for the next
// call.
func radixSort(a, scratch []uint64) []uint64 {
	if cap(scratch) < len(a) {
		scratch = make([]uint64, len(a))
	}
	buf := scratch[:len(a)]
	var count [1 << 16]int
	var all uint64
	for _, v := range a {
		all |= v
	}
	src, dst := a, buf
	for shift := uint(0); shift < 64 && all>>shift != 0; shift += 16 {
		clear(count[:])
		for _, v := range src {
			count[v>>shift&0xffff]++
		}
		if count[src[0]>>shift&0xffff] == len(src) {
			continue // one digit: nothing to move
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, v := range src {
			d := v >> shift & 0xffff
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
	return scratch
}
