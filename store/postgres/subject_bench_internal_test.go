package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// BenchmarkIssuancesBySubject measures `mayfly token list --subject`
// (Issuances by subject, newest 20) on issuance records spread over 30
// days of partitions, for customers holding a few tokens each. The rows
// (MAYFLY_BENCH_ISSUANCES, comma-separated totals, grown in turn; default
// 1,000,000) are made in SQL by generate_series, each day loaded into a
// table of its own and attached, which builds its indexes once. Each
// total reports the query's p50 and p99 over b.N random customers, the
// load time and the table's size.
func BenchmarkIssuancesBySubject(b *testing.B) {
	ctx := context.Background()
	totals := []int{1_000_000}
	if v := os.Getenv("MAYFLY_BENCH_ISSUANCES"); v != "" {
		totals = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("MAYFLY_BENCH_ISSUANCES: %v", err)
			}
			totals = append(totals, n)
		}
	}
	const days, customers = 30, 10_000_000
	s, err := Open(ctx, pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
		if err := s.CreatePrincipal(tx, &mayfly.Principal{ID: "prn", Name: "prn", Kind: mayfly.Service, Status: mayfly.Active, CreatedAt: start}); err != nil {
			return err
		}
		if err := s.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: start}); err != nil {
			return err
		}
		if err := s.SaveKeys(tx, []*mayfly.Key{{KID: "k", Ring: "r", Alg: mayfly.ES256, Public: []byte{1}, CreatedAt: start, ActivateAt: start, DeactivateAt: start, RetireAt: start}}); err != nil {
			return err
		}
		return s.CreateClient(tx, &mayfly.Client{ID: "mfc_login", Name: "login", OwnerID: "prn", Ring: "r", TokenTTL: time.Minute, CreatedAt: start})
	}))
	var refs [3]int64
	must(s.pool.QueryRow(ctx, `SELECT (SELECT ref FROM keys WHERE kid = 'k'), (SELECT ref FROM clients WHERE id = 'mfc_login'), (SELECT ref FROM principals WHERE id = 'prn')`).Scan(&refs[0], &refs[1], &refs[2]))
	loaded := 0
	for _, total := range totals {
		t0 := time.Now()
		n := total - loaded
		b.Logf("loading %d rows", n)
		must(loadDays(ctx, s, refs, start, loaded, n, days, customers))
		loaded = total
		_, err := s.pool.Exec(ctx, `ANALYZE issuances`)
		must(err)
		load := time.Since(t0)
		var size string
		must(s.pool.QueryRow(ctx, `SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname LIKE 'issuances\_%' AND c.relkind = 'r'`, s.schema).Scan(&size))
		b.Run(fmt.Sprintf("rows=%d", total), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(total)))
			lat := make([]time.Duration, 0, b.N)
			found := 0
			b.ResetTimer()
			for range b.N {
				// A customer who has tokens: the one row g was issued to.
				sub := "customer:" + strconv.FormatInt(int64(rng.IntN(total))*2654435761%customers, 10)
				q := time.Now()
				recs, err := s.Issuances(ctx, mayfly.IssuanceFilter{Subject: sub, Limit: 20})
				lat = append(lat, time.Since(q))
				if err != nil {
					b.Fatal(err)
				}
				found += len(recs)
			}
			b.StopTimer()
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			b.ReportMetric(float64(found)/float64(b.N), "records/op")
			b.Logf("%d rows over %d days: loaded in %v, %s with indexes; p50 %.2f ms, p99 %.2f ms", total, days, load.Round(time.Second), size, ms(0.5), ms(0.99))
		})
	}
}

// loadDays loads n rows, numbered from first, spread evenly over days
// days from start: each day's rows go into a table of their own, attached
// (with its indexes built then) as the day's partition, or appended to the
// day's partition once it exists.
func loadDays(ctx context.Context, s *Store, refs [3]int64, start time.Time, first, n, days, customers int) error {
	perDay := n / days
	for d := range days {
		day := start.AddDate(0, 0, d)
		lo, hi := first+d*perDay, first+(d+1)*perDay
		secs := day.Unix()
		name := pgx.Identifier{partitionName(day)}.Sanitize()
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, partitionName(day)).Scan(&exists); err != nil {
			return err
		}
		target := name
		if !exists {
			target = pgx.Identifier{partitionName(day) + "_load"}.Sanitize()
			if _, err := s.pool.Exec(ctx, `CREATE TABLE `+target+` (LIKE issuances INCLUDING DEFAULTS)`); err != nil {
				return err
			}
		}
		// Row g of the day is issued at a time rising with g; its jti
		// begins with that time in milliseconds (hex), as NewJTI's does.
		q := fmt.Sprintf(`INSERT INTO %s (seq, jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp, digest, subject, actor, sid)
			SELECT g, lpad(to_hex(ms), 12, '0') || substr(md5(g::text), 1, 14), %d, %d, %d,
				'10.' || (g %% 250) || '.' || (g / 250 %% 250) || '.' || (g / 62500 %% 250), 'shop-app/4.2 (iOS 18)',
				ms / 1000, ms / 1000 + 900, md5(g::text) || substr(md5((g + 1)::text), 1, 11),
				'customer:' || ((g::bigint * 2654435761) %% %d), 'mfc_login', ''
			FROM (SELECT g, %d::bigint * 1000 + (g - %d)::bigint * 86400000 / %d AS ms FROM generate_series(%d, %d) g) x`,
			target, refs[0], refs[1], refs[2], customers, secs, lo, max(hi-lo, 1), lo, hi-1)
		if _, err := s.pool.Exec(ctx, q); err != nil {
			return err
		}
		if !exists {
			for _, q := range []string{
				fmt.Sprintf(`ALTER TABLE %s ADD CHECK (iat >= %d AND iat < %d)`, target, secs, secs+86400),
				fmt.Sprintf(`ALTER TABLE issuances ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, target, secs, secs+86400),
				`ALTER TABLE ` + target + ` RENAME TO ` + name,
			} {
				if _, err := s.pool.Exec(ctx, q); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
