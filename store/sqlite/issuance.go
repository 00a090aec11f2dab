package sqlite

import (
	"strings"
	"sync"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
)

// insertIssuances inserts issuance records many rows a statement instead
// of one statement a row (sqlstore.Config.InsertIssuances).
func insertIssuances(t *sqlstore.Tx, recs []mayfly.Issuance, refs []sqlstore.IssuanceRefs) error {
	return insertRows(t, `INSERT INTO issuances (jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp, digest, subject, actor, sid) VALUES `, 12, len(recs),
		func(i int, args []any) []any {
			r := recs[i]
			return append(args, r.JTI, refs[i].Key, refs[i].Client, refs[i].Principal, r.SourceIP, r.UserAgent, r.IssuedAt.Unix(), r.ExpiresAt.Unix(), r.Digest,
				r.Subject, r.Actor, r.SessionID)
		})
}

// maxChunk is the most rows one insert statement carries.
const maxChunk = 64

// insertRows runs prefix in t with n rows of cols values each, at most
// maxChunk rows a statement: at most maxChunk distinct statements per
// prefix, each prepared once (sqlstore.Statements), so that SQLite does
// not parse one per batch.
func insertRows(t *sqlstore.Tx, prefix string, cols, n int, row func(i int, args []any) []any) error {
	tuple := "(" + strings.Repeat("?,", cols-1) + "?)"
	args := make([]any, 0, min(n, maxChunk)*cols)
	for start := 0; start < n; {
		size := min(n-start, maxChunk)
		args = args[:0]
		for i := start; i < start+size; i++ {
			args = row(i, args)
		}
		if _, err := t.Q().Exec(t.Context(), chunkSQL(prefix, tuple, size), args...); err != nil {
			return err
		}
		start += size
	}
	return nil
}

// chunkSQL is prefix followed by size copies of tuple, made once per
// statement.
func chunkSQL(prefix, tuple string, size int) string {
	k := chunkKey{prefix, size}
	if q, ok := chunks.Load(k); ok {
		return q.(string)
	}
	q := prefix + tuple + strings.Repeat(","+tuple, size-1)
	chunks.Store(k, q)
	return q
}

type chunkKey struct {
	prefix string
	size   int
}

var chunks sync.Map // chunkKey -> string
