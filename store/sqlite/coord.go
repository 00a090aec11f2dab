package sqlite

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/mayflyhq/mayfly"
)

// One process owns a SQLite database: Open takes an exclusive lock on a
// file beside it, so that locks and change notices, kept in memory here,
// cover every process that uses the database. Several replicas need the
// PostgreSQL store.

// lockFile takes the exclusive process lock for the database at path.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, &mayfly.Error{Code: mayfly.Conflict, Msg: fmt.Sprintf("database %s is in use by another process; to run several replicas, use a PostgreSQL store", path), Err: err}
	}
	return f, nil
}

// coord holds the in-process locks and change subscribers.
type coord struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
	subs  map[int]chan mayfly.Change
	next  int
}

func (s *Store) Lock(ctx context.Context, name string) (func(), error) {
	s.coord.mu.Lock()
	if s.coord.locks == nil {
		s.coord.locks = map[string]chan struct{}{}
	}
	l, ok := s.coord.locks[name]
	if !ok {
		l = make(chan struct{}, 1)
		s.coord.locks[name] = l
	}
	s.coord.mu.Unlock()
	select {
	case l <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l }) }, nil
	case <-ctx.Done():
		return nil, mayfly.E("sqlite.Lock", ctx.Err())
	}
}

func (s *Store) Watch(ctx context.Context, fn func(mayfly.Change)) error {
	ch := make(chan mayfly.Change, 64)
	s.coord.mu.Lock()
	if s.coord.subs == nil {
		s.coord.subs = map[int]chan mayfly.Change{}
	}
	id := s.coord.next
	s.coord.next++
	s.coord.subs[id] = ch
	s.coord.mu.Unlock()
	defer func() {
		s.coord.mu.Lock()
		delete(s.coord.subs, id)
		s.coord.mu.Unlock()
	}()
	fn(mayfly.ChangeAll)
	for {
		select {
		case c := <-ch:
			fn(c)
		case <-ctx.Done():
			return nil
		}
	}
}

// notify tells every watcher of a committed change. A watcher too far
// behind gets ChangeAll instead, which makes it reload everything.
func (s *Store) notify(c mayfly.Change) {
	s.coord.mu.Lock()
	defer s.coord.mu.Unlock()
	for _, ch := range s.coord.subs {
		select {
		case ch <- c:
		default:
			select {
			case <-ch: // make room
			default:
			}
			select {
			case ch <- mayfly.ChangeAll:
			default:
			}
		}
	}
}
