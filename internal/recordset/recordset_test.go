package recordset

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// portableOf is what roaring64 writes of ids.
func portableOf(ids []uint64) []byte {
	rb := roaring64.BitmapOf(ids...)
	rb.RunOptimize()
	b, _ := rb.ToPortableBytes()
	return b
}

// idsOf makes a sorted set of IDs from b: runs and gaps of sizes b says,
// so that a fuzzer reaches every kind of container. At most about 2^16 of
// them: a long run is 16,256 IDs, and the fuzzer's inputs grow until a few
// thousand runs took minutes to encode each, with no kind of container
// more than a few dozen runs reach.
func idsOf(b []byte) []uint64 {
	var ids []uint64
	var at uint64
	for i := 0; i+1 < len(b) && len(ids) < 1<<16; i += 2 {
		gap, n := uint64(b[i]), int(b[i+1])
		switch gap >> 6 {
		case 1:
			gap <<= 10
		case 2:
			gap <<= 30
		case 3:
			gap <<= 58
		}
		if n&0x80 != 0 {
			n = (n & 0x7f) << 7 // a long run
		}
		if at+gap < at {
			break
		}
		at += gap
		for range n + 1 {
			ids = append(ids, at)
			if at == ^uint64(0) {
				return ids
			}
			at++
		}
	}
	return ids
}

func TestEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sets := map[string][]uint64{"empty": nil, "one": {7}, "max": {0, 1<<64 - 1}}
	for _, n := range []int{10, 1000, 5000, 70000} {
		for _, below := range []uint64{1 << 12, 1 << 16, 1 << 20, 1 << 36, 1<<64 - 1} {
			ids := make([]uint64, n)
			for i := range ids {
				ids[i] = rng.Uint64N(below)
			}
			slices.Sort(ids)
			sets[fmt.Sprintf("%d below %d", n, below)] = slices.Compact(ids)
		}
	}
	var full []uint64
	for i := range uint64(1<<16 + 10) {
		full = append(full, 1<<32-5+i)
	}
	sets["a full container across buckets"] = full
	var runs []uint64
	for r := range uint64(40) {
		for i := range uint64(r * 150) {
			runs = append(runs, r<<16+r*100+i)
		}
	}
	sets["runs of every size"] = runs
	for _, k := range slices.Sorted(maps.Keys(sets)) {
		if got, want := Encode(sets[k]), portableOf(sets[k]); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d bytes as roaring writes them", k, len(got), len(want))
		}
	}
}

// FuzzEncode: Encode writes what roaring64 writes.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{0, 0, 1, 5, 0xc0, 0x90, 0x41, 0xff, 3, 3, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids := idsOf(b)
		if got, want := Encode(ids), portableOf(ids); !bytes.Equal(got, want) {
			t.Fatalf("%d IDs: got %x\nwant %x", len(ids), got, want)
		}
	})
}

// roaringDecode reads b as the stores read records through roaring64:
// all bytes used, the bitmap valid, a panic an error.
func roaringDecode(b []byte) (ids []uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	rb := roaring64.New()
	r := bytes.NewReader(b)
	if _, err := rb.ReadPortableFrom(r); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after", r.Len())
	}
	if err := rb.Validate(); err != nil {
		return nil, err
	}
	if rb.GetCardinality() > 1<<22 {
		return nil, fmt.Errorf("too many")
	}
	return rb.ToArray(), nil
}

// decodeAgrees fails t if Decode reads b otherwise than roaring64 does.
func decodeAgrees(t *testing.T, b []byte) {
	t.Helper()
	got, err := Decode(b, 1<<20)
	if err != nil {
		return // roaring64 may read it: callers fall back to it
	}
	want, werr := roaringDecode(b)
	if len(b) == 0 {
		want, werr = []uint64{}, nil
	}
	if werr != nil || !slices.Equal(got, want) {
		t.Fatalf("%x: Decode read %d IDs, roaring64 %d (%v)", b, len(got), len(want), werr)
	}
}

func TestDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ids := range [][]uint64{nil, {0}, {1<<64 - 1}, idsOf([]byte{0, 0x85, 0xc1, 3, 0x40, 0xff, 1, 1, 1, 1}),
		randSet(rng, 10, 1<<36), randSet(rng, 5000, 1<<16), randSet(rng, 70000, 1<<17), randSet(rng, 3000, 1<<64-1)} {
		b := Encode(ids)
		got, err := Decode(b, 1<<20)
		if err != nil || !slices.Equal(got, ids) || got == nil {
			t.Errorf("%d IDs: got %d, %v", len(ids), len(got), err)
		}
		decodeAgrees(t, b)
		// Every cut and every changed byte: refused, or read as roaring64
		// reads it.
		for n := range len(b) {
			decodeAgrees(t, b[:n])
		}
		for i := range min(len(b), 2000) {
			c := bytes.Clone(b)
			c[i] ^= byte(1 << (i % 8))
			decodeAgrees(t, c)
		}
	}
	// The bound on IDs holds for runs, whose bytes hold many.
	var run []uint64
	for i := range uint64(100_000) {
		run = append(run, i)
	}
	if _, err := Decode(Encode(run), 99_999); err == nil {
		t.Error("100,000 IDs read under a bound of 99,999")
	}
	if got, err := Decode(Encode(run), 100_000); err != nil || len(got) != 100_000 {
		t.Errorf("100,000 IDs under a bound of as many: %d, %v", len(got), err)
	}
}

func randSet(rng *rand.Rand, n int, below uint64) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = rng.Uint64N(below)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestUnion(t *testing.T) {
	for _, tt := range []struct{ a, b, want []uint64 }{
		{nil, nil, nil}, {[]uint64{1}, nil, []uint64{1}}, {nil, []uint64{2}, []uint64{2}},
		{[]uint64{1, 3, 5}, []uint64{2, 3, 6, 7}, []uint64{1, 2, 3, 5, 6, 7}},
		{[]uint64{1<<64 - 1}, []uint64{0, 1<<64 - 1}, []uint64{0, 1<<64 - 1}},
	} {
		if got := Union(tt.a, tt.b); !slices.Equal(got, tt.want) {
			t.Errorf("Union(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzDecode: what Decode reads, roaring64 reads as the same set.
func FuzzDecode(f *testing.F) {
	for _, seed := range [][]byte{{0, 0, 1, 5, 0xc0, 0x90, 0x41, 0xff, 3, 3}, {0, 0xff, 0, 0xff, 0x40, 0x85}, {9, 3, 9, 3, 9, 3}} {
		f.Add(Encode(idsOf(seed)))
	}
	f.Fuzz(decodeAgrees)
}

func TestUnionBitmaps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var bufs [][]byte
	want := roaring64.New()
	for i := range 12 {
		rb := roaring64.New()
		for range 5000 {
			// Three 32-bit parts; some containers sparse, some dense, some runs.
			v := r.Uint64N(1<<18) | uint64(r.IntN(3))<<32
			if i%4 == 0 {
				v = uint64(i)<<12 + r.Uint64N(1<<12)
			}
			rb.Add(v)
		}
		if i%3 == 0 {
			rb.AddRange(1<<33, 1<<33+100000)
		}
		want.Or(rb)
		b, err := EncodeBitmap(rb)
		if err != nil {
			t.Fatal(err)
		}
		bufs = append(bufs, b, nil) // an empty set between each
	}
	got, err := UnionBitmaps(bufs, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(want) {
		t.Fatalf("union of %d IDs, want %d", got.GetCardinality(), want.GetCardinality())
	}
	good := bufs[0]
	for _, bad := range [][]byte{{1, 2, 3}, good[:len(good)-1], append(slices.Clone(good), 0), {1, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := UnionBitmaps([][]byte{good, bad}, 1<<30); err == nil {
			t.Errorf("UnionBitmaps of %d damaged bytes succeeded", len(bad))
		}
	}
	if _, err := UnionBitmaps([][]byte{good}, len(good)-1); err == nil {
		t.Error("UnionBitmaps over its bound succeeded")
	}
}

// ViewBitmap reads what ReadBitmap reads, refuses what it refuses, and
// leaves the bytes it views as they were when its bitmap is changed.
func TestViewBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rb := roaring64.New()
	for range 20000 {
		rb.Add(r.Uint64N(1<<18) | uint64(r.IntN(3))<<32) // sparse, dense and run containers
	}
	rb.AddRange(1<<33, 1<<33+100000)
	b, err := EncodeBitmap(rb)
	if err != nil {
		t.Fatal(err)
	}
	kept := slices.Clone(b)
	got, err := ViewBitmap(b)
	if err != nil || !got.Equals(rb) {
		t.Fatalf("ViewBitmap: %v, %d IDs; want %d", err, got.GetCardinality(), rb.GetCardinality())
	}
	got.AddRange(0, 1<<17)
	got.RemoveRange(1<<33, 1<<33+50000)
	if !bytes.Equal(b, kept) {
		t.Error("changing a viewed bitmap changed the bytes it views")
	}
	if empty, err := ViewBitmap(nil); err != nil || !empty.IsEmpty() {
		t.Errorf("ViewBitmap(nil): %v, %v", empty, err)
	}
	for _, bad := range [][]byte{{1, 2, 3}, b[:len(b)-1], append(slices.Clone(b), 0), {1, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := ViewBitmap(bad); err == nil {
			t.Errorf("ViewBitmap of %d damaged bytes succeeded", len(bad))
		}
	}
}

// FuzzViewBitmap: what ViewBitmap accepts, ReadBitmap reads as the same
// set. ViewBitmap may refuse more: roaring's in-place decoder leaves an
// empty container in place, which Validate refuses, where ReadBitmap's
// drops it.
func FuzzViewBitmap(f *testing.F) {
	for _, ids := range [][]uint64{{1}, {1, 2, 3, 1 << 40}, {0, 1<<64 - 1}} {
		b, err := EncodeBitmap(roaring64.BitmapOf(ids...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := ReadBitmap(b)
		got, gerr := ViewBitmap(b)
		if len(b) == 0 {
			return // ReadBitmap refuses no bytes; a stored empty set is DecodeBitmap's
		}
		if gerr != nil {
			return
		}
		if werr != nil {
			t.Fatalf("ViewBitmap read what ReadBitmap refuses: %v", werr)
		}
		if !got.Equals(want) {
			t.Fatalf("ViewBitmap read %d IDs, ReadBitmap %d", got.GetCardinality(), want.GetCardinality())
		}
	})
}
