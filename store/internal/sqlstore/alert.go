package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Alerts. Each change takes the next number of the alert_seq row, whose
// lock the transaction holds until it ends: numbers follow commit order
// in every process. The number is taken before the alert's row is
// touched, in every write, so two transactions never wait on each other
// in opposite orders.

const alertCols = `id, rule, state, subject, summary, first_seen, last_seen, count, evidence, actions, seq, updated_at, updated_by, note`

func scanAlert(row Row) (*mayfly.Alert, error) {
	var a mayfly.Alert
	var first, last, updated sql.NullInt64
	var evidence, actions string
	if err := row.Scan(&a.ID, &a.Rule, &a.State, &a.Subject, &a.Summary, &first, &last, &a.Count,
		&evidence, &actions, &a.Seq, &updated, &a.UpdatedBy, &a.Note); err != nil {
		return nil, err
	}
	a.FirstSeen, a.LastSeen, a.UpdatedAt = FromNanos(first), FromNanos(last), FromNanos(updated)
	if err := json.Unmarshal([]byte(evidence), &a.Evidence); err != nil {
		return nil, fmt.Errorf("alert %s: evidence: %w", a.ID, err)
	}
	var err error
	if a.Actions, err = decodeList(actions); err != nil {
		return nil, fmt.Errorf("alert %s: actions: %w", a.ID, err)
	}
	return &a, nil
}

// nextAlertSeq takes the next alert change number, and the lock that
// orders them.
func nextAlertSeq(t *Tx) (int64, error) {
	var seq int64
	err := t.conn.QueryRow(t.ctx, `UPDATE alert_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq)
	return seq, err
}

// AddEvidence adds e to an alert's evidence within AlertMaxEvidence: the
// first half of the bound is kept, and the latest firings take the rest,
// the oldest of them giving way.
func AddEvidence(list []mayfly.AlertEvidence, e mayfly.AlertEvidence) []mayfly.AlertEvidence {
	if len(list) < mayfly.AlertMaxEvidence {
		return append(list, e)
	}
	keep := mayfly.AlertMaxEvidence / 2
	out := append(list[:keep:keep], list[keep+1:mayfly.AlertMaxEvidence]...)
	return append(out, e)
}

func (s *Store) RaiseAlert(tx mayfly.Tx, sig mayfly.AlertSignal, id string, now time.Time) (*mayfly.Alert, bool, error) {
	const op = "RaiseAlert"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return nil, false, err
	}
	seq, err := nextAlertSeq(t)
	if err != nil {
		return nil, false, s.err(op, err)
	}
	seen := sig.Evidence.Time
	if seen.IsZero() {
		seen = now
	}
	ev, _ := json.Marshal([]mayfly.AlertEvidence{sig.Evidence}) // plain fields always marshal
	// The alert of the rule and subject that is not resolved, if there is
	// one, is counted and locked; else this one is made.
	a, err := scanAlert(t.conn.QueryRow(t.ctx, `INSERT INTO alerts (`+alertCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, '[]', ?, ?, '', '')
		ON CONFLICT (rule, subject) WHERE state <> 'resolved' DO UPDATE SET
			count = alerts.count + 1,
			first_seen = CASE WHEN excluded.first_seen < alerts.first_seen THEN excluded.first_seen ELSE alerts.first_seen END,
			last_seen = CASE WHEN excluded.last_seen > alerts.last_seen THEN excluded.last_seen ELSE alerts.last_seen END,
			seq = excluded.seq, updated_at = excluded.updated_at
		RETURNING `+alertCols,
		id, string(sig.Rule), string(mayfly.AlertOpen), sig.Subject, sig.Summary, seen.UnixNano(), seen.UnixNano(),
		string(ev), seq, now.UnixNano()))
	if err != nil {
		return nil, false, s.err(op, err)
	}
	created := a.ID == id
	if !created {
		a.Evidence = AddEvidence(a.Evidence, sig.Evidence)
		ev, _ = json.Marshal(a.Evidence)
		if _, err := t.conn.Exec(t.ctx, `UPDATE alerts SET evidence = ? WHERE id = ?`, string(ev), a.ID); err != nil {
			return nil, false, s.err(op, err)
		}
	}
	t.changed(mayfly.ChangeAlerts)
	return a, created, nil
}

func (s *Store) Alert(ctx context.Context, id string) (*mayfly.Alert, error) {
	a, err := scanAlert(s.cfg.Read.QueryRow(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = ?`, id))
	if err != nil {
		err = fmt.Errorf("alert %s: %w", id, err)
	}
	return a, s.err("Alert", err)
}

func (s *Store) Alerts(ctx context.Context, f mayfly.AlertFilter) ([]*mayfly.Alert, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"rule", string(f.Rule)}, {"state", string(f.State)}, {"subject", f.Subject}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "last_seen >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if f.AfterSeq > 0 {
		where = append(where, "seq > ?")
		args = append(args, f.AfterSeq)
	}
	q := `SELECT ` + alertCols + ` FROM alerts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.AfterSeq > 0 || f.BySeq {
		q += ` ORDER BY seq`
	} else {
		q += ` ORDER BY last_seen DESC, seq DESC`
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	all, err := queryAll(ctx, s.cfg.Read, scanAlert, q, args...)
	return all, s.err("Alerts", err)
}

func (s *Store) UpdateAlert(tx mayfly.Tx, a *mayfly.Alert) error {
	const op = "UpdateAlert"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	seq, err := nextAlertSeq(t)
	if err != nil {
		return s.err(op, err)
	}
	n, err := t.conn.Exec(t.ctx, `UPDATE alerts SET state = ?, updated_at = ?, updated_by = ?, note = ?, actions = ?, seq = ?
		WHERE id = ? AND seq = ?`,
		string(a.State), Nanos(a.UpdatedAt), a.UpdatedBy, a.Note, encodeList(a.Actions), seq, a.ID, a.Seq)
	if err != nil {
		return s.err(op, err)
	}
	if n == 0 {
		var stored int64
		if err := t.conn.QueryRow(t.ctx, `SELECT seq FROM alerts WHERE id = ?`, a.ID).Scan(&stored); err != nil {
			return s.err(op, fmt.Errorf("alert %s: %w", a.ID, err))
		}
		return &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Conflict, Msg: "the alert changed since it was read",
			Err: fmt.Errorf("seq %d is stored, the update was made from seq %d", stored, a.Seq)}
	}
	a.Seq = seq
	t.changed(mayfly.ChangeAlerts)
	return nil
}
