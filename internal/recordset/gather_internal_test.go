package recordset

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRadixSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var scratch []uint64
	for _, n := range []int{1, 2, 17, 1000, 70000} {
		for _, bits := range []uint{8, 20, 33, 64} {
			a := make([]uint64, n)
			for i := range a {
				a[i] = r.Uint64() >> (64 - bits)
			}
			want := slices.Clone(a)
			slices.Sort(want)
			scratch = radixSort(a, scratch)
			if !slices.Equal(a, want) {
				t.Fatalf("n=%d bits=%d: not sorted", n, bits)
			}
		}
	}
}
