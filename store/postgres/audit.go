package postgres

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
)

// insertAudit loads entries with COPY and nodes from arrays, a round trip
// each (sqlstore.Config.InsertAudit). The transaction holds the append
// lock (AuditHead), so replicas append one at a time, each after the size
// the one before it left.
func insertAudit(t *sqlstore.Tx, recs []mayfly.AuditRecord, nodes []mayfly.AuditNode) error {
	if len(recs) > 0 {
		_, err := t.Q().(sqlstore.Copier).CopyFrom(t.Context(), "audit_entries",
			[]string{"idx", "body", "leaf_hash", "time", "action", "principal", "client", "kid"}, len(recs),
			func(i int) ([]any, error) {
				r := recs[i]
				return []any{int64(r.Index), r.Body, r.LeafHash, r.Entry.Time.UnixNano(), string(r.Entry.Action), r.Entry.Principal, r.Entry.Client, r.Entry.KID}, nil
			})
		if err != nil {
			return err
		}
	}
	// Leaves are stored with their entries. A node named twice keeps its
	// last hash, as one statement may not update a row twice.
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
	_, err := t.Q().Exec(t.Context(), `INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest(?::int[], ?::bigint[], ?::bytea[])
		ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash`, level, idx, hash)
	return err
}

// auditTime bounds entry times with the index on time
// (sqlstore.Config.AuditTime). Entry times never decrease along the log,
// so the entries at or after a time are those from the first such entry
// on, as SQLite's binary search finds them.
func auditTime(_ context.Context, since, until time.Time) ([]string, []any, error) {
	var conds []string
	var args []any
	if !since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, since.UnixNano())
	}
	if !until.IsZero() {
		conds, args = append(conds, "time < ?"), append(args, until.UnixNano())
	}
	return conds, args, nil
}
