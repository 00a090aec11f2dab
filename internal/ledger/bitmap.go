package ledger

import (
	"encoding/base64"
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
