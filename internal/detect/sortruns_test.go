package detect_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mayflyhq/mayfly/internal/detect"
)

func TestSortRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, runs := range []int{0, 1, 2, 3, 7, 64} {
		for _, runLen := range []int{1, 10, 31, 32, 33, 1000} {
			var ids []uint64
			for range runs {
				run := make([]uint64, runLen)
				for i := range run {
					run[i] = rng.Uint64N(5000) << rng.UintN(30) // duplicates across runs, and IDs past 2^32
				}
				slices.Sort(run)
				ids = append(ids, slices.Compact(run)...)
			}
			want := slices.Sorted(slices.Values(ids))
			if got := detect.SortRuns(slices.Clone(ids)); !slices.Equal(got, want) {
				t.Errorf("%d runs of up to %d: got %d IDs, not the %d sorted", runs, runLen, len(got), len(want))
				if len(want) < 20 {
					t.Log(fmt.Sprint(got, want))
				}
			}
		}
	}
}
