package sqlstore

import (
	"bytes"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
)

// A ledger bucket's records are a roaring64 bitmap in its portable
// serialization. Bitmaps come from reports and from the database, and
// either may be damaged, so decoding is defensive: the size is bounded,
// the structure validated, trailing bytes refused, and a panic in the
// decoder is an error.

// DecodeRecords decodes a serialized bitmap of record IDs. Empty input is
// the empty set.
func DecodeRecords(b []byte) (rb *roaring64.Bitmap, err error) {
	if len(b) > mayfly.LedgerMaxRecordsBytes {
		return nil, fmt.Errorf("record bitmap of %d bytes: more than %d", len(b), mayfly.LedgerMaxRecordsBytes)
	}
	rb = roaring64.New()
	if len(b) == 0 {
		return rb, nil
	}
	defer func() {
		if p := recover(); p != nil {
			rb, err = nil, fmt.Errorf("record bitmap does not decode: %v", p)
		}
	}()
	r := bytes.NewReader(b)
	if _, err := rb.ReadPortableFrom(r); err != nil {
		return nil, fmt.Errorf("record bitmap does not decode: %w", err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("record bitmap has %d bytes after its end", r.Len())
	}
	if err := rb.Validate(); err != nil {
		return nil, fmt.Errorf("record bitmap is not valid: %w", err)
	}
	return rb, nil
}

// EncodeRecords serializes rb, compressing runs first.
func EncodeRecords(rb *roaring64.Bitmap) ([]byte, error) {
	rb.RunOptimize()
	return rb.ToPortableBytes()
}
