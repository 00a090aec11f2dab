package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
)

func (s *Store) AppendAudit(ctx context.Context, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error {
	const op = "postgres.AppendAudit"
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Replicas append one at a time, each after reading the size the
		// one before it left: one wins, the others get ErrConflict.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`, lockName(s.schema, "audit")); err != nil {
			return err
		}
		var size int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&size); err != nil {
			return err
		}
		if len(recs) > 0 && recs[0].Index != uint64(size) {
			return &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: fmt.Sprintf("audit append at %d, but the log holds %d entries", recs[0].Index, size)}
		}
		if len(recs) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_entries"}, []string{"idx", "body", "leaf_hash", "time", "action", "principal", "client", "kid"},
				pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
					r := recs[i]
					return []any{int64(r.Index), r.Body, r.LeafHash, r.Entry.Time.UnixNano(), r.Entry.Action, r.Entry.Principal, r.Entry.Client, r.Entry.KID}, nil
				}))
			if err != nil {
				return err
			}
		}
		// Leaves are stored with their entries. A node named twice keeps
		// its last hash, as one statement may not update a row twice.
		last := map[[2]int64]int{}
		var level, idx []int64
		var hash [][]byte
		for _, n := range nodes {
			if n.Level == 0 {
				continue
			}
			id := [2]int64{int64(n.Level), int64(n.Index)}
			if i, ok := last[id]; ok {
				hash[i] = n.Hash
				continue
			}
			last[id] = len(hash)
			level, idx, hash = append(level, id[0]), append(idx, id[1]), append(hash, n.Hash)
		}
		if len(hash) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])
			ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash`, level, idx, hash)
		return err
	})
	return storeErr(op, err)
}

func (s *Store) AuditEntries(ctx context.Context, f mayfly.AuditFilter) ([]mayfly.AuditRecord, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"idx >= " + arg(int64(f.From))}
	if f.To > 0 {
		where = append(where, "idx < "+arg(int64(f.To)))
	}
	for _, c := range []struct{ col, v string }{{"action", f.Action}, {"principal", f.Principal}, {"client", f.Client}, {"kid", f.KID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	// Entry times never decrease along the log, so the entries at or after
	// Since are those from the first such entry on, as in SQLite's binary
	// search; here the time index finds them.
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(f.Since.UnixNano()))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < "+arg(f.Until.UnixNano()))
	}
	q := `SELECT idx, body, leaf_hash FROM audit_entries WHERE ` + strings.Join(where, " AND ")
	if f.Newest {
		q += " ORDER BY idx DESC"
	} else {
		q += " ORDER BY idx"
	}
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	return queryAll(ctx, s, "postgres.AuditEntries", func(row scanner) (mayfly.AuditRecord, error) {
		var r mayfly.AuditRecord
		var idx int64
		if err := row.Scan(&idx, &r.Body, &r.LeafHash); err != nil {
			return r, err
		}
		r.Index = uint64(idx)
		// A body that does not decode is kept as it is: verification
		// reports it, searches show what can be shown.
		json.Unmarshal(r.Body, &r.Entry)
		return r, nil
	}, q, args...)
}

func (s *Store) AuditSize(ctx context.Context) (uint64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n)
	return uint64(n), storeErr("postgres.AuditSize", err)
}

func (s *Store) AuditNodes(ctx context.Context, ids []mayfly.AuditNode) ([][]byte, error) {
	out := make([][]byte, len(ids))
	b := &pgx.Batch{} // one round trip for them all
	for i, id := range ids {
		q, args := `SELECT hash FROM audit_nodes WHERE level = $1 AND idx = $2`, []any{int32(id.Level), int64(id.Index)}
		if id.Level == 0 {
			q, args = `SELECT leaf_hash FROM audit_entries WHERE idx = $1`, []any{int64(id.Index)}
		}
		b.Queue(q, args...).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&out[i]); err != nil {
				return fmt.Errorf("node %d.%d: %w", id.Level, id.Index, err)
			}
			return nil
		})
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, storeErr("postgres.AuditNodes", err)
	}
	return out, nil
}

func (s *Store) SaveCheckpoint(ctx context.Context, c *mayfly.Checkpoint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (size, note, time) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING`,
		int64(c.Size), c.Note, c.Time.UnixNano())
	return storeErr("postgres.SaveCheckpoint", err)
}

func (s *Store) Checkpoints(ctx context.Context) ([]*mayfly.Checkpoint, error) {
	return queryAll(ctx, s, "postgres.Checkpoints", func(row scanner) (*mayfly.Checkpoint, error) {
		var c mayfly.Checkpoint
		var size, t int64
		err := row.Scan(&size, &c.Note, &t)
		c.Size, c.Time = uint64(size), time.Unix(0, t).UTC()
		return &c, err
	}, `SELECT size, note, time FROM audit_checkpoints ORDER BY size`)
}

// Settings.

func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	return v, storeErr("postgres.Setting", err)
}

func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, value)
		return err
	}, mayfly.ChangeSettings)
	return storeErr("postgres.PutSetting", err)
}

func (s *Store) DeleteSetting(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM settings WHERE name = $1`, name)
		return err
	}, mayfly.ChangeSettings)
	if err == nil {
		s.vacuum(ctx, "settings") // settings hold sealed keys
	}
	return storeErr("postgres.DeleteSetting", err)
}
