package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
)

// Locks and change notices coordinate the replicas sharing the database.
// Each held lock and each running watch has a connection of its own, outside
// the pool: a session-level advisory lock belongs to its session, and a
// LISTEN lasts as long as its session, so neither can go back to a pool.

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second

	// hangUpTimeout bounds the goodbyes on a dedicated connection: the
	// session ends when the socket closes in any case.
	hangUpTimeout = 5 * time.Second
)

func (s *Store) errClosed(op string) error {
	return &mayfly.Error{Op: op, Code: mayfly.Unavailable, Msg: "store is closed"}
}

// dial opens a dedicated connection and tracks it until hangUp, so that
// Close can end it.
func (s *Store) dial(ctx context.Context, op string) (*pgx.Conn, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, s.errClosed(op)
	}
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return nil, mayfly.E(op, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.hangUp(conn)
		return nil, s.errClosed(op)
	}
	s.conns[conn] = conn.PgConn().Conn()
	s.mu.Unlock()
	return conn, nil
}

// hangUp closes a dedicated connection, ending its session.
func (s *Store) hangUp(conn *pgx.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), hangUpTimeout)
	defer cancel()
	conn.Close(ctx)
}

// maxIdleLocks bounds the lock sessions kept open, holding nothing, for
// the next Lock: dialling a session costs more than the lock itself. One
// idle longer than maxIdleFor is not reused: a firewall may have dropped
// it without a word, and a lock taken on it would wait on a dead socket.
const (
	maxIdleLocks = 4
	maxIdleFor   = 30 * time.Second
)

// idleLock is a kept lock session and when it was parked.
type idleLock struct {
	conn   *pgx.Conn
	parked time.Time
}

func (s *Store) Lock(ctx context.Context, name string) (func(), error) {
	const op = "postgres.Lock"
	conn, reused := s.takeIdleLock()
	if conn == nil {
		var err error
		if conn, err = s.dial(ctx, op); err != nil {
			return nil, err
		}
	}
	key := lockName(s.schema, "lock/"+name)
	_, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, key)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		// The lock may have been granted just as ctx ended: ending the
		// session releases whatever it holds.
		s.hangUp(conn)
		if reused && ctx.Err() == nil {
			return s.Lock(ctx, name) // the idle session had gone; dial afresh
		}
		return nil, mayfly.E(op, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), hangUpTimeout)
			defer cancel()
			var released bool
			err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, key).Scan(&released)
			if err != nil || !released || !s.parkLock(conn) {
				s.hangUp(conn)
			}
		})
	}, nil
}

// takeIdleLock takes a kept lock session that has not been idle too long,
// if there is one, and hangs up on those that have.
func (s *Store) takeIdleLock() (*pgx.Conn, bool) {
	s.mu.Lock()
	var stale []*pgx.Conn
	var conn *pgx.Conn
	for len(s.idle) > 0 && !s.closed && conn == nil {
		l := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(l.parked) > maxIdleFor {
			stale = append(stale, l.conn)
		} else {
			conn = l.conn
		}
	}
	s.mu.Unlock()
	for _, c := range stale {
		s.hangUp(c)
	}
	return conn, conn != nil
}

// parkLock keeps a session that holds no lock for the next Lock.
func (s *Store) parkLock(conn *pgx.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.idle) >= maxIdleLocks || conn.IsClosed() {
		return false
	}
	s.idle = append(s.idle, idleLock{conn, time.Now()})
	return true
}

func (s *Store) Watch(ctx context.Context, fn func(mayfly.Change)) error {
	const op = "postgres.Watch"
	delay := minBackoff
	for {
		if conn, err := s.dial(ctx, op); err == nil {
			if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err == nil {
				delay = minBackoff
				// Every change committed from here on is delivered; any
				// before it, or while no connection listened, may not be.
				fn(mayfly.ChangeAll)
				for {
					n, err := conn.WaitForNotification(ctx)
					if err != nil {
						break
					}
					fn(mayfly.Change(n.Payload))
				}
			}
			s.hangUp(conn)
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.errClosed(op)
		case <-time.After(delay):
		}
		delay = min(2*delay, maxBackoff)
	}
}
