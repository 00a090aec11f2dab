package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
)

// Issuance records live in one range partition of iat per UTC day,
// issuances_YYYYMMDD (migration 0016), and issuances_default, which takes a
// record whose day has no partition. The store makes partitions ahead
// (today's and the next partitionsAhead days'), when it opens and at each
// PruneIssuances, so the default stays empty; a record that lands there
// anyway (a clock far off, maintenance stopped for days) is accepted, and
// moved into its day's partition when that is made. A default partition
// was chosen over making partitions on demand: an insert never fails and
// never waits for DDL, and the issuing path stays one COPY.

// partitionsAhead is how many days after today have partitions made ahead.
const partitionsAhead = 3

// ddlLockTimeout bounds the wait for a lock on the issuance table that DDL
// needs: a partition change waiting behind a long query would otherwise
// queue every insert behind it. The next round tries again.
const ddlLockTimeout = "2s"

const day = 24 * time.Hour

var partitionRE = regexp.MustCompile(`^issuances_[0-9]{8}$`)

func partitionName(d time.Time) string { return "issuances_" + d.UTC().Format("20060102") }

// tableSQL finds a table of a schema ($1) by name ($2), saying whether it
// is a partition, by reading pg_class under the statement's snapshot: the
// name lookups of to_regclass may answer from a cache that a wait on an
// advisory lock leaves stale. tableSQLArg is the same with ? placeholders.
const (
	tableSQL = `SELECT c.relispartition FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'`
	tableSQLArg = `SELECT c.relispartition FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ? AND c.relname = ? AND c.relkind = 'r'`
)

// partition is a day's table: attached, or detached on its way to being
// dropped.
type partition struct {
	name     string
	day      time.Time
	attached bool
}

// partitions returns the days' tables of the schema, oldest first.
func (s *Store) partitions(ctx context.Context) ([]partition, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname, c.relispartition FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname LIKE 'issuances\_%' ORDER BY c.relname`, s.schema)
	if err != nil {
		return nil, err
	}
	var out []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.name, &p.attached); err != nil {
			return nil, err
		}
		if !partitionRE.MatchString(p.name) {
			continue
		}
		if p.day, err = time.Parse("20060102", p.name[len("issuances_"):]); err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ensurePartitions makes the partitions of now's UTC day and the next
// partitionsAhead days that do not exist.
func (s *Store) ensurePartitions(ctx context.Context, now time.Time) error {
	have, err := s.partitions(ctx)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, p := range have {
		exists[p.name] = true
	}
	today := now.UTC().Truncate(day)
	for i := range partitionsAhead + 1 {
		d := today.Add(time.Duration(i) * day)
		if !exists[partitionName(d)] {
			if err := s.makePartition(ctx, d); err != nil {
				return fmt.Errorf("making the issuance partition of %s: %w", d.Format(time.DateOnly), err)
			}
		}
	}
	return nil
}

// makePartition makes the partition of day d, moving into it the records
// of d that the default partition holds. Replicas making it at once queue
// on a lock, and the later ones find it made.
func (s *Store) makePartition(ctx context.Context, d time.Time) error {
	name := pgx.Identifier{partitionName(d)}.Sanitize()
	lo, hi := d.Unix(), d.Add(day).Unix()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`, lockName(s.schema, "issuances.partitions")); err != nil {
			return err
		}
		var made bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (`+tableSQL+`)`, s.schema, partitionName(d)).Scan(&made); err != nil || made {
			return err
		}
		// Made apart and attached, rather than CREATE ... PARTITION OF,
		// which fails while the default holds records of its day. The
		// CHECK spares ATTACH a scan of what was moved.
		for _, q := range []string{
			`CREATE TABLE ` + name + ` (LIKE issuances INCLUDING DEFAULTS)`,
			fmt.Sprintf(`WITH moved AS (DELETE FROM issuances_default WHERE iat >= %d AND iat < %d RETURNING *) INSERT INTO %s SELECT * FROM moved`, lo, hi, name),
			fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s CHECK (iat >= %d AND iat < %d)`, name, pgx.Identifier{partitionName(d) + "_iat"}.Sanitize(), lo, hi),
			fmt.Sprintf(`ALTER TABLE issuances ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, name, lo, hi),
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneIssuances drops the oldest day of issuance records that ended by
// p.Before, whole; once none is left, deletes the default partition's
// records issued before it, p.Batch at a time (mayfly.TokenStore). First
// it makes the partitions of p.Now's day and the next days.
//
// A day is dropped in three steps: detached from the table (a moment's
// lock: lookups no longer see it and no record can join it), summed
// (mayfly.IssuanceSum) outside any transaction that holds others up, then
// dropped in a transaction of up together with p.Record's. A day detached
// but not yet dropped, after a crash, is summed and dropped by the next
// call. The records of a day leave lookups when it is detached.
func (s *Store) PruneIssuances(ctx context.Context, up mayfly.Updater, p mayfly.IssuancePrune) (mayfly.IssuancesPruned, error) {
	const op = "postgres.PruneIssuances"
	if p.Batch <= 0 {
		return mayfly.IssuancesPruned{}, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: "a batch of issuance records to prune must hold at least one"}
	}
	if err := s.ensurePartitions(ctx, p.Now); err != nil {
		return mayfly.IssuancesPruned{}, mayfly.E(op, err)
	}
	parts, err := s.partitions(ctx)
	if err != nil {
		return mayfly.IssuancesPruned{}, mayfly.E(op, err)
	}
	for _, part := range parts {
		if part.attached && part.day.Add(day).After(p.Before) {
			continue
		}
		pruned, err := s.dropPartition(ctx, up, p, part)
		if err != nil {
			return mayfly.IssuancesPruned{}, mayfly.E(op, fmt.Errorf("dropping %s: %w", part.name, err))
		}
		if pruned.Count > 0 || !pruned.Day.IsZero() {
			return pruned, nil
		}
	}
	pruned, err := s.PruneIssuanceRows(ctx, up, p, "issuances_default", "ctid")
	if err != nil {
		return mayfly.IssuancesPruned{}, mayfly.E(op, err)
	}
	return pruned, nil
}

// dropPartition detaches part if it is attached, sums it, and drops it
// with its record. It returns a zero IssuancesPruned if another replica
// dropped it first.
func (s *Store) dropPartition(ctx context.Context, up mayfly.Updater, p mayfly.IssuancePrune, part partition) (mayfly.IssuancesPruned, error) {
	name := pgx.Identifier{part.name}.Sanitize()
	if part.attached {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`, lockName(s.schema, "issuances.partitions")); err != nil {
				return err
			}
			var attached bool
			err := tx.QueryRow(ctx, tableSQL, s.schema, part.name).Scan(&attached)
			if errors.Is(err, pgx.ErrNoRows) || err == nil && !attached {
				return nil // another replica detached it
			}
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `ALTER TABLE issuances DETACH PARTITION `+name)
			return err
		})
		if err != nil {
			return mayfly.IssuancesPruned{}, fmt.Errorf("detaching: %w", err)
		}
	}
	sum := mayfly.NewIssuanceSum()
	err := s.sumPartition(ctx, name, sum)
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) && pe.SQLState() == "42P01" { // undefined_table: dropped by another replica
		return mayfly.IssuancesPruned{}, nil
	}
	if err != nil {
		return mayfly.IssuancesPruned{}, fmt.Errorf("summing: %w", err)
	}
	pruned := sum.Pruned(part.day)
	dropped := false
	err = up.Update(ctx, func(tx mayfly.Tx) error {
		t, err := sqlstore.TxOf(s.Store, tx, "PruneIssuances")
		if err != nil {
			return err
		}
		q := t.Q()
		if _, err := q.Exec(t.Context(), `SELECT pg_advisory_xact_lock(`+lockKeyArg+`)`, lockName(s.schema, "issuances.prune")); err != nil {
			return err
		}
		var exists bool
		if err := q.QueryRow(t.Context(), `SELECT EXISTS (`+tableSQLArg+`)`, s.schema, part.name).Scan(&exists); err != nil || !exists {
			return err
		}
		if _, err := q.Exec(t.Context(), `DROP TABLE `+name); err != nil {
			return err
		}
		dropped = true
		return p.Record(tx, pruned)
	})
	if err != nil {
		return mayfly.IssuancesPruned{}, fmt.Errorf("dropping: %w", err)
	}
	if !dropped {
		return mayfly.IssuancesPruned{}, nil
	}
	return pruned, nil
}

// sumPartition adds the records of the detached day table name to sum, in
// IssuanceSum's order, reading them as they stream.
func (s *Store) sumPartition(ctx context.Context, name string, sum *mayfly.IssuanceSum) error {
	rows, err := s.pool.Query(ctx, `SELECT jti, digest FROM `+name+` ORDER BY jti, digest COLLATE "C"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var jti, digest string
	for rows.Next() {
		if err := rows.Scan(&jti, &digest); err != nil {
			return err
		}
		sum.Add(jti, digest)
	}
	return rows.Err()
}
