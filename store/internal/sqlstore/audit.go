package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// The audit log: entries, the tree nodes above the leaves (leaf hashes are
// stored with their entries), and checkpoints. Appending is each backend's
// own, as is the time filter of AuditEntries (Config.AuditTime).

const auditSize = `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`

// AuditHead takes the log's append lock for tx, where another process
// could append (Config.XactLock), and returns the log's size. The lock is
// taken before the size is read, in a statement of its own, so that the
// size read is the one the last holder left.
func (s *Store) AuditHead(tx mayfly.Tx) (uint64, error) {
	const op = "AuditHead"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return 0, err
	}
	var size int64
	b := &Batch{}
	locking := s.lock(t, b, "audit")
	b.QueryRow(func(row Row) error { return row.Scan(&size) }, auditSize)
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return 0, s.err(op, err)
	}
	if locking {
		t.locked("audit")
	}
	t.auditSize = size
	return uint64(size), nil
}

// AppendAudit checks that recs continue the log and has the backend
// insert them (Config.InsertAudit).
func (s *Store) AppendAudit(tx mayfly.Tx, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error {
	const op = "AppendAudit"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	if err := t.auditContinues(op, recs); err != nil {
		return err
	}
	if err := s.cfg.InsertAudit(t, recs, nodes); err != nil {
		return s.err(op, err)
	}
	if t.auditSize >= 0 {
		t.auditSize += int64(len(recs))
	}
	return nil
}

// auditContinues checks, in t, that recs continue the log where it ends:
// a gap or an overlap is a Conflict of the operation op. Once the
// transaction holds the append lock, the size is known without reading
// it: nobody else appends.
func (t *Tx) auditContinues(op string, recs []mayfly.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	size := t.auditSize
	if size < 0 {
		if err := t.conn.QueryRow(t.ctx, auditSize).Scan(&size); err != nil {
			return t.s.err(op, err)
		}
	}
	if recs[0].Index != uint64(size) {
		return &mayfly.Error{Op: t.s.cfg.Name + "." + op, Code: mayfly.Conflict,
			Msg: fmt.Sprintf("audit append at %d, but the log holds %d entries", recs[0].Index, size)}
	}
	return nil
}

func (s *Store) AuditEntries(ctx context.Context, f mayfly.AuditFilter) ([]mayfly.AuditRecord, error) {
	const op = "AuditEntries"
	where := []string{"idx >= ?"}
	args := []any{int64(f.From)}
	if f.To > 0 {
		where, args = append(where, "idx < ?"), append(args, int64(f.To))
	}
	for _, c := range []struct{ col, v string }{{"action", string(f.Action)}, {"principal", f.Principal}, {"client", f.Client}, {"kid", f.KID}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		conds, targs, err := s.cfg.AuditTime(ctx, f.Since, f.Until)
		if err != nil {
			return nil, s.err(op, err)
		}
		where, args = append(where, conds...), append(args, targs...)
	}
	q := `SELECT idx, body, leaf_hash FROM audit_entries WHERE ` + strings.Join(where, " AND ")
	if f.Newest {
		q += " ORDER BY idx DESC"
	} else {
		q += " ORDER BY idx"
	}
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	recs, err := queryAll(ctx, s.cfg.Read, func(row Row) (mayfly.AuditRecord, error) {
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
	return recs, s.err(op, err)
}

func (s *Store) AuditSize(ctx context.Context) (uint64, error) {
	var n int64
	err := s.cfg.Read.QueryRow(ctx, auditSize).Scan(&n)
	return uint64(n), s.err("AuditSize", err)
}

func (s *Store) AuditNodes(ctx context.Context, ids []mayfly.AuditNode) ([][]byte, error) {
	out := make([][]byte, len(ids))
	b := &Batch{} // one round trip for them all where the driver allows
	for i, id := range ids {
		q, args := `SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?`, []any{int64(id.Level), int64(id.Index)}
		if id.Level == 0 {
			q, args = `SELECT leaf_hash FROM audit_entries WHERE idx = ?`, []any{int64(id.Index)}
		}
		b.QueryRow(func(row Row) error {
			if err := row.Scan(&out[i]); err != nil {
				return fmt.Errorf("node %d.%d: %w", id.Level, id.Index, err)
			}
			return nil
		}, q, args...)
	}
	if err := s.cfg.Read.SendBatch(ctx, b); err != nil {
		return nil, s.err("AuditNodes", err)
	}
	return out, nil
}

func (s *Store) SaveCheckpoint(ctx context.Context, c *mayfly.Checkpoint) error {
	_, err := s.cfg.Write.Exec(ctx, `INSERT INTO audit_checkpoints (size, note, time) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING`,
		int64(c.Size), c.Note, c.Time.UnixNano())
	return s.err("SaveCheckpoint", err)
}

func (s *Store) Checkpoints(ctx context.Context) ([]*mayfly.Checkpoint, error) {
	all, err := queryAll(ctx, s.cfg.Read, func(row Row) (*mayfly.Checkpoint, error) {
		var c mayfly.Checkpoint
		var size, t int64
		err := row.Scan(&size, &c.Note, &t)
		c.Size, c.Time = uint64(size), time.Unix(0, t).UTC()
		return &c, err
	}, `SELECT size, note, time FROM audit_checkpoints ORDER BY size`)
	return all, s.err("Checkpoints", err)
}
