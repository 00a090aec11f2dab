package ledger

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// Limits bound one batch of reports. Zero fields take the defaults.
type Limits struct {
	Line    int // bytes in a line, its line break included; default 64 KiB
	Lines   int // lines in a batch; default 10,000
	Bytes   int // bytes in a batch; default 16 MiB
	Records int // record IDs in one line, all namespaces together; default 100,000
}

// Default limits.
const (
	DefaultLineBytes  = 64 << 10
	DefaultLines      = 10_000
	DefaultBatchBytes = 16 << 20
	DefaultRecords    = 100_000
)

// Bounds of a report's members.
const (
	maxNamespace = 64
	maxMethod    = 32
	maxRoute     = 1024
	// maxToken is the verifier's bound (sdk.MaxTokenSize): a longer token
	// could never verify.
	maxToken = 8 << 10
)

func (l Limits) withDefaults() Limits {
	l.Line = cmp(l.Line, DefaultLineBytes)
	l.Lines = cmp(l.Lines, DefaultLines)
	l.Bytes = cmp(l.Bytes, DefaultBatchBytes)
	l.Records = cmp(l.Records, DefaultRecords)
	return l
}

func cmp(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// ParseReports reads a batch of reports, as JSON Lines: one JSON object a
// line, each line ending in a line break but perhaps the last. A batch is
// taken whole or not at all: the first bad line refuses it, with an
// Invalid error that names the line (from 1) and the member at fault, and
// never quotes a token. Blank lines are refused, as a producer's bug,
// but for the line break that ends the last line; an empty batch is
// refused too.
//
// Members not named below are ignored, so that producers may add some,
// but no object may name a member twice, nor name one that differs from
// a known member only in case (encoding/json would read that one as the
// known member; Mayfly reads names exactly).
func ParseReports(r io.Reader, limits Limits) ([]mayfly.LedgerReport, error) {
	const op = "ledger.ParseReports"
	lim := limits.withDefaults()
	// One byte over the bound tells a batch at the bound from one past it.
	cr := &countingReader{r: io.LimitReader(r, int64(lim.Bytes)+1)}
	sc := bufio.NewScanner(cr)
	sc.Buffer(make([]byte, 0, min(lim.Line, 4<<10)), lim.Line)
	tooLarge := func() error {
		return &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: fmt.Sprintf("the batch is larger than %d bytes", lim.Bytes)}
	}
	var (
		reports []mayfly.LedgerReport
		p       = parser{limits: lim}
	)
	for sc.Scan() {
		p.line++
		if p.line > lim.Lines {
			return nil, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: fmt.Sprintf("the batch has more than %d lines", lim.Lines)}
		}
		rep, err := p.parse(sc.Bytes())
		if err != nil {
			if cr.n > int64(lim.Bytes) {
				return nil, tooLarge() // the line may be cut short
			}
			err.Op = op
			return nil, err
		}
		reports = append(reports, rep)
	}
	switch err := sc.Err(); {
	case cr.n > int64(lim.Bytes):
		return nil, tooLarge()
	case errors.Is(err, bufio.ErrTooLong):
		return nil, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: fmt.Sprintf("line %d: longer than %d bytes", p.line+1, lim.Line)}
	case err != nil:
		return nil, mayfly.E(op, fmt.Errorf("reading reports: %w", err))
	case len(reports) == 0:
		return nil, &mayfly.Error{Op: op, Code: mayfly.Invalid, Msg: "the batch holds no report"}
	}
	return reports, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// parser reads one line after another.
type parser struct {
	limits Limits
	line   int
}

// members are the names a report's object may hold, to refuse names that
// differ from them only in case.
var members = []string{"time", "service", "source_ip", "method", "route", "records", "refused",
	"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest", "token"}

// invalid refuses the current line for what member holds. Never pass it
// a token's text.
func (p *parser) invalid(member, format string, args ...any) *mayfly.Error {
	where := fmt.Sprintf("line %d", p.line)
	if member != "" {
		where += ": " + member
	}
	return mayfly.InvalidField(member, "%s: %s", where, fmt.Sprintf(format, args...))
}

// syntax refuses the current line for a JSON error. encoding/json's
// syntax errors name a character at most, never a value.
func (p *parser) syntax(member string, err error) *mayfly.Error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return p.invalid(member, "not JSON: %v", se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return p.invalid(member, "not JSON: unexpected end of line")
	}
	return p.invalid(member, "not the JSON expected")
}

// decodeError refuses the current line for err, from decoding member:
// a syntax error as such, else the value is not what, a description.
func (p *parser) decodeError(member string, err error, what string) *mayfly.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return p.invalid(member, "%s", what)
	}
	return p.syntax(member, err)
}

// parse reads one line.
func (p *parser) parse(line []byte) (mayfly.LedgerReport, *mayfly.Error) {
	var rep mayfly.LedgerReport
	if len(bytes.TrimSpace(line)) == 0 {
		return rep, p.invalid("", "a blank line")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil {
		return rep, p.syntax("", err)
	} else if t != json.Delim('{') {
		return rep, p.invalid("", "not a JSON object")
	}
	seen := make(map[string]bool, 16)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return rep, p.syntax("", err)
		}
		name := t.(string) // in an object, json.Decoder returns only names here
		if seen[name] {
			return rep, p.invalid(memberName(name), "named twice")
		}
		seen[name] = true
		if err := p.member(dec, name, &rep); err != nil {
			return rep, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return rep, p.syntax("", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return rep, p.invalid("", "more than one JSON value")
	}
	return rep, p.check(&rep, seen)
}

// memberName is name fit to quote in an error: the name itself if it is
// short text on one line, else a placeholder. A name is never a token's
// value, but may be anything.
func memberName(name string) string {
	if len(name) <= 64 && mayfly.CheckText("", name, 64) == nil {
		return strconv.Quote(name)[1 : len(strconv.Quote(name))-1]
	}
	return "(a member)"
}

// member reads the value of one member into rep.
func (p *parser) member(dec *json.Decoder, name string, rep *mayfly.LedgerReport) *mayfly.Error {
	text := func(max int) (string, *mayfly.Error) {
		var s string
		if err := dec.Decode(&s); err != nil {
			return "", p.decodeError(name, err, "not a string")
		}
		if err := mayfly.CheckText(name, s, max); err != nil {
			return "", p.invalid(name, "%s", mayfly.ErrorMessage(err))
		}
		return s, nil
	}
	var err *mayfly.Error
	switch name {
	case "time":
		var s string
		if s, err = text(64); err == nil {
			t, perr := time.Parse(time.RFC3339Nano, s)
			switch {
			case perr != nil:
				err = p.invalid(name, "not an RFC 3339 time")
			case t.Year() < 1970 || t.Year() >= 2200:
				err = p.invalid(name, "not between 1970 and 2200")
			}
			rep.Time = t.UTC()
		}
	case "service":
		rep.Service, err = text(mayfly.MaxName)
	case "source_ip":
		var s string
		if s, err = text(64); err == nil {
			a, perr := netip.ParseAddr(s)
			switch {
			case perr != nil:
				err = p.invalid(name, "not an IP address")
			case a.Zone() != "":
				err = p.invalid(name, "an IP address with a zone, which names a local interface")
			}
			rep.SourceIP = a.Unmap()
		}
	case "method":
		if rep.Method, err = text(maxMethod); err == nil && !isMethod(rep.Method) {
			err = p.invalid(name, "not an HTTP method")
		}
	case "route":
		rep.Route, err = text(maxRoute)
	case "records":
		rep.Records, err = p.records(dec)
	case "refused":
		if derr := dec.Decode(&rep.Refused); derr != nil {
			err = p.decodeError(name, derr, "not true or false")
		}
	case "jti":
		rep.JTI, err = text(mayfly.LedgerMaxName)
	case "kid":
		rep.KID, err = text(mayfly.LedgerMaxName)
	case "iss":
		rep.Issuer, err = text(mayfly.LedgerMaxName)
	case "sub":
		rep.Subject, err = text(mayfly.LedgerMaxName)
	case "client_id":
		rep.ClientID, err = text(mayfly.LedgerMaxName)
	case "iat", "exp":
		var n json.Number
		t, derr := dec.Token()
		if n, _ = t.(json.Number); derr != nil || n == "" {
			return p.invalid(name, "not a NumericDate (an integer)")
		}
		v, perr := strconv.ParseInt(string(n), 10, 64)
		if perr != nil || v < 0 || v > 1<<40 {
			return p.invalid(name, "not a NumericDate (a whole number of seconds since 1970)")
		}
		if name == "iat" {
			rep.IssuedAt = time.Unix(v, 0).UTC()
		} else {
			rep.Expires = time.Unix(v, 0).UTC()
		}
	case "digest":
		if rep.Digest, err = text(canon.DigestLen); err == nil {
			if b, derr := base64.RawURLEncoding.Strict().DecodeString(rep.Digest); derr != nil || len(b) != 16 {
				err = p.invalid(name, "not a token digest (%d base64url characters)", canon.DigestLen)
			}
		}
	case "token":
		// Never quote it, nor an error made from it.
		var s string
		if derr := dec.Decode(&s); derr != nil {
			return p.decodeError(name, derr, "not a string")
		}
		if len(s) == 0 || len(s) > maxToken {
			return p.invalid(name, "not 1 to %d bytes", maxToken)
		}
		d, derr := canon.Digest(s)
		if derr != nil {
			return p.invalid(name, "not a compact JWS")
		}
		rep.Token, rep.Digest = mayfly.LedgerRawToken(s), d
	default:
		for _, m := range members {
			if strings.EqualFold(name, m) {
				return p.invalid(memberName(name), "differs from %s only in case", m)
			}
		}
		var skip json.RawMessage
		if derr := dec.Decode(&skip); derr != nil {
			return p.syntax(memberName(name), derr)
		}
	}
	return err
}

// isMethod reports whether s is an HTTP method: an RFC 9110 token.
func isMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// records reads the records member: an object from namespace to an array
// of record IDs, each a JSON integer in [0, 2^64-1].
func (p *parser) records(dec *json.Decoder) (map[string][]uint64, *mayfly.Error) {
	const name = "records"
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, p.invalid(name, "not an object of namespaces")
	}
	recs := map[string][]uint64{}
	total := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, p.syntax(name, err)
		}
		ns := t.(string)
		if !isNamespace(ns) {
			return nil, p.invalid(name, "namespace %s is not 1 to %d of a-z, 0-9, _ and -", memberName(ns), maxNamespace)
		}
		if _, dup := recs[ns]; dup {
			return nil, p.invalid(name, "namespace %s named twice", ns)
		}
		// The array, checked as JSON by the decoder, is split at its
		// commas: a piece that is not a plain integer, whatever else it
		// is (a string, a float, an array of numbers), fails ParseUint.
		// That is a third of the time of reading it token by token.
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, p.syntax(name, err)
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) < 2 || raw[0] != '[' {
			return nil, p.invalid(name, "namespace %s: not an array of record IDs", ns)
		}
		ids := []uint64{}
		if body := bytes.TrimSpace(raw[1 : len(raw)-1]); len(body) > 0 {
			n := bytes.Count(body, []byte{','}) + 1
			if total += n; total > p.limits.Records {
				return nil, p.invalid(name, "more than %d record IDs", p.limits.Records)
			}
			ids = make([]uint64, 0, n)
			for piece := range bytes.SplitSeq(body, []byte{','}) {
				id, err := strconv.ParseUint(string(bytes.TrimSpace(piece)), 10, 64)
				if err != nil {
					return nil, p.invalid(name, "namespace %s: a record ID that is not an integer from 0 to 2^64-1", ns)
				}
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		recs[ns] = slices.Compact(ids)
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, p.syntax(name, err)
	}
	for ns, ids := range recs {
		if len(ids) == 0 {
			delete(recs, ns) // read nothing there
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return recs, nil
}

// isNamespace reports whether s is 1 to maxNamespace of [a-z0-9_-].
func isNamespace(s string) bool {
	if s == "" || len(s) > maxNamespace {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// check refuses a report that lacks what it needs, once all its members
// are read.
func (p *parser) check(rep *mayfly.LedgerReport, seen map[string]bool) *mayfly.Error {
	for _, m := range []string{"time", "service", "source_ip"} {
		if !seen[m] {
			return p.invalid(m, "missing")
		}
	}
	if rep.Service == "" {
		return p.invalid("service", "empty")
	}
	if seen["token"] {
		for _, m := range []string{"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest"} {
			if seen[m] {
				return p.invalid(m, "a report names its token by its claims or by token, not both")
			}
		}
	} else if rep.JTI == "" {
		return p.invalid("jti", "missing: a report needs the token's jti and claims, or token")
	}
	if rep.Refused && rep.Records != nil {
		return p.invalid("records", "a refused request reads no record")
	}
	return nil
}
