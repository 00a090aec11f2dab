package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server"
	"github.com/mayflyhq/mayfly/store/postgres/pgtest"
)

// TestShutdownEndsStreams: a graceful shutdown ends open revocation streams
// instead of waiting out its deadline on them (Run would then fail).
func TestShutdownEndsStreams(t *testing.T) {
	dir := t.TempDir()
	ctx, stop := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		errc <- server.Run(ctx, server.Config{DataDir: dir, Addr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
			func(_ *server.Server, addr string) { ready <- "http://" + addr })
	}()
	base := <-ready
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+api.StreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	stop()
	if err := <-errc; err != nil {
		t.Errorf("Run with a stream open at shutdown: %v; want a clean shutdown", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Logf("stream ended with %v", err)
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
	err := server.Run(ctx, server.Config{DataDir: dir, Addr: "127.0.0.1:0", Store: dsn, RootKeyFile: filepath.Join(dir, "root.key"),
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		func(*server.Server, string) { stop() }) // serving: stop at once
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
