package app_test

import (
	"context"
	"os"
	"strings"
	"testing"

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
