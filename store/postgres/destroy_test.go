package postgres_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// TestDestroyVacuums: erasing key material or a setting vacuums its table,
// so dead row versions holding it do not wait for autovacuum.
func TestDestroyVacuums(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UTC()
	key := func(kid string) *mayfly.Key {
		return &mayfly.Key{KID: kid, Ring: "r", Alg: mayfly.ES256, Public: []byte("pub"), Sealed: []byte("sealed"),
			CreatedAt: now, ActivateAt: now, DeactivateAt: now.Add(time.Hour), RetireAt: now.Add(2 * time.Hour)}
	}
	tests := []struct {
		name, table string
		erase       func(t *testing.T, s mayfly.Store) error
	}{
		{"DestroyKeyMaterial", "keys", func(t *testing.T, s mayfly.Store) error {
			return s.DestroyKeyMaterial(t.Context(), []string{"k1"})
		}},
		{"Revoke a key", "keys", func(t *testing.T, s mayfly.Store) error {
			return s.Revoke(t.Context(), &mayfly.Revocation{Kind: mayfly.RevokeKey, Subject: "k1", At: now})
		}},
		{"DeleteSetting", "settings", func(t *testing.T, s mayfly.Store) error {
			return s.DeleteSetting(t.Context(), "sealed")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			s := open(t, dsn)
			ctx := t.Context()
			if err := s.CreateRing(ctx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}); err != nil {
				t.Fatalf("CreateRing: %v", err)
			}
			if err := s.SaveKeys(ctx, []*mayfly.Key{key("k1")}); err != nil {
				t.Fatalf("SaveKeys: %v", err)
			}
			if err := s.PutSetting(ctx, "sealed", []byte("sealed")); err != nil {
				t.Fatalf("PutSetting: %v", err)
			}
			if err := tt.erase(t, s); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var vacuumed bool
			err := connect(t, dsn).QueryRow(ctx, `SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relid = $1::regclass`, tt.table).Scan(&vacuumed)
			if err != nil {
				t.Fatalf("pg_stat_user_tables: %v", err)
			}
			if !vacuumed {
				t.Errorf("%s: table %s was not vacuumed", tt.name, tt.table)
			}
		})
	}
}
