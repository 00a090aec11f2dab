package cli_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestServeOpsPprof runs "mayfly serve --ops-pprof": Go's profiler answers
// on the ops listener (its index, a named profile, a short CPU profile),
// the command line does not (it holds the store's URL), and the API's
// listener serves none of it. Without --ops-addr the flag is a usage error.
func TestServeOpsPprof(t *testing.T) {
	data := t.TempDir()
	args := fmt.Sprintf("serve --addr 127.0.0.1:0 --ops-addr 127.0.0.1:0 --ops-pprof --data %s", data)
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		args += " --store " + storeURL(t, data)
	}
	_, out := startServe(t, args, "mayfly: ops endpoints at ")
	line, _ := out.find("mayfly: serving at ")
	base := strings.TrimPrefix(line, "mayfly: serving at ")
	line, _ = out.find("mayfly: ops endpoints at ")
	ops := strings.TrimPrefix(line, "mayfly: ops endpoints at ")
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		url  string
		code int
		has  string
	}{
		{ops + "/debug/pprof/", 200, "goroutine"},
		{ops + "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{ops + "/debug/pprof/profile?seconds=1", 200, ""},
		{ops + "/debug/pprof/cmdline", 404, ""},
		{ops + "/metrics", 200, "mayfly_"},
		{base + "/debug/pprof/", 404, `"not_found"`},
		{base + "/debug/pprof/goroutine?debug=1", 404, `"not_found"`},
	} {
		if code, body := get(tt.url); code != tt.code || !strings.Contains(body, tt.has) || strings.Contains(body, data) {
			t.Errorf("GET %s: %d %.80q; want %d with %q, and not the data directory", tt.url, code, body, tt.code, tt.has)
		}
	}

	res := run(nil, "serve", "--ops-pprof", "--data", t.TempDir())
	if res.code != 2 || !strings.Contains(res.stderr, "--ops-pprof needs --ops-addr") {
		t.Errorf("serve --ops-pprof without --ops-addr: exit %d, stderr %q; want a usage error naming --ops-addr", res.code, res.stderr)
	}
}
