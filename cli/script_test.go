package cli_test

// Transcripts of the README's walkthroughs, in testdata/script/*.txtar,
// run with testscript. The mayfly command in them is this test binary
// standing in for cmd/mayfly (TestMain), so each line runs the CLI as a
// separate process, as an operator would. The curl and jq lines of the
// README run as in-process commands that do the same, so the scripts need
// neither tool installed. Each shell block of the README names the
// transcript that runs it, and TestReadmeWalkthroughs (readme_test.go)
// checks that the block's mayfly and curl commands are the transcript's.
//
// Custom commands:
//
//	server               start a Mayfly (server/servertest) with its data in
//	                     $WORK/mayfly-data and a clock that moves only when
//	                     told; set MAYFLY_ADDR (host:port), MAYFLY_TOKEN (the
//	                     bootstrap admin credential) and ISSUER (its URL)
//	advance DURATION     move that server's clock
//	curl [-s] [-u USER:PASS] [-H 'NAME: VALUE']... [-d NAME=VALUE]... URL
//	                     what curl does with these flags: -d sends a form by
//	                     POST; the body goes to stdout whatever the status
//	jqvar NAME FILTER FILE
//	                     set NAME to what jq -r FILTER FILE prints, for
//	                     filters of .name and .[N] steps
//	freeport NAME        set NAME to a free TCP port on 127.0.0.1
//	waitfor URL          wait up to 10 s for URL to answer 200
//	[!] perm MODE FILE...
//	                     each file's permission bits are MODE (octal)

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/cli"
	"github.com/mayflyhq/mayfly/server/servertest"
	"github.com/rogpeppe/go-internal/testscript"
)

// mayflyMain is cmd/mayfly's main, for the scripts' mayfly command.
func mayflyMain() {
	os.Exit(cli.Main(os.Args[1:]))
}

// scriptState is what one script's custom commands share.
type scriptState struct {
	t   testing.TB
	env *servertest.Env
}

type stateKey struct{}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			tb, ok := env.T().(testing.TB)
			if !ok {
				return fmt.Errorf("testscript gave a %T, not a testing.TB", env.T())
			}
			env.Values[stateKey{}] = &scriptState{t: tb}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"server":   cmdServer,
			"advance":  cmdAdvance,
			"curl":     cmdCurl,
			"jqvar":    cmdJqvar,
			"freeport": cmdFreeport,
			"waitfor":  cmdWaitfor,
			"merged":   cmdMerged,
			"perm":     cmdPerm,
		},
	})
}

func state(ts *testscript.TestScript) *scriptState { return ts.Value(stateKey{}).(*scriptState) }

func cmdServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: server")
	}
	st := state(ts)
	if st.env != nil {
		ts.Fatalf("server: already started")
	}
	st.env = servertest.Start(st.t, ts.MkAbs("mayfly-data"), servertest.NewClock(servertest.Epoch))
	ts.Setenv("MAYFLY_ADDR", strings.TrimPrefix(st.env.URL, "http://"))
	ts.Setenv("MAYFLY_TOKEN", st.env.Token)
	ts.Setenv("ISSUER", st.env.URL)
}

func cmdAdvance(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: advance DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	st := state(ts)
	if st.env == nil {
		ts.Fatalf("advance: no server started")
	}
	st.env.Clock.Advance(d)
}

func cmdCurl(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! curl")
	}
	var user, target string
	var data []string
	header := http.Header{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-s":
		case (a == "-u" || a == "-d" || a == "-H") && i+1 < len(args):
			i++
			switch a {
			case "-u":
				user = args[i]
			case "-d":
				data = append(data, args[i])
			case "-H":
				name, value, ok := strings.Cut(args[i], ":")
				if !ok {
					ts.Fatalf("curl: header %q", args[i])
				}
				header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
		case !strings.HasPrefix(a, "-") && target == "":
			target = a
		default:
			ts.Fatalf("curl: unsupported argument %q", a)
		}
	}
	if target == "" {
		ts.Fatalf("usage: curl [-s] [-u USER:PASS] [-H 'NAME: VALUE'] [-d NAME=VALUE]... URL")
	}
	method, body := "GET", io.Reader(nil)
	if data != nil {
		method, body = "POST", strings.NewReader(strings.Join(data, "&"))
	}
	req, err := http.NewRequest(method, target, body)
	ts.Check(err)
	req.Header = header
	if data != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		name, pass, _ := strings.Cut(user, ":")
		req.SetBasicAuth(name, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	_, err = io.Copy(ts.Stdout(), resp.Body)
	ts.Check(err)
}

func cmdJqvar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jqvar NAME FILTER FILE")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[2])), &v); err != nil {
		ts.Fatalf("jqvar: %s: %v", args[2], err)
	}
	filter := args[1]
	if !strings.HasPrefix(filter, ".") {
		ts.Fatalf("jqvar: filter %q does not start with '.'", filter)
	}
	for rest := filter[1:]; rest != ""; {
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			n, err := strconv.Atoi(rest[1:max(end, 1)])
			list, ok := v.([]any)
			if end < 0 || err != nil || !ok || n < 0 || n >= len(list) {
				ts.Fatalf("jqvar: %s: no element %s", filter, rest)
			}
			v, rest = list[n], strings.TrimPrefix(rest[end+1:], ".")
			continue
		}
		name := rest
		if i := strings.IndexAny(rest, ".["); i >= 0 {
			name = rest[:i]
		}
		obj, ok := v.(map[string]any)
		if !ok {
			ts.Fatalf("jqvar: %s: no field %q", filter, name)
		}
		v, rest = obj[name], strings.TrimPrefix(rest[len(name):], ".")
	}
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		ts.Check(err)
		s = string(b)
	}
	ts.Setenv(args[0], s)
}

func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ts.Check(ln.Close())
	ts.Setenv(args[0], port)
}

func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfor URL")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: %s did not answer 200 within 10 s (last: %v)", args[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdMerged waits until the server's ledger journal is empty: every
// report it acknowledged is in the ledger's buckets.
func cmdMerged(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: merged")
	}
	st := state(ts)
	if st.env == nil {
		ts.Fatalf("merged: no server started")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := st.env.Server.Store().LedgerJournalDepth(context.Background())
		ts.Check(err)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("merged: %d batches still in the journal after 30 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: perm MODE FILE...")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	for _, f := range args[1:] {
		fi, err := os.Stat(ts.MkAbs(f))
		ts.Check(err)
		switch got := fi.Mode().Perm(); {
		case neg && got == os.FileMode(want):
			ts.Fatalf("%s: mode %#o; want another", f, got)
		case !neg && got != os.FileMode(want):
			ts.Fatalf("%s: mode %#o; want %#o", f, got, want)
		}
	}
}
