// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database that MAYFLY_TEST_POSTGRES names, dropped when the
// test ends, so that tests never see each other's tables.
//
// Without MAYFLY_TEST_POSTGRES a test that asks for one is skipped, loudly,
// except in CI (CI=true), where it fails: ./test.sh starts a throwaway
// PostgreSQL and sets the variable.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test database, as a PostgreSQL URL or
// keyword string.
const Env = "MAYFLY_TEST_POSTGRES"

// DSN creates an empty schema for t and returns a DSN whose search_path
// puts everything in it. The schema is dropped, with its contents, when t
// and its subtests have finished; stores opened on it must be closed by
// cleanups registered after DSN returns, so that they run first.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI requires PostgreSQL, but %s is not set: run ./test.sh, which starts one", Env)
		}
		t.Skipf("PostgreSQL tests SKIPPED: %s is not set; ./test.sh starts a throwaway PostgreSQL", Env)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	if err := exec(base, `CREATE SCHEMA `+ident); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if err := exec(base, `DROP SCHEMA `+ident+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	dsn, err := withParam(base, "search_path", schema)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", Env, err)
	}
	return dsn
}

// exec runs one statement on a connection of its own.
func exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withParam adds a run-time parameter to a DSN, which pgx sends to the
// server when it connects.
func withParam(dsn, name, value string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// A keyword/value string; value is a plain identifier here.
	return strings.TrimSpace(dsn) + " " + name + "=" + value, nil
}
