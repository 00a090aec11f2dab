// Package recordset reads and writes sets of record IDs, sorted and
// distinct, as roaring64 bitmaps in their portable serialization (the
// form the access ledger stores them in), without making the bitmaps.
//
// For scattered IDs roaring allocates a container for nearly every ID,
// which made most of the cost of mapping reports to buckets and of
// merging buckets; these read and write the same bytes from a slice.
// Encode writes byte for byte what roaring64 writes after RunOptimize.
// Decode is stricter than roaring64: what it reads, roaring64 reads as
// the same set, and what it refuses, a caller may hand to roaring64.
package recordset

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Encode returns the portable serialization of the roaring64 bitmap of
// ids, sorted and distinct, byte for byte what roaring64 writes
// after RunOptimize, without making the bitmap: for scattered IDs, where
// roaring allocates a container for nearly every ID, making it took three
// quarters of the time of mapping reports to bucket deltas.
//
// The format (github.com/RoaringBitmap/RoaringFormatSpec): a uint64 count
// of 32-bit buckets, then each bucket's high 32 bits as a uint32 and its
// 32-bit roaring bitmap: a cookie (12346 and a uint32 count of
// containers, or, if any container is a run container, 12347 and the
// count less one as uint16s, then a bitset of which are runs), each
// container's high 16 bits and cardinality less one as uint16s, each
// container's offset as a uint32 (without runs, or with at least 4
// containers), then the containers: an array of uint16s, a bitset of
// 1024 uint64s, or a uint16 count of runs and each run's start and length
// less one. All little-endian. RunOptimize makes a container a run
// container if that is smaller than both other kinds, as roaring sizes
// them (2 + 4 a run; 2 an ID; 8192 and the container's 32-byte header),
// else an array of up to 4096 IDs, else a bitset.
func Encode(ids []uint64) []byte {
	n := 0
	for i := range ids {
		if i == 0 || ids[i]>>16 != ids[i-1]>>16 {
			n++
		}
	}
	cs := make([]container, 0, n)
	for i := 0; i < len(ids); {
		c := container{high: ids[i] >> 16, from: int32(i), runs: 1}
		j := i + 1
		for ; j < len(ids) && ids[j]>>16 == c.high; j++ {
			if ids[j] != ids[j-1]+1 {
				c.runs++
			}
		}
		c.to = int32(j)
		card := j - i
		switch {
		case 2+4*int(c.runs) < min(2*card, 8192+32):
			c.kind = runContainer
		case card <= 4096:
			c.kind = arrayContainer
		default:
			c.kind = bitsetContainer
		}
		cs = append(cs, c)
		i = j
	}
	buckets := 0
	size := 8
	for k := 0; k < len(cs); {
		n, _, bytes := bucketAt(cs[k:])
		size += 4 + bytes
		buckets++
		k += n
	}
	b := make([]byte, 0, size)
	b = binary.LittleEndian.AppendUint64(b, uint64(buckets))
	for k := 0; k < len(cs); {
		n, hasRun, _ := bucketAt(cs[k:])
		b = binary.LittleEndian.AppendUint32(b, uint32(cs[k].high>>16))
		b = appendBucket(b, cs[k:k+n], ids, hasRun)
		k += n
	}
	return b
}

type container struct {
	high     uint64 // the IDs' bits above 16
	from, to int32  // its IDs in ids
	runs     int32
	kind     containerKind
}

type containerKind uint8

const (
	arrayContainer containerKind = iota
	bitsetContainer
	runContainer
)

// size is what the container's content takes.
func (c *container) size() int {
	switch c.kind {
	case runContainer:
		return 2 + 4*int(c.runs)
	case bitsetContainer:
		return 8192
	}
	return 2 * int(c.to-c.from)
}

// bucketAt says how many of cs make the first 32-bit bucket, whether it
// has a run container, and how many bytes it takes.
func bucketAt(cs []container) (n int, hasRun bool, size int) {
	for n < len(cs) && cs[n].high>>16 == cs[0].high>>16 {
		hasRun = hasRun || cs[n].kind == runContainer
		size += 4 + cs[n].size() // its key and cardinality, its content
		n++
	}
	if hasRun {
		size += 4 + (n+7)/8
		if n >= 4 {
			size += 4 * n
		}
	} else {
		size += 8 + 4*n
	}
	return n, hasRun, size
}

// appendBucket appends the 32-bit roaring bitmap of cs.
func appendBucket(b []byte, cs []container, ids []uint64, hasRun bool) []byte {
	le := binary.LittleEndian
	n := len(cs)
	var preamble int
	if hasRun {
		b = le.AppendUint16(b, 12347)
		b = le.AppendUint16(b, uint16(n-1))
		at := len(b)
		b = append(b, make([]byte, (n+7)/8)...)
		for i := range cs {
			if cs[i].kind == runContainer {
				b[at+i/8] |= 1 << (i % 8)
			}
		}
		preamble = 4 + (n+7)/8 + 4*n
	} else {
		b = le.AppendUint32(b, 12346)
		b = le.AppendUint32(b, uint32(n))
		preamble = 8 + 4*n
	}
	for i := range cs {
		b = le.AppendUint16(b, uint16(cs[i].high))
		b = le.AppendUint16(b, uint16(cs[i].to-cs[i].from-1))
	}
	if !hasRun || n >= 4 {
		off := preamble + 4*n
		for i := range cs {
			b = le.AppendUint32(b, uint32(off))
			off += cs[i].size()
		}
	}
	for i := range cs {
		c := &cs[i]
		in := ids[c.from:c.to]
		switch c.kind {
		case arrayContainer:
			for _, id := range in {
				b = le.AppendUint16(b, uint16(id))
			}
		case bitsetContainer:
			var words [1024]uint64
			for _, id := range in {
				lo := uint16(id)
				words[lo/64] |= 1 << (lo % 64)
			}
			for _, w := range words {
				b = le.AppendUint64(b, w)
			}
		case runContainer:
			b = le.AppendUint16(b, uint16(c.runs))
			start := 0
			for j := 1; j <= len(in); j++ {
				if j == len(in) || in[j] != in[j-1]+1 {
					b = le.AppendUint16(b, uint16(in[start]))
					b = le.AppendUint16(b, uint16(in[j-1]-in[start]))
					start = j
				}
			}
		}
	}
	return b
}

// ErrRefused is Decode's error: the bytes are not a bitmap, or not one
// Decode reads (roaring64 may still read it), or hold more than max IDs.
var ErrRefused = errors.New("recordset: not a bitmap Decode reads")

// Decode reads a roaring64 portable serialization into sorted, distinct
// IDs, at most max of them; empty input is the empty set. It reads only
// what roaring64 reads as the same set, validated: bucket and container
// keys increasing, cardinalities as stated, arrays increasing, runs
// increasing and apart, no byte after the end.
func Decode(b []byte, max int) ([]uint64, error) {
	if len(b) == 0 {
		return []uint64{}, nil
	}
	return DecodeAppend(make([]uint64, 0, min(len(b)/2, max, 4096)), b, max)
}

// DecodeAppend is Decode appending to ids, at most max IDs in all: a
// caller decoding many sets reuses one slice.
func DecodeAppend(ids []uint64, b []byte, max int) ([]uint64, error) {
	if len(b) == 0 {
		return ids, nil
	}
	if len(b) < 8 {
		return nil, ErrRefused
	}
	le := binary.LittleEndian
	n := le.Uint64(b)
	b = b[8:]
	// A bucket takes at least 19 bytes.
	if n > uint64(len(b)/19) {
		return nil, ErrRefused
	}
	prev := int64(-1)
	for range n {
		if len(b) < 4 {
			return nil, ErrRefused
		}
		key := le.Uint32(b)
		if int64(key) <= prev {
			return nil, ErrRefused
		}
		prev = int64(key)
		var ok bool
		if b, ids, ok = decodeBucket(b[4:], uint64(key)<<32, ids, max); !ok {
			return nil, ErrRefused
		}
	}
	if len(b) != 0 {
		return nil, ErrRefused
	}
	return ids, nil
}

// decodeBucket reads a 32-bit roaring bitmap from b, its IDs above high,
// and returns what follows it.
func decodeBucket(b []byte, high uint64, ids []uint64, max int) ([]byte, []uint64, bool) {
	le := binary.LittleEndian
	if len(b) < 4 {
		return nil, nil, false
	}
	cookie := le.Uint32(b)
	var (
		n    int
		runs []byte
	)
	switch {
	case cookie&0xffff == 12347:
		n = int(cookie>>16) + 1
		b = b[4:]
		if len(b) < (n+7)/8 {
			return nil, nil, false
		}
		runs, b = b[:(n+7)/8], b[(n+7)/8:]
	case cookie == 12346 && len(b) >= 8:
		n = int(le.Uint32(b[4:]))
		b = b[8:]
		if n == 0 || n > 1<<16 {
			return nil, nil, false
		}
	default:
		return nil, nil, false
	}
	if len(b) < 4*n {
		return nil, nil, false
	}
	header := b[:4*n]
	b = b[4*n:]
	if runs == nil || n >= 4 {
		if len(b) < 4*n {
			return nil, nil, false
		}
		b = b[4*n:] // offsets, which a reader in order needs not
	}
	prev := -1
	for i := range n {
		key, card := int(le.Uint16(header[4*i:])), int(le.Uint16(header[4*i+2:]))+1
		if key <= prev || len(ids)+card > max {
			return nil, nil, false
		}
		prev = key
		base := high | uint64(key)<<16
		switch {
		case runs != nil && runs[i/8]&(1<<(i%8)) != 0:
			if len(b) < 2 {
				return nil, nil, false
			}
			nr := int(le.Uint16(b))
			b = b[2:]
			if nr == 0 || len(b) < 4*nr {
				return nil, nil, false
			}
			last, total := -2, 0
			for r := range nr {
				start, length := int(le.Uint16(b[4*r:])), int(le.Uint16(b[4*r+2:]))
				end := start + length
				if start <= last+1 || end > 0xffff {
					return nil, nil, false
				}
				if total += length + 1; total > card {
					return nil, nil, false
				}
				for v := start; v <= end; v++ {
					ids = append(ids, base|uint64(v))
				}
				last = end
			}
			if total != card {
				return nil, nil, false
			}
			b = b[4*nr:]
		case card > 4096:
			if len(b) < 8192 {
				return nil, nil, false
			}
			from := len(ids)
			for w := range 1024 {
				word := le.Uint64(b[8*w:])
				for word != 0 {
					ids = append(ids, base|uint64(w*64+bits.TrailingZeros64(word)))
					word &= word - 1
				}
				if len(ids)-from > card {
					return nil, nil, false
				}
			}
			if len(ids)-from != card {
				return nil, nil, false
			}
			b = b[8192:]
		default:
			if len(b) < 2*card {
				return nil, nil, false
			}
			last := -1
			for j := range card {
				v := int(le.Uint16(b[2*j:]))
				if v <= last {
					return nil, nil, false
				}
				ids = append(ids, base|uint64(v))
				last = v
			}
			b = b[2*card:]
		}
	}
	return b, ids, true
}

// Union returns the sorted, distinct union of a and b, each sorted and
// distinct.
func Union(a, b []uint64) []uint64 {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// MergeRuns returns ids, whose sorted runs start at 0 and at each of
// runs, merged into one sorted slice (duplicates kept): adjacent runs are
// merged pairwise until one is left, which costs a fraction of sorting
// them all. ids serves as one of the two buffers, so it is overwritten.
func MergeRuns(ids []uint64, runs []int) []uint64 {
	bounds := make([]int, 0, len(runs)+2)
	bounds = append(append(append(bounds, 0), runs...), len(ids))
	src, dst := ids, make([]uint64, len(ids))
	for len(bounds) > 2 {
		next := bounds[:1]
		for i := 0; i+1 < len(bounds); i += 2 {
			lo := bounds[i]
			if i+2 >= len(bounds) { // an odd run out: carried over
				copy(dst[lo:], src[lo:bounds[i+1]])
				next = append(next, bounds[i+1])
				continue
			}
			mid, hi := bounds[i+1], bounds[i+2]
			merge(dst[lo:hi], src[lo:mid], src[mid:hi])
			next = append(next, hi)
		}
		bounds = next
		src, dst = dst, src
	}
	return src
}

// merge writes sorted a and b into out, sorted; len(out) = len(a)+len(b).
func merge(out, a, b []uint64) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if a[i] <= b[j] {
			out[k] = a[i]
			i++
		} else {
			out[k] = b[j]
			j++
		}
		k++
	}
	k += copy(out[k:], a[i:])
	copy(out[k:], b[j:])
}
