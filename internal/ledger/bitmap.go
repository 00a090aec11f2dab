package ledger

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

// decodeRecordBitmap decodes a report's records given as a bitmap: the
// standard base64 of a roaring64 bitmap's portable serialization. The
// bitmap comes from a service, so decoding is defensive, as the stores'
// is: the size is bounded, the structure validated, trailing bytes
// refused, and a panic in the decoder is an error. What it holds a
// caller bounds by its cardinality before reading it out.
func decodeRecordBitmap(b64 []byte) (rb *roaring64.Bitmap, err error) {
	bad := func(format string, args ...any) error {
		return mayfly.InvalidField("records", "not a record bitmap (base64 of a roaring64 portable serialization): %s", fmt.Sprintf(format, args...))
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > mayfly.LedgerMaxRecordsBytes {
		return nil, bad("more than %d bytes", mayfly.LedgerMaxRecordsBytes)
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Strict().Decode(b, b64)
	if err != nil {
		return nil, bad("not base64")
	}
	b = b[:n]
	if n == 0 {
		return nil, bad("empty")
	}
	if rb, err = decodeBitmap(b); err != nil {
		return nil, bad("%v", err)
	}
	return rb, nil
}

// portableBitmap returns the portable serialization of the roaring64
// bitmap of ids, sorted and distinct, byte for byte what roaring64 writes
// after RunOptimize, without making the bitmap: for scattered IDs, where
// roaring allocates a container for nearly every ID, making it took three
// quarters of Deltas' time.
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
func portableBitmap(ids []uint64) []byte {
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
