package postgres_test

import (
	"fmt"
	"testing"

	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
	"github.com/mayflyhq/mayfly/store/storetest"
)

func BenchmarkRecordIssuances(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			storetest.BenchRecordIssuances(b, open(b, pgtest.DSN(b)), batch)
		})
	}
}

func BenchmarkMergeLedger(b *testing.B) {
	for _, into := range []bool{false, true} {
		b.Run(fmt.Sprintf("tokens=1000/ids=10/into=%v", into), func(b *testing.B) {
			storetest.BenchMergeLedger(b, open(b, pgtest.DSN(b)), 1000, 10, into)
		})
	}
}
