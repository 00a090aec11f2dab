package ledger

import (
	"encoding/base64"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
)

// decodeRecordBitmap decodes a report's records given as a bitmap: the
// standard base64 of a roaring64 bitmap's portable serialization. The
// bitmap comes from a service, so decoding is defensive, as the stores'
// is: the size is bounded, the structure validated, trailing bytes
// refused, and a panic in the decoder is an error. What it holds a
// caller bounds by its cardinality before reading it out.
func decodeRecordBitmap(b64 []byte) (*roaring64.Bitmap, error) {
	b, err := recordBitmapBytes(b64)
	if err != nil {
		return nil, err
	}
	rb, err := recordset.ReadBitmap(b)
	if err != nil {
		return nil, badBitmap("%v", err)
	}
	return rb, nil
}

// recordBitmapBytes decodes the base64 of a report's bitmap.
func recordBitmapBytes(b64 []byte) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(b64)) > mayfly.LedgerMaxRecordsBytes {
		return nil, badBitmap("more than %d bytes", mayfly.LedgerMaxRecordsBytes)
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Strict().Decode(b, b64)
	switch {
	case err != nil:
		return nil, badBitmap("not base64")
	case n == 0:
		return nil, badBitmap("empty")
	}
	return b[:n], nil
}

func badBitmap(format string, args ...any) error {
	return mayfly.InvalidField("records", "not a record bitmap (base64 of a roaring64 portable serialization): %s", fmt.Sprintf(format, args...))
}
