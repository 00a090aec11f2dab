package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
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
	var created, updated *int64
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
	_, err := s.pool.Exec(ctx, `INSERT INTO ssf_streams (`+ssfStreamCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1)`,
		st.ID, st.Owner, st.Audience, st.Method, st.EndpointURL, st.AuthorizationHeader, listcol.Encode(st.EventsRequested),
		st.Description, listcol.Encode(st.Excluded), string(st.Status), st.Reason, st.Cursor, nanos(st.CreatedAt), nanos(st.UpdatedAt))
	if err == nil {
		st.Version = 1
	}
	return storeErr("postgres.CreateSSFStream", err)
}

func (s *Store) SSFStream(ctx context.Context, id string) (*mayfly.SSFStream, error) {
	st, err := scanSSFStream(s.pool.QueryRow(ctx, `SELECT `+ssfStreamCols+` FROM ssf_streams WHERE id = $1`, id))
	return st, storeErr("postgres.SSFStream", err)
}

func (s *Store) SSFStreams(ctx context.Context) ([]*mayfly.SSFStream, error) {
	return queryAll(ctx, s, "postgres.SSFStreams", scanSSFStream, `SELECT `+ssfStreamCols+` FROM ssf_streams ORDER BY created_at, id`)
}

func (s *Store) UpdateSSFStream(ctx context.Context, st *mayfly.SSFStream) error {
	const op = "postgres.UpdateSSFStream"
	var version int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		// The cursor is QueueSETs' alone: an update from a copy read before
		// the cursor moved must not move it back.
		err := tx.QueryRow(ctx, `UPDATE ssf_streams SET owner = $1, audience = $2, method = $3, endpoint_url = $4,
			authorization_header = $5, events_requested = $6, description = $7, excluded = $8, status = $9, reason = $10,
			created_at = $11, updated_at = $12, version = version + 1
			WHERE id = $13 AND version = $14 RETURNING version`,
			st.Owner, st.Audience, st.Method, st.EndpointURL, st.AuthorizationHeader, listcol.Encode(st.EventsRequested),
			st.Description, listcol.Encode(st.Excluded), string(st.Status), st.Reason, nanos(st.CreatedAt), nanos(st.UpdatedAt),
			st.ID, st.Version).Scan(&version)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Nothing matched: the stream is missing, or it changed.
		if err := tx.QueryRow(ctx, `SELECT version FROM ssf_streams WHERE id = $1`, st.ID).Scan(&version); err != nil {
			return fmt.Errorf("stream %s: %w", st.ID, err)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM ssf_streams WHERE id = $1`, id)
	return storeErr("postgres.DeleteSSFStream", oneRow(tag, err, "stream", id))
}

func (s *Store) QueueSETs(ctx context.Context, streamID string, from, to int64, sets []mayfly.QueuedSET) error {
	const op = "postgres.QueueSETs"
	err := s.write(ctx, func(tx pgx.Tx) error {
		moved := false
		if to > from {
			// Of two writers moving the cursor from the same place, the
			// second waits for the first's row lock, then matches nothing.
			tag, err := tx.Exec(ctx, `UPDATE ssf_streams SET cursor = $1 WHERE id = $2 AND cursor = $3`, to, streamID, from)
			if err != nil {
				return err
			}
			moved = tag.RowsAffected() > 0
		}
		if !moved {
			// The stream must exist; if the cursor was to move, it was
			// no longer at from.
			var cursor int64
			if err := tx.QueryRow(ctx, `SELECT cursor FROM ssf_streams WHERE id = $1`, streamID).Scan(&cursor); err != nil {
				return fmt.Errorf("stream %s: %w", streamID, err)
			}
			if to > from {
				return cursorErr(op, cursor, from)
			}
		}
		// One round trip for the lot, inserted in order: seq is the queue order.
		b := &pgx.Batch{}
		for _, q := range sets {
			b.Queue(`INSERT INTO ssf_queue (stream_id, jti, claims, created_at, attempts, next_attempt) VALUES ($1, $2, $3, $4, $5, $6)`,
				streamID, q.JTI, q.Claims, nanos(q.CreatedAt), q.Attempts, nanos(q.NextAttempt))
		}
		return tx.SendBatch(ctx, b).Close()
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
		WHERE stream_id = $1 AND (next_attempt IS NULL OR next_attempt <= $2) ORDER BY seq`
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	return queryAll(ctx, s, "postgres.PendingSETs", scanQueuedSET, q, streamID, dueBy(now))
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
	var created, next *int64
	err := row.Scan(&q.StreamID, &q.JTI, &q.Claims, &created, &q.Attempts, &next)
	q.CreatedAt, q.NextAttempt = fromNanos(created), fromNanos(next)
	return q, err
}

func (s *Store) AckSETs(ctx context.Context, streamID string, jtis []string) (int, error) {
	if len(jtis) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM ssf_queue WHERE stream_id = $1 AND jti = ANY($2)`, streamID, jtis)
	if err != nil {
		return 0, storeErr("postgres.AckSETs", err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *Store) SSFQueueLength(ctx context.Context, streamID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ssf_queue WHERE stream_id = $1`, streamID).Scan(&n)
	return n, storeErr("postgres.SSFQueueLength", err)
}

// DeferSET of a SET the stream does not hold returns ErrNotFound.
func (s *Store) DeferSET(ctx context.Context, streamID, jti string, attempts int, next time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE ssf_queue SET attempts = $1, next_attempt = $2 WHERE stream_id = $3 AND jti = $4`,
		attempts, nanos(next), streamID, jti)
	return storeErr("postgres.DeferSET", oneRow(tag, err, "queued SET", streamID+"/"+jti))
}
