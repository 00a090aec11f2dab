package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/internal/app"
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

// TestUnreachableStoreLeavesNothing: a start whose store cannot be reached
// fails before it creates anything: no data directory, no root key.
func TestUnreachableStoreLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := app.New(ctx, app.Config{DataDir: dir, Issuer: "https://mayfly.test",
		Store: "postgres://mayfly@127.0.0.1:1/mayfly?connect_timeout=2",
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Fatal("started against an unreachable store")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory after the failed start: %v; want none", err)
	}
}
