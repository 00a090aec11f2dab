package sqlite

import (
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/sqlstore"
)

// insertIssuances inserts issuance records a hundred rows a statement
// instead of one statement a row (sqlstore.Config.InsertIssuances).
func insertIssuances(t *sqlstore.Tx, recs []mayfly.Issuance, refs []sqlstore.IssuanceRefs) error {
	return insertRows(t, `INSERT INTO issuances (jti, key_ref, client_ref, principal_ref, source_ip, user_agent, iat, exp, digest, subject, actor, sid) VALUES `, 12, len(recs),
		func(i int, args []any) []any {
			r := recs[i]
			return append(args, r.JTI, refs[i].Key, refs[i].Client, refs[i].Principal, r.SourceIP, r.UserAgent, r.IssuedAt.Unix(), r.ExpiresAt.Unix(), r.Digest,
				r.Subject, r.Actor, r.SessionID)
		})
}

// insertRows runs prefix in t with n rows of cols values each, a hundred
// rows a statement.
func insertRows(t *sqlstore.Tx, prefix string, cols, n int, row func(i int, args []any) []any) error {
	const chunk = 100
	tuple := "(" + strings.Repeat("?,", cols-1) + "?)"
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
			args = row(i, args)
		}
		if _, err := t.Q().Exec(t.Context(), b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
