package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/mayflyhq/mayfly/api"
)

// TestServeLogsShutdown runs mayfly serve as a process, as an operator
// would, with a revocation stream open and a request under way, sends it
// SIGTERM and reads what it logged: a line as the shutdown starts, naming
// the signal and what it will wait for, and one when it is done, with what
// it finished. The request under way gets its answer.
func TestServeLogsShutdown(t *testing.T) {
	dir := t.TempDir()
	args := "serve --addr 127.0.0.1:0 --log-format json --data " + dir
	if os.Getenv("MAYFLY_TEST_STORE") == "postgres" {
		args += " --store " + storeURL(t, dir)
	}
	cmd, stderr := spawn(t, args)
	// Every line the process writes to stderr, in order; closed at its end.
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var logged []string
	// next returns the next line that has prefix, failing if the process
	// ends first.
	next := func(prefix string) string {
		t.Helper()
		for l := range lines {
			logged = append(logged, l)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no line beginning %q; the process wrote:\n%s", prefix, strings.Join(logged, "\n"))
		return ""
	}
	// nextLog returns the next log line whose message begins with msg.
	nextLog := func(msg string) map[string]any {
		t.Helper()
		for {
			var m map[string]any
			if l := next("{"); json.Unmarshal([]byte(l), &m) != nil {
				t.Fatalf("log line %q is not JSON", l)
			}
			if strings.HasPrefix(fmt.Sprint(m["msg"]), msg) {
				return m
			}
		}
	}
	base := strings.TrimPrefix(next("mayfly: serving at "), "mayfly: serving at ")
	token := adminToken(t, dir)

	// A revocation stream, open once it has said it is ready.
	req, err := http.NewRequest("GET", base+api.StreamPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	events := bufio.NewScanner(stream.Body)
	for events.Scan() && events.Text() != "event: ready" {
	}

	// A request under way: its handler is reading its body, which the
	// server shows by answering 100 Continue, and the rest of the body
	// comes only once the shutdown has begun.
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name": "late", "kind": "human"}`
	fmt.Fprintf(conn, "POST /v1/principals HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		u.Host, token, len(body))
	br := bufio.NewReader(conn)
	if status, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		t.Fatalf("the request under way: %q, %v; want 100 Continue", status, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := nextLog("shutting down")
	if start["level"] != "INFO" || start["signal"] != "SIGTERM" || start["requests"] != 1.0 || start["streams"] != 1.0 || start["polls"] != 0.0 {
		t.Errorf("the shutdown's first line: %v; want INFO, signal SIGTERM, 1 request, 1 stream, 0 polls", start)
	}
	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Errorf("the request under way at the shutdown: %v, %v; want 201 Created", resp, err)
	}
	// The stream ends: the verifier reconnects elsewhere or later.
	for events.Scan() {
	}

	end := nextLog("shut down")
	if end["msg"] != "shut down" {
		t.Fatalf("the shutdown did not finish cleanly: %v", end)
	}
	for k, want := range map[string]any{"level": "INFO", "requests_finished": 1.0, "streams_closed": 1.0, "polls_ended": 0.0,
		"issuance_records_flushed": 0.0, "ssf_pushes_finished": 0.0, "ssf_events_queued": 0.0} {
		if end[k] != want {
			t.Errorf("the shutdown's last line: %s is %v, want %v: %v", k, end[k], want, end)
		}
	}
	// The principal made by the request under way is in the log too.
	if n, ok := end["audit_entries_flushed"].(float64); !ok || n < 1 {
		t.Errorf("the shutdown's last line: audit_entries_flushed %v; want the request's entry at least: %v", end["audit_entries_flushed"], end)
	}
	for _, k := range []string{"took", "http_took"} {
		if d, ok := end[k].(float64); !ok || d < 0 { // JSON logs carry durations in nanoseconds
			t.Errorf("the shutdown's last line: %s %v is not a duration: %v", k, end[k], end)
		}
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("mayfly serve after SIGTERM: %v; want a clean exit:\n%s", err, strings.Join(logged, "\n"))
	}
}
