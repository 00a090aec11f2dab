package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/internal/detect"
)

// TestDetector: the ingest gets a detector exactly when there is an alert
// service to raise through, and a bad threshold stops the start.
func TestDetector(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Issuer: "https://mayfly.test", Store: filepath.Join(dir, "m.db"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	bad := cfg
	bad.Detect = detect.Config{BulkFloor: -1}
	if _, err := New(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "--detect-bulk-floor") {
		t.Fatalf("New with a negative floor: %v; want it refused, naming the flag", err)
	}
	a, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if d, r := a.detector(), a.raiser(); (d == nil) != (r == nil) {
		t.Errorf("detector %v with raiser %v; want one exactly when there is the other", d, r)
	}
}
