package sqlite

import (
	"context"

	"github.com/mayflyhq/mayfly"
)

func (s *Store) ReplaceSetting(ctx context.Context, name string, value []byte) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err == nil {
		s.notify(mayfly.ChangeSettings)
		err = s.scrub(ctx) // the old value may be a sealed key
	}
	return storeErr("sqlite.ReplaceSetting", err)
}
