package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/internal/listcol"
)

// Shared Signals streams and their queues. None of these writes is a
// cached kind of change, so none notifies watchers.

const ssfStreamCols = `id, owner, audience, method, endpoint_url, authorization_header, events_requested,
	description, excluded, status, reason, cursor, created_at, updated_at, version`

func scanSSFStream(row scanner) (*mayfly.SSFStream, error) {
	var st mayfly.SSFStream
	var events, excluded string
	var created, updated sql.NullInt64
	if err := row.Scan(&st.ID, &st.Owner, &st.Audience, &st.Method, &st.EndpointURL, &st.AuthorizationHeader, &events,
		&st.Description, &excluded, &st.Status, &st.Reason, &st.Cursor, &created, &updated, &st.Version); err != nil {
		return nil, err
	}
	st.CreatedAt, st.UpdatedAt = fromNanos(created), fromNanos(updated)
	var err error
	if st.EventsRequested, err = listcol.Decode(events); err != nil {
		return nil, fmt.Errorf("stream %s: events_requested: %w", st.ID, err)
	}
	if st.Excluded, err = listcol.Decode(excluded); err != nil {
		return nil, fmt.Errorf("stream %s: excluded: %w", st.ID, err)
	}
	return &st, nil
}

func (s *Store) CreateSSFStream(ctx context.Context, st *mayfly.SSFStream) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO ssf_streams (`+ssfStreamCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		st.ID, st.Owner, st.Audience, st.Method, st.EndpointURL, st.AuthorizationHeader, listcol.Encode(st.EventsRequested),
		st.Description, listcol.Encode(st.Excluded), st.Status, st.Reason, st.Cursor, nanos(st.CreatedAt), nanos(st.UpdatedAt))
	if err == nil {
		st.Version = 1
	}
	return storeErr("sqlite.CreateSSFStream", err)
}

func (s *Store) SSFStream(ctx context.Context, id string) (*mayfly.SSFStream, error) {
	st, err := scanSSFStream(s.r.QueryRowContext(ctx, `SELECT `+ssfStreamCols+` FROM ssf_streams WHERE id = ?`, id))
	return st, storeErr("sqlite.SSFStream", err)
}

func (s *Store) SSFStreams(ctx context.Context) ([]*mayfly.SSFStream, error) {
	return queryAll(ctx, s.r, "sqlite.SSFStreams", scanSSFStream, `SELECT `+ssfStreamCols+` FROM ssf_streams ORDER BY created_at, id`)
}

func (s *Store) UpdateSSFStream(ctx context.Context, st *mayfly.SSFStream) error {
	const op = "sqlite.UpdateSSFStream"
	var version int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The cursor is QueueSETs' alone: an update from a copy read before
		// the cursor moved must not move it back.
		err := tx.QueryRowContext(ctx, `UPDATE ssf_streams SET owner = ?, audience = ?, method = ?, endpoint_url = ?,
			authorization_header = ?, events_requested = ?, description = ?, excluded = ?, status = ?, reason = ?,
			created_at = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ? RETURNING version`,
			st.Owner, st.Audience, st.Method, st.EndpointURL, st.AuthorizationHeader, listcol.Encode(st.EventsRequested),
			st.Description, listcol.Encode(st.Excluded), st.Status, st.Reason, nanos(st.CreatedAt), nanos(st.UpdatedAt),
			st.ID, st.Version).Scan(&version)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Nothing matched: the stream is missing, or it changed.
		if err := tx.QueryRowContext(ctx, `SELECT version FROM ssf_streams WHERE id = ?`, st.ID).Scan(&version); err != nil {
			return err
		}
		return staleErr(op, "stream", version, st.Version)
	})
	if err != nil {
		return storeErr(op, err)
	}
	st.Version = version
	return nil
}

func (s *Store) DeleteSSFStream(ctx context.Context, id string) error {
	// The queue goes with it: ssf_queue references the stream ON DELETE CASCADE.
	res, err := s.w.ExecContext(ctx, `DELETE FROM ssf_streams WHERE id = ?`, id)
	return storeErr("sqlite.DeleteSSFStream", oneRow(res, err))
}

func (s *Store) QueueSETs(ctx context.Context, streamID string, from, to int64, sets []mayfly.QueuedSET) error {
	const op = "sqlite.QueueSETs"
	err := s.tx(ctx, func(tx *sql.Tx) error {
		moved := false
		if to > from {
			res, err := tx.ExecContext(ctx, `UPDATE ssf_streams SET cursor = ? WHERE id = ? AND cursor = ?`, to, streamID, from)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			moved = n > 0
		}
		if !moved {
			// The stream must exist; if the cursor was to move, it was
			// no longer at from.
			var cursor int64
			if err := tx.QueryRowContext(ctx, `SELECT cursor FROM ssf_streams WHERE id = ?`, streamID).Scan(&cursor); err != nil {
				return err
			}
			if to > from {
				return cursorErr(op, cursor, from)
			}
		}
		for _, q := range sets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ssf_queue (stream_id, jti, claims, created_at, attempts, next_attempt) VALUES (?, ?, ?, ?, ?, ?)`,
				streamID, q.JTI, q.Claims, nanos(q.CreatedAt), q.Attempts, nanos(q.NextAttempt)); err != nil {
				return err
			}
		}
		return nil
	})
	return storeErr(op, err)
}

// cursorErr is the Conflict of events made from a stale cursor.
func cursorErr(op string, stored, from int64) error {
	return &mayfly.Error{Op: op, Code: mayfly.Conflict, Msg: "stream cursor moved since it was read",
		Err: fmt.Errorf("cursor %d is stored, the events were made from %d", stored, from)}
}

// PendingSETs returns nothing, and no error, for a stream that does not
// exist. A limit of 0 or less means no limit.
func (s *Store) PendingSETs(ctx context.Context, streamID string, now time.Time, limit int) ([]mayfly.QueuedSET, error) {
	q := `SELECT stream_id, jti, claims, created_at, attempts, next_attempt FROM ssf_queue
		WHERE stream_id = ? AND (next_attempt IS NULL OR next_attempt <= ?) ORDER BY seq`
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	return queryAll(ctx, s.r, "sqlite.PendingSETs", scanQueuedSET, q, streamID, dueBy(now))
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

func scanQueuedSET(row scanner) (mayfly.QueuedSET, error) {
	var q mayfly.QueuedSET
	var created, next sql.NullInt64
	err := row.Scan(&q.StreamID, &q.JTI, &q.Claims, &created, &q.Attempts, &next)
	q.CreatedAt, q.NextAttempt = fromNanos(created), fromNanos(next)
	return q, err
}

func (s *Store) AckSETs(ctx context.Context, streamID string, jtis []string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, jti := range jtis {
			res, err := tx.ExecContext(ctx, `DELETE FROM ssf_queue WHERE stream_id = ? AND jti = ?`, streamID, jti)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, storeErr("sqlite.AckSETs", err)
	}
	return int(n), nil
}

func (s *Store) SSFQueueLength(ctx context.Context, streamID string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM ssf_queue WHERE stream_id = ?`, streamID).Scan(&n)
	return n, storeErr("sqlite.SSFQueueLength", err)
}

// DeferSET of a SET the stream does not hold returns ErrNotFound.
func (s *Store) DeferSET(ctx context.Context, streamID, jti string, attempts int, next time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE ssf_queue SET attempts = ?, next_attempt = ? WHERE stream_id = ? AND jti = ?`,
		attempts, nanos(next), streamID, jti)
	return storeErr("sqlite.DeferSET", oneRow(res, err))
}
