package scope

import "github.com/RoaringBitmap/roaring/v2/roaring64"

// SetDenseWhole makes every whole dense, or none, until the returned
// function restores the rule: both ways of adding unions, tested.
func SetDenseWhole(dense bool) (restore func()) {
	old := denseWhole
	denseWhole = func(*roaring64.Bitmap) bool { return dense }
	return func() { denseWhole = old }
}
