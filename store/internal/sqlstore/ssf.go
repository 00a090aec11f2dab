package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Shared Signals streams and their queues. None of these writes is a
// cached kind of change, so none makes a change notice.
//
// A stream's EventsRequested and Excluded are kept as JSON arrays, [] when
// empty, and read back as nil when empty, so that a stored stream compares
// equal to the one written.

func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil || len(l) == 0 {
		return nil, err
	}
	return l, nil
}

const ssfStreamCols = `id, owner, audience, method, endpoint_url, authorization_header, events_requested,
	description, excluded, status, reason, cursor, created_at, updated_at, version`

func scanSSFStream(row Row) (*mayfly.SSFStream, error) {
	var st mayfly.SSFStream
	var events, excluded string
	var created, updated sql.NullInt64
	if err := row.Scan(&st.ID, &st.Owner, &st.Audience, &st.Method, &st.EndpointURL, &st.AuthorizationHeader, &events,
		&st.Description, &excluded, &st.Status, &st.Reason, &st.Cursor, &created, &updated, &st.Version); err != nil {
		return nil, err
	}
	st.CreatedAt, st.UpdatedAt = FromNanos(created), FromNanos(updated)
	var err error
	if st.EventsRequested, err = decodeList(events); err != nil {
		return nil, fmt.Errorf("stream %s: events_requested: %w", st.ID, err)
	}
	if st.Excluded, err = decodeList(excluded); err != nil {
		return nil, fmt.Errorf("stream %s: excluded: %w", st.ID, err)
	}
	return &st, nil
}

func (s *Store) CreateSSFStream(tx mayfly.Tx, st *mayfly.SSFStream) error {
	const op = "CreateSSFStream"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	_, err = t.conn.Exec(t.ctx, `INSERT INTO ssf_streams (`+ssfStreamCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		st.ID, st.Owner, st.Audience, st.Method, st.EndpointURL, st.AuthorizationHeader, encodeList(st.EventsRequested),
		st.Description, encodeList(st.Excluded), string(st.Status), st.Reason, st.Cursor, Nanos(st.CreatedAt), Nanos(st.UpdatedAt))
	if err != nil {
		return s.err(op, err)
	}
	st.Version = 1
	return nil
}

func (s *Store) SSFStream(ctx context.Context, id string) (*mayfly.SSFStream, error) {
	st, err := scanSSFStream(s.cfg.Read.QueryRow(ctx, `SELECT `+ssfStreamCols+` FROM ssf_streams WHERE id = ?`, id))
	return st, s.err("SSFStream", err)
}

func (s *Store) SSFStreams(ctx context.Context) ([]*mayfly.SSFStream, error) {
	all, err := queryAll(ctx, s.cfg.Read, scanSSFStream, `SELECT `+ssfStreamCols+` FROM ssf_streams ORDER BY created_at, id`)
	return all, s.err("SSFStreams", err)
}

func (s *Store) UpdateSSFStream(tx mayfly.Tx, st *mayfly.SSFStream) error {
	const op = "UpdateSSFStream"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	// The cursor is QueueSETs' alone: an update from a copy read before
	// the cursor moved must not move it back.
	version, err := s.versioned(t, op, "stream", "ssf_streams", st.ID, st.Version, `UPDATE ssf_streams SET owner = ?, audience = ?,
		method = ?, endpoint_url = ?, authorization_header = ?, events_requested = ?, description = ?, excluded = ?,
		status = ?, reason = ?, created_at = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND version = ? RETURNING version`,
		st.Owner, st.Audience, st.Method, st.EndpointURL, st.AuthorizationHeader, encodeList(st.EventsRequested),
		st.Description, encodeList(st.Excluded), string(st.Status), st.Reason, Nanos(st.CreatedAt), Nanos(st.UpdatedAt),
		st.ID, st.Version)
	if err != nil {
		return s.err(op, err)
	}
	st.Version = version
	return nil
}

func (s *Store) DeleteSSFStream(tx mayfly.Tx, id string) error {
	const op = "DeleteSSFStream"
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	// The queue goes with it: ssf_queue references the stream ON DELETE CASCADE.
	n, err := t.conn.Exec(t.ctx, `DELETE FROM ssf_streams WHERE id = ?`, id)
	return s.err(op, oneRow(n, err, "stream", id))
}

func (s *Store) QueueSETs(ctx context.Context, streamID string, from, to int64, sets []mayfly.QueuedSET) error {
	const op = "QueueSETs"
	err := s.inTx(ctx, func(q Querier) error {
		moved := false
		if to > from {
			// Of two writers moving the cursor from the same place, the
			// second waits for the first (its row lock, or SQLite's one
			// writer), then matches nothing.
			n, err := q.Exec(ctx, `UPDATE ssf_streams SET cursor = ? WHERE id = ? AND cursor = ?`, to, streamID, from)
			if err != nil {
				return err
			}
			moved = n > 0
		}
		if !moved {
			// The stream must exist; if the cursor was to move, it was
			// no longer at from.
			var cursor int64
			if err := q.QueryRow(ctx, `SELECT cursor FROM ssf_streams WHERE id = ?`, streamID).Scan(&cursor); err != nil {
				return fmt.Errorf("stream %s: %w", streamID, err)
			}
			if to > from {
				return &mayfly.Error{Op: s.cfg.Name + "." + op, Code: mayfly.Conflict, Msg: "stream cursor moved since it was read",
					Err: fmt.Errorf("cursor %d is stored, the events were made from %d", cursor, from)}
			}
		}
		// Inserted in order: seq is the queue order.
		b := &Batch{}
		for _, set := range sets {
			b.Exec(nil, `INSERT INTO ssf_queue (stream_id, jti, claims, created_at, attempts, next_attempt) VALUES (?, ?, ?, ?, ?, ?)`,
				streamID, set.JTI, set.Claims, Nanos(set.CreatedAt), set.Attempts, Nanos(set.NextAttempt))
		}
		return q.SendBatch(ctx, b)
	})
	return s.err(op, err)
}

// PendingSETs returns nothing, and no error, for a stream that does not
// exist. A limit of 0 or less means no limit.
func (s *Store) PendingSETs(ctx context.Context, streamID string, now time.Time, limit int) ([]mayfly.QueuedSET, error) {
	q := `SELECT stream_id, jti, claims, created_at, attempts, next_attempt FROM ssf_queue
		WHERE stream_id = ? AND (next_attempt IS NULL OR next_attempt <= ?) ORDER BY seq`
	args := []any{streamID, dueBy(now)}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	all, err := queryAll(ctx, s.cfg.Read, scanQueuedSET, q, args...)
	return all, s.err("PendingSETs", err)
}

// dueBy is t in Unix nanoseconds, clamped to the range they hold, so that
// a caller asking for what is due by a far-off time gets everything.
func dueBy(t time.Time) int64 {
	switch {
	case t.After(maxNanos):
		return math.MaxInt64
	case t.Before(minNanos):
		return math.MinInt64
	}
	return t.UnixNano()
}

var maxNanos, minNanos = time.Unix(0, math.MaxInt64), time.Unix(0, math.MinInt64)

func scanQueuedSET(row Row) (mayfly.QueuedSET, error) {
	var q mayfly.QueuedSET
	var created, next sql.NullInt64
	err := row.Scan(&q.StreamID, &q.JTI, &q.Claims, &created, &q.Attempts, &next)
	q.CreatedAt, q.NextAttempt = FromNanos(created), FromNanos(next)
	return q, err
}

func (s *Store) AckSETs(ctx context.Context, streamID string, jtis []string) (int, error) {
	if len(jtis) == 0 {
		return 0, nil
	}
	var n int64
	err := s.inTx(ctx, func(q Querier) error {
		b := &Batch{}
		for _, jti := range jtis {
			b.Exec(&n, `DELETE FROM ssf_queue WHERE stream_id = ? AND jti = ?`, streamID, jti)
		}
		return q.SendBatch(ctx, b)
	})
	if err != nil {
		return 0, s.err("AckSETs", err)
	}
	return int(n), nil
}

func (s *Store) SSFQueueLength(ctx context.Context, streamID string) (int, error) {
	var n int
	err := s.cfg.Read.QueryRow(ctx, `SELECT count(*) FROM ssf_queue WHERE stream_id = ?`, streamID).Scan(&n)
	return n, s.err("SSFQueueLength", err)
}

// DeferSET of a SET the stream does not hold returns ErrNotFound.
func (s *Store) DeferSET(ctx context.Context, streamID, jti string, attempts int, next time.Time) error {
	n, err := s.cfg.Write.Exec(ctx, `UPDATE ssf_queue SET attempts = ?, next_attempt = ? WHERE stream_id = ? AND jti = ?`,
		attempts, Nanos(next), streamID, jti)
	return s.err("DeferSET", oneRow(n, err, "queued SET", streamID+"/"+jti))
}
