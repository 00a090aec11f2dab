package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://mayfly:hunter2@db.internal/mayfly", "postgres://mayfly:xxxxx@db.internal/mayfly"},
		{"postgres://mayfly@db/mayfly?password=hunter2&sslmode=require", "postgres://mayfly@db/mayfly?password=xxxxx&sslmode=require"},
		{"postgresql://u@h/db?sslpassword=hunter2", "postgresql://u@h/db?sslpassword=xxxxx"},
		{"postgres://u:hunter2%zz@h/db", "(a store URL that does not parse)"},
		{"/var/lib/mayfly/mayfly.db", "/var/lib/mayfly/mayfly.db"},
	}
	for _, tt := range tests {
		if got := app.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestOpenStoreRefuses: what is neither a postgres:// URL nor a file path is
// refused with an error that does not repeat a password, and no file is made.
func TestOpenStoreRefuses(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{"host=db user=mayfly password=hunter2 dbname=mayfly", "mysql://root:hunter2@db/mayfly"} {
		_, _, err := app.OpenStore(context.Background(), dsn)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("OpenStore(%q): %v; want a refusal without the password", dsn, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused store strings left files: %v", entries)
	}
}

// TestStorePasswordNotLogged: a server whose store URL carries a password
// never logs it.
func TestStorePasswordNotLogged(t *testing.T) {
	dsn := strings.Replace(pgtest.DSN(t), "postgres://mayfly@", "postgres://mayfly:hunter2-store-secret@", 1)
	if !strings.Contains(dsn, "hunter2") {
		t.Fatalf("test DSN %q has no user part to put a password in", dsn)
	}
	var logs bytes.Buffer
	dir := t.TempDir()
	ctx, stop := context.WithCancel(t.Context())
	err := app.Run(ctx, app.Config{DataDir: dir, Addr: "127.0.0.1:0", Store: dsn, RootKeyFile: filepath.Join(dir, "root.key"),
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		func(*app.Server, string) { stop() }) // serving: stop at once
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the store password is in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "xxxxx") {
		t.Errorf("the log does not name the (redacted) store:\n%s", logs.String())
	}
}
