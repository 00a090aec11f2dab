package sqlstore

import (
	"context"

	"github.com/mayflyhq/mayfly"
)

// Settings hold small named values, some of them sealed keys: replacing or
// deleting one scrubs the table once the transaction commits.

func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.cfg.Read.QueryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	return v, s.err("Setting", err)
}

func (s *Store) PutSetting(tx mayfly.Tx, name string, value []byte) error {
	return s.setting(tx, "PutSetting", false, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, value)
}

func (s *Store) ReplaceSetting(tx mayfly.Tx, name string, value []byte) error {
	return s.setting(tx, "ReplaceSetting", true, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
}

func (s *Store) DeleteSetting(tx mayfly.Tx, name string) error {
	return s.setting(tx, "DeleteSetting", true, `DELETE FROM settings WHERE name = ?`, name)
}

// setting runs a change of settings in tx; scrub says whether it may free
// an old value.
func (s *Store) setting(tx mayfly.Tx, op string, scrub bool, query string, args ...any) error {
	t, err := TxOf(s, tx, op)
	if err != nil {
		return err
	}
	if _, err := t.conn.Exec(t.ctx, query, args...); err != nil {
		return s.err(op, err)
	}
	t.changed(mayfly.ChangeSettings)
	if scrub {
		t.scrubs("settings")
	}
	return nil
}
