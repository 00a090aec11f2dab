package sdk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// parseAll returns every event of a stream and the error that ended it.
func parseAll(r io.Reader) ([]event, time.Duration, error) {
	p := newSSEReader(r)
	var evs []event
	for {
		ev, err := p.next()
		if err != nil {
			return evs, p.retry, err
		}
		evs = append(evs, ev)
	}
}

func TestSSE(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		want  []event
		retry time.Duration
		err   error
	}{
		{name: "empty", in: "", err: io.EOF},
		{name: "one event", in: "event: ready\ndata: {\"seq\":1}\n\n",
			want: []event{{typ: "ready", data: `{"seq":1}`}}, err: io.EOF},
		{name: "CRLF", in: "event: ready\r\ndata: x\r\n\r\n",
			want: []event{{typ: "ready", data: "x"}}, err: io.EOF},
		{name: "CR", in: "event: ready\rdata: x\r\r",
			want: []event{{typ: "ready", data: "x"}}, err: io.EOF},
		{name: "mixed line ends", in: "event: a\rdata: 1\r\n\ndata: 2\n\r",
			want: []event{{typ: "a", data: "1"}, {typ: "message", data: "2"}}, err: io.EOF},
		{name: "no event type", in: "data: x\n\n", want: []event{{typ: "message", data: "x"}}, err: io.EOF},
		{name: "multi-line data", in: "data: a\ndata:b\ndata:  c\ndata\n\n",
			want: []event{{typ: "message", data: "a\nb\n c\n"}}, err: io.EOF},
		{name: "comments", in: ": hi\nevent: x\n:\ndata: 1\n: bye\n\n", want: []event{{typ: "x", data: "1"}}, err: io.EOF},
		{name: "unknown fields", in: "foo: bar\nevent: x\nDATA: no\ndata: 1\nbaz\n\n", want: []event{{typ: "x", data: "1"}}, err: io.EOF},
		{name: "no data is no event", in: "event: x\n\nevent: y\ndata: 1\n\n", want: []event{{typ: "y", data: "1"}}, err: io.EOF},
		{name: "id carries over", in: "id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			want: []event{{typ: "message", data: "a", id: "5"}, {typ: "message", data: "b", id: "5"}, {typ: "message", data: "c"}}, err: io.EOF},
		{name: "id with NUL ignored", in: "id: 5\n\nid: 6\x007\ndata: a\n\n", want: []event{{typ: "message", data: "a", id: "5"}}, err: io.EOF},
		{name: "retry", in: "retry: 1000\n\n", retry: time.Second, err: io.EOF},
		{name: "bad retry ignored", in: "retry: 1000\n\nretry: 1s\nretry: -5\nretry:\n\n", retry: time.Second, err: io.EOF},
		{name: "unfinished event dropped", in: "data: a\n\ndata: b\n", want: []event{{typ: "message", data: "a"}}, err: io.EOF},
		{name: "colon in value", in: "data: a: b\n\n", want: []event{{typ: "message", data: "a: b"}}, err: io.EOF},
		{name: "only one space stripped", in: "data:   a\n\n", want: []event{{typ: "message", data: "  a"}}, err: io.EOF},
		{name: "byte order mark", in: "\xef\xbb\xbfdata: a\n\n", want: []event{{typ: "message", data: "a"}}, err: io.EOF},
		{name: "line too long", in: "data: a\n\ndata: " + strings.Repeat("x", maxLine) + "\n\n",
			want: []event{{typ: "message", data: "a"}}, err: bufio.ErrTooLong},
		{name: "event too large", in: strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", maxEvent/1000+1) + "\n",
			err: errEventTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tc.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tc.in))},
			} {
				got, retry, err := parseAll(r.r)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("%s: got events %q, want %q", r.name, got, tc.want)
				}
				if retry != tc.retry {
					t.Errorf("%s: got retry %s, want %s", r.name, retry, tc.retry)
				}
				if !errors.Is(err, tc.err) {
					t.Errorf("%s: got error %v, want %v", r.name, err, tc.err)
				}
			}
		})
	}
}

// FuzzSSE: the parser never panics, honours its bounds, and reads the same
// events whatever the line ends and however the bytes arrive.
func FuzzSSE(f *testing.F) {
	f.Add("retry: 1000\n\nid: 1\nevent: revocation\ndata: {\"seq\":1,\"kind\":\"jti\",\"subject\":\"x\",\"at\":\"2026-11-24T10:00:00Z\"}\n\nevent: ready\ndata: {\"seq\":1}\n\n")
	f.Add("event: heartbeat\r\ndata: {\"seq\":1,\"time\":\"2026-11-24T10:00:00Z\"}\r\n\r\n")
	f.Add(": comment\rdata: a\rdata: b\r\r")
	f.Fuzz(func(t *testing.T, in string) {
		got, _, err := parseAll(strings.NewReader(in))
		for _, ev := range got {
			if len(ev.data) > maxEvent || len(ev.typ) > maxLine || strings.ContainsAny(ev.typ, "\r\n") || strings.ContainsRune(ev.id, 0) {
				t.Fatalf("event out of bounds: %q", ev)
			}
		}
		slow, _, slowErr := parseAll(iotest.OneByteReader(strings.NewReader(in)))
		if fmt.Sprint(slow) != fmt.Sprint(got) || (err == io.EOF) != (slowErr == io.EOF) {
			t.Fatalf("byte by byte: got %q, %v; whole: %q, %v", slow, slowErr, got, err)
		}
		if strings.Contains(in, "\r") || err != io.EOF {
			return
		}
		for _, nl := range []string{"\r\n", "\r"} {
			other, _, oerr := parseAll(strings.NewReader(strings.ReplaceAll(in, "\n", nl)))
			if oerr != io.EOF {
				continue // longer lines may now pass a bound
			}
			if fmt.Sprint(other) != fmt.Sprint(got) {
				t.Fatalf("with %q for line ends: got %q, want %q", nl, other, got)
			}
		}
	})
}

func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000} {
		want *= time.Millisecond
		for range 100 {
			if got := backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want between %s and %s", n, got, want/2, want)
			}
		}
	}
	if got := backoff(1 << 30); got < maxBackoff/2 || got > maxBackoff {
		t.Errorf("backoff(1<<30) = %s, want at most %s", got, maxBackoff)
	}
}

func TestJTITime(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 4, 5, 678_000_000, time.UTC)
	// A jti Mayfly made at that moment (NewJTI in the root package).
	const jti = "06h0n0ln5qiqb9d5kmiqb9d5kk"
	got, ok := jtiTime(jti)
	if !ok || !got.Equal(at) {
		t.Errorf("jtiTime(%q) = %v, %v; want %v", jti, got, ok, at)
	}
	for _, bad := range []string{"", "short", "!!!!!!!!!!!!!!!!!!!!!!!!!!", jti + "x", strings.ToUpper(jti), "zzzzzzzzzzzzzzzzzzzzzzzzzz"} {
		if _, ok := jtiTime(bad); ok {
			t.Errorf("jtiTime(%q) ok; want not", bad)
		}
	}
}
