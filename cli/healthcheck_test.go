package cli_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestHealthcheck runs "mayfly healthcheck" against real servers on
// loopback: it succeeds only on a 200 from /healthz.
func TestHealthcheck(t *testing.T) {
	var mu sync.Mutex
	status, paths := http.StatusOK, []string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// A port nothing listens on: one that was just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		name   string
		status int
		env    map[string]string
		args   []string
		code   int
		path   string // the path the server saw, if it was reached
		stderr string
	}{
		{"url", 200, nil, []string{"--url", srv.URL + "/healthz"}, 0, "/healthz", ""},
		{"unhealthy", 503, nil, []string{"--url", srv.URL + "/healthz"}, 1, "/healthz", "503"},
		{"serve address", 200, map[string]string{"MAYFLY_ADDR": "127.0.0.1:" + port}, nil, 0, "/healthz", ""},
		{"wildcard address", 200, map[string]string{"MAYFLY_ADDR": "0.0.0.0:" + port}, nil, 0, "/healthz", ""},
		{"admin URL", 200, map[string]string{"MAYFLY_ADDR": srv.URL + "/"}, nil, 0, "/healthz", ""},
		{"nothing listening", 200, nil, []string{"--url", "http://" + closed + "/healthz"}, 1, "", "refused"},
		{"not a URL", 200, nil, []string{"--url", "127.0.0.1:8740"}, 2, "", "not an http"},
		{"bad address", 200, map[string]string{"MAYFLY_ADDR": "ftp://127.0.0.1:1"}, nil, 2, "", "MAYFLY_ADDR"},
		{"arguments", 200, nil, []string{"extra"}, 2, "", "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			status, paths = tt.status, nil
			mu.Unlock()
			r := run(tt.env, append([]string{"healthcheck"}, tt.args...)...)
			mu.Lock()
			defer mu.Unlock()
			if r.code != tt.code {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d", r.code, r.stdout, r.stderr, tt.code)
			}
			if got := strings.Join(paths, ","); got != tt.path {
				t.Errorf("server saw %q; want %q", got, tt.path)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q; want it to mention %q", r.stderr, tt.stderr)
			}
		})
	}
}
