package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/mayflyhq/mayfly"
)

func (s *Store) ReplaceSetting(ctx context.Context, name string, value []byte) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
		return err
	}, mayfly.ChangeSettings)
	if err == nil {
		s.vacuum(ctx, "settings") // the old value may be a sealed key
	}
	return storeErr("postgres.ReplaceSetting", err)
}
