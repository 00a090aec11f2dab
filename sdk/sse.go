package sdk

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// Bounds on what the stream may send. A longer line or a larger event ends
// the connection; the verifier reconnects and resumes.
const (
	maxLine  = 64 << 10
	maxEvent = 1 << 20
)

var errEventTooLarge = errors.New("event too large")

// event is one dispatched Server-Sent Event.
type event struct {
	typ  string // "message" when the stream named none
	data string
	id   string // the last event ID, as the stream last set it
}

// sseReader parses a text/event-stream as the HTML Living Standard
// (section 9.2.6) describes it: lines end in CRLF, LF or CR; a line starting
// with a colon is a comment; "field: value" lines fill in an event, and a
// blank line dispatches it. Unknown fields are ignored.
type sseReader struct {
	sc    *bufio.Scanner
	first bool // no line read yet: a byte order mark may lead

	lastID string
	retry  time.Duration // the stream's reconnection time; 0 when it set none

	typ  []byte
	data []byte
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	sc.Split(splitLines())
	return &sseReader{sc: sc, first: true}
}

// next returns the next event, io.EOF at the end of the stream (an event
// not ended by a blank line is dropped, as the standard says), or the error
// that stopped the stream: bufio.ErrTooLong for an oversized line.
func (p *sseReader) next() (event, error) {
	for p.sc.Scan() {
		line := p.sc.Bytes()
		if p.first {
			p.first = false
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if len(line) == 0 {
			if len(p.data) == 0 {
				p.typ = p.typ[:0]
				continue
			}
			ev := event{typ: "message", data: string(p.data[:len(p.data)-1]), id: p.lastID}
			if len(p.typ) > 0 {
				ev.typ = string(p.typ)
			}
			p.typ, p.data = p.typ[:0], p.data[:0]
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			p.typ = append(p.typ[:0], value...)
		case "data":
			if len(p.data)+len(value)+1 > maxEvent {
				return event{}, errEventTooLarge
			}
			p.data = append(append(p.data, value...), '\n')
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.lastID = string(value)
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil && isDigits(value) {
				p.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := p.sc.Err(); err != nil {
		return event{}, err
	}
	return event{}, io.EOF
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// splitLines splits at CRLF, LF or CR. A line ending in CR is returned at
// once, without waiting to see whether an LF follows; the LF, if it does, is
// skipped with the next line. It remembers how far it has looked, so a line
// that arrives a byte at a time costs linear time, not quadratic.
func splitLines() bufio.SplitFunc {
	skipLF := false
	searched := 0 // bytes of the line so far known to hold no line end
	return func(data []byte, atEOF bool) (int, []byte, error) {
		skip := 0
		if skipLF && len(data) > 0 {
			skipLF = false
			if data[0] == '\n' {
				skip = 1
			}
		}
		rest := data[skip:]
		if i := bytes.IndexAny(rest[min(searched, len(rest)):], "\r\n"); i >= 0 {
			i += min(searched, len(rest))
			skipLF, searched = rest[i] == '\r', 0
			return skip + i + 1, rest[:i], nil
		}
		if atEOF && len(rest) > 0 {
			searched = 0
			return len(data), rest, nil
		}
		if skip > 0 {
			searched = 0
		} else {
			searched = len(rest)
		}
		return skip, nil, nil
	}
}
