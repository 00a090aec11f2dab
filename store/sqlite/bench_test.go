package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mayflyhq/mayfly/store/storetest"
)

func BenchmarkRecordIssuances(b *testing.B) {
	for _, batch := range []int{1, 8, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchRecordIssuances(b, s, batch)
		})
	}
}
