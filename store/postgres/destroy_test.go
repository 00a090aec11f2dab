package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// TestDestroyVacuums: a transaction that erases key material, or replaces
// or deletes a setting, vacuums the table once it commits, so dead row
// versions holding the old bytes do not wait for autovacuum.
func TestDestroyVacuums(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UTC()
	key := func(kid string) *mayfly.Key {
		return &mayfly.Key{KID: kid, Ring: "r", Alg: mayfly.ES256, Public: []byte("pub"), Sealed: []byte("sealed"),
			CreatedAt: now, ActivateAt: now, DeactivateAt: now.Add(time.Hour), RetireAt: now.Add(2 * time.Hour)}
	}
	tests := []struct {
		name, table string
		erase       func(s mayfly.Store, tx mayfly.Tx) error
	}{
		{"DestroyKeyMaterial", "keys", func(s mayfly.Store, tx mayfly.Tx) error {
			return s.DestroyKeyMaterial(tx, []string{"k1"})
		}},
		{"Revoke a key as the keys service does", "keys", func(s mayfly.Store, tx mayfly.Tx) error {
			k := key("k1")
			k.RevokedAt, k.Sealed = now, nil
			return errors.Join(s.Revoke(tx, &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: "k1", At: now}),
				s.SaveKeys(tx, []*mayfly.Key{k}), s.DestroyKeyMaterial(tx, []string{"k1"}))
		}},
		{"ReplaceSetting", "settings", func(s mayfly.Store, tx mayfly.Tx) error {
			return s.ReplaceSetting(tx, "sealed", []byte("resealed"))
		}},
		{"DeleteSetting", "settings", func(s mayfly.Store, tx mayfly.Tx) error {
			return s.DeleteSetting(tx, "sealed")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			s := open(t, dsn)
			ctx := t.Context()
			err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
				return errors.Join(s.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}),
					s.SaveKeys(tx, []*mayfly.Key{key("k1")}), s.PutSetting(tx, "sealed", []byte("sealed")))
			})
			if err != nil {
				t.Fatalf("setting up: %v", err)
			}
			if err := mayfly.Transact(ctx, s, func(tx mayfly.Tx) error { return tt.erase(s, tx) }); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var vacuumed bool
			err = connect(t, dsn).QueryRow(ctx, `SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relid = $1::regclass`, tt.table).Scan(&vacuumed)
			if err != nil {
				t.Fatalf("pg_stat_user_tables: %v", err)
			}
			if !vacuumed {
				t.Errorf("%s: table %s was not vacuumed", tt.name, tt.table)
			}
		})
	}
}
