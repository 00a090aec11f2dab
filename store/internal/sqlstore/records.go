package sqlstore

import (
	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// A ledger bucket's records are a roaring64 bitmap in its portable
// serialization. Bitmaps come from reports and from the database, and
// either may be damaged, so decoding is defensive: the size is bounded,
// the structure validated, trailing bytes refused, and a panic in the
// decoder is an error.

// DecodeRecords decodes a serialized bitmap of record IDs, at most
// mayfly.LedgerMaxRecordsBytes of it. Empty input is the empty set.
func DecodeRecords(b []byte) (*roaring64.Bitmap, error) {
	return recordset.DecodeBitmap(b, mayfly.LedgerMaxRecordsBytes)
}

// EncodeRecords serializes rb, compressing runs first.
func EncodeRecords(rb *roaring64.Bitmap) ([]byte, error) { return recordset.EncodeBitmap(rb) }
