package recordset

import (
	"bytes"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Sets too scattered for the sorted-runs form are roaring64 bitmaps in
// their portable serialization. They come from reports and from the
// database, and either may be damaged, so decoding is defensive.

// ReadBitmap decodes a serialized roaring64 bitmap: the structure is
// validated, trailing bytes are refused, and a panic in the decoder is an
// error.
func ReadBitmap(b []byte) (rb *roaring64.Bitmap, err error) {
	defer func() {
		if v := recover(); v != nil {
			rb, err = nil, fmt.Errorf("record bitmap does not decode: %v", v)
		}
	}()
	rb = roaring64.New()
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

// DecodeBitmap is ReadBitmap of a stored set of at most max bytes; empty
// is the empty set.
func DecodeBitmap(b []byte, max int) (*roaring64.Bitmap, error) {
	if len(b) > max {
		return nil, fmt.Errorf("record bitmap of %d bytes: more than %d", len(b), max)
	}
	if len(b) == 0 {
		return roaring64.New(), nil
	}
	return ReadBitmap(b)
}

// EncodeBitmap serializes rb portably, compressing runs first.
func EncodeBitmap(rb *roaring64.Bitmap) ([]byte, error) {
	rb.RunOptimize()
	return rb.ToPortableBytes()
}
