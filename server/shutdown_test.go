package server_test

import (
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
