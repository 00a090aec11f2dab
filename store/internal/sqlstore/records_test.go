package sqlstore

import (
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

func TestDecodeRecords(t *testing.T) {
	want := roaring64.BitmapOf(0, 1, 1<<32-1, 1<<32, 1<<40+7, ^uint64(0))
	want.AddRange(1000, 5000) // a run
	good, err := EncodeRecords(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecords(good)
	if err != nil {
		t.Fatalf("DecodeRecords: %v", err)
	}
	if !got.Equals(want) {
		t.Errorf("DecodeRecords: got %d IDs, want %d", got.GetCardinality(), want.GetCardinality())
	}
	if got, err := DecodeRecords(nil); err != nil || !got.IsEmpty() {
		t.Errorf("DecodeRecords(nil): %v, %v; want the empty set", got, err)
	}
	for name, bad := range map[string][]byte{
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(slices.Clone(good), 0),
		"huge count":     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"text":           []byte("not a bitmap"),
		"too large":      make([]byte, mayfly.LedgerMaxRecordsBytes+1),
	} {
		if _, err := DecodeRecords(bad); err == nil {
			t.Errorf("%s: DecodeRecords gave no error", name)
		}
	}
}

// FuzzDecodeRecords: whatever the bytes, DecodeRecords returns an error or
// a valid set, never panics, and a set it returns survives a round trip.
// Seeds are in testdata/fuzz/FuzzDecodeRecords.
func FuzzDecodeRecords(f *testing.F) {
	for _, ids := range [][]uint64{{}, {1, 2, 3}, {1 << 33, 1<<40 + 7}} {
		b, _ := roaring64.BitmapOf(ids...).ToPortableBytes()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rb, err := DecodeRecords(b)
		if err != nil {
			return
		}
		again, err := EncodeRecords(rb)
		if err != nil {
			t.Fatalf("EncodeRecords of a decoded set: %v", err)
		}
		back, err := DecodeRecords(again)
		if err != nil {
			t.Fatalf("DecodeRecords of a re-encoded set: %v", err)
		}
		if !back.Equals(rb) {
			t.Fatalf("round trip changed the set: %d IDs, then %d", rb.GetCardinality(), back.GetCardinality())
		}
	})
}
