package sqlstore

import (
	"context"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly"
)

// The ledger's journal. A batch is claimed by locking its row (PostgreSQL:
// FOR UPDATE SKIP LOCKED, so that processes sharing the database pass
// over each other's batches; SQLite: its one writer), and the claim's
// state changes (seen, deleted) commit with what the claimant did.

// journalChunk bounds the IDs one statement names.
const journalChunk = 500

func (s *Store) AppendLedgerBatches(tx mayfly.Tx, batches []*mayfly.LedgerBatch) error {
	const op = "AppendLedgerBatches"
	t, err := TxOf(s, tx, op)
	if err != nil || len(batches) == 0 {
		return err
	}
	for _, bt := range batches {
		switch {
		case bt.Service == "" || len(bt.Service) > mayfly.LedgerMaxName:
			return s.opErr(op, mayfly.InvalidField("service", "a journal batch names its service, in 1 to %d bytes", mayfly.LedgerMaxName))
		case len(bt.Body) == 0 || len(bt.Body) > mayfly.LedgerJournalMaxBody:
			return s.opErr(op, mayfly.InvalidField("body", "a journal batch holds 1 to %d bytes", mayfly.LedgerJournalMaxBody))
		case bt.Received.IsZero():
			return s.opErr(op, mayfly.InvalidField("received", "a journal batch needs the time it was received"))
		}
	}
	ids := make([]int64, len(batches))
	b := &Batch{}
	for i, bt := range batches {
		b.QueryRow(func(row Row) error { return row.Scan(&ids[i]) },
			`INSERT INTO ledger_journal (received, service, body, seen) VALUES (?, ?, ?, FALSE) RETURNING id`,
			bt.Received.UnixNano(), bt.Service, bt.Body)
	}
	if err := t.conn.SendBatch(t.ctx, b); err != nil {
		return s.err(op, err)
	}
	for i, bt := range batches {
		bt.ID, bt.Seen = ids[i], false
	}
	return nil
}

func (s *Store) LedgerJournal(ctx context.Context, after int64, limit int) ([]*mayfly.LedgerBatch, error) {
	if limit <= 0 {
		return nil, nil
	}
	all, err := queryAll(ctx, s.cfg.Read, func(row Row) (*mayfly.LedgerBatch, error) {
		var b mayfly.LedgerBatch
		var received int64
		err := row.Scan(&b.ID, &received, &b.Service, &b.Body, &b.Seen)
		b.Received = time.Unix(0, received).UTC()
		return &b, err
	}, `SELECT id, received, service, body, seen FROM ledger_journal WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	return all, s.err("LedgerJournal", err)
}

func (s *Store) ClaimLedgerBatches(tx mayfly.Tx, ids []int64, unseen bool) ([]int64, error) {
	const op = "ClaimLedgerBatches"
	t, err := TxOf(s, tx, op)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	cond := ""
	if unseen {
		cond = " AND NOT seen"
	}
	var out []int64
	for chunk := range slices.Chunk(ids, journalChunk) {
		q, args := inList(chunk)
		got, err := queryAll(t.ctx, t.conn, func(row Row) (int64, error) {
			var id int64
			return id, row.Scan(&id)
		}, `SELECT id FROM ledger_journal WHERE id IN (`+q+`)`+cond+` ORDER BY id`+s.cfg.SkipLocked, args...)
		if err != nil {
			return nil, s.err(op, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (s *Store) MarkLedgerBatchesSeen(tx mayfly.Tx, ids []int64) error {
	return s.journalExec(tx, "MarkLedgerBatchesSeen", `UPDATE ledger_journal SET seen = TRUE WHERE id IN `, ids)
}

func (s *Store) DeleteLedgerBatches(tx mayfly.Tx, ids []int64) error {
	return s.journalExec(tx, "DeleteLedgerBatches", `DELETE FROM ledger_journal WHERE id IN `, ids)
}

func (s *Store) journalExec(tx mayfly.Tx, op, stmt string, ids []int64) error {
	t, err := TxOf(s, tx, op)
	if err != nil || len(ids) == 0 {
		return err
	}
	b := &Batch{}
	for chunk := range slices.Chunk(ids, journalChunk) {
		q, args := inList(chunk)
		b.Exec(nil, stmt+`(`+q+`)`, args...)
	}
	return s.err(op, t.conn.SendBatch(t.ctx, b))
}

func (s *Store) LedgerJournalDepth(ctx context.Context) (int, error) {
	var n int
	err := s.cfg.Read.QueryRow(ctx, `SELECT COUNT(*) FROM ledger_journal`).Scan(&n)
	return n, s.err("LedgerJournalDepth", err)
}

// inList is the placeholders and arguments of ids in an IN list.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return placeholders(len(ids)), args
}
