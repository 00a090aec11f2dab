package ledger

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// referenceParseReports is ParseReports as it was before its single-pass
// decoder, taught the bitmap form of records, kept to test the decoder
// against. It reads a batch of reports, as JSON Lines: one JSON object a
// line, each line ending in a line break but perhaps the last. A line
// names time (RFC 3339), service, source_ip, and perhaps method, route,
// records ({"namespace": [IDs]}, IDs JSON integers from 0 to 2^64-1) and
// refused; and its token either by the claims the service verified (jti,
// and perhaps kid, iss, sub, client_id, iat, exp, digest) or as token,
// the raw JWS, which is kept for verifying and digested.
//
// A batch is taken whole or not at all: the first bad line refuses it,
// with an Invalid error that names the line (from 1) and the member at
// fault, and never quotes a token. Blank lines are refused, as a
// producer's bug, but for the line break that ends the last line; an
// empty batch is refused too.
//
// Members not named above are ignored, so that producers may add some,
// but no object, at any depth, may name a member twice, nor may a line
// name one that differs from a known member only in case (encoding/json
// would read that one as the known member; Mayfly reads names exactly).
func referenceParseReports(r io.Reader, limits Limits) ([]mayfly.LedgerReport, error) {
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
		p       = refParser{limits: lim}
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

// refParser reads one line after another.
type refParser struct {
	limits   Limits
	line     int
	batchIDs int
}

// members are the names a report's object may hold, to refuse names that
// differ from them only in case.
var refMembers = [...]string{"time", "service", "source_ip", "method", "route", "records", "refused",
	"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest", "token"}

// invalid refuses the current line for what member holds. Never pass it
// a token's text.
func (p *refParser) invalid(member, format string, args ...any) *mayfly.Error {
	where := fmt.Sprintf("line %d", p.line)
	if member != "" {
		where += ": " + member
	}
	return mayfly.InvalidField(member, "%s: %s", where, fmt.Sprintf(format, args...))
}

// refWire is a report as a line holds it. Which members a line names, and
// that none is named twice, names() finds first; encoding/json then
// reads them here.
type refWire struct {
	Time     string                     `json:"time"`
	Service  string                     `json:"service"`
	SourceIP string                     `json:"source_ip"`
	Method   string                     `json:"method"`
	Route    string                     `json:"route"`
	Records  map[string]json.RawMessage `json:"records"`
	Refused  bool                       `json:"refused"`
	JTI      string                     `json:"jti"`
	KID      string                     `json:"kid"`
	Issuer   string                     `json:"iss"`
	Subject  string                     `json:"sub"`
	ClientID string                     `json:"client_id"`
	IssuedAt int64                      `json:"iat"`
	Expires  int64                      `json:"exp"`
	Digest   string                     `json:"digest"`
	Token    string                     `json:"token"`
}

// parse reads one line.
func (p *refParser) parse(line []byte) (mayfly.LedgerReport, *mayfly.Error) {
	var rep mayfly.LedgerReport
	if len(bytes.TrimSpace(line)) == 0 {
		return rep, p.invalid("", "a blank line")
	}
	if !json.Valid(line) {
		// Decoding again finds what is wrong; encoding/json's syntax
		// errors name a character at most, never a value.
		var v any
		err := json.Unmarshal(line, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return rep, p.invalid("", "not JSON: %v", se)
		}
		return rep, p.invalid("", "not JSON")
	}
	seen, err := p.names(line) // which members it names
	if err != nil {
		return rep, err
	}
	var w refWire
	if err := json.Unmarshal(line, &w); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return rep, p.invalid("", "not the JSON expected")
		}
		member, _, _ := strings.Cut(te.Field, ".")
		what := map[string]string{"records": "not an object of namespaces", "refused": "not true or false",
			"iat": "not a NumericDate (an integer)", "exp": "not a NumericDate (an integer)"}[member]
		if what == "" {
			what = "not a string"
		}
		return rep, p.invalid(member, "%s", what)
	}
	for _, m := range []string{"time", "service", "source_ip"} {
		if !seen.has(m) {
			return rep, p.invalid(m, "missing")
		}
	}
	text := func(name, s string, max int) (string, *mayfly.Error) {
		if err := mayfly.CheckText(name, s, max); err != nil {
			return "", p.invalid(name, "%s", mayfly.ErrorMessage(err))
		}
		return s, nil
	}
	for _, f := range []struct {
		name string
		v    string
		max  int
		into *string
	}{
		{"service", w.Service, mayfly.MaxName, &rep.Service}, {"method", w.Method, maxMethod, &rep.Method},
		{"route", w.Route, maxRoute, &rep.Route}, {"jti", w.JTI, mayfly.LedgerMaxName, &rep.JTI},
		{"kid", w.KID, mayfly.LedgerMaxName, &rep.KID}, {"iss", w.Issuer, mayfly.LedgerMaxName, &rep.Issuer},
		{"sub", w.Subject, mayfly.LedgerMaxName, &rep.Subject}, {"client_id", w.ClientID, mayfly.LedgerMaxName, &rep.ClientID},
	} {
		if *f.into, err = text(f.name, f.v, f.max); err != nil {
			return rep, err
		}
	}
	t, terr := time.Parse(time.RFC3339Nano, w.Time)
	switch {
	case terr != nil || len(w.Time) > 64:
		return rep, p.invalid("time", "not an RFC 3339 time")
	case t.Year() < 1970 || t.Year() >= 2200:
		return rep, p.invalid("time", "not between 1970 and 2200")
	}
	rep.Time = t.UTC()
	if rep.Service == "" {
		return rep, p.invalid("service", "empty")
	}
	a, aerr := netip.ParseAddr(w.SourceIP)
	switch {
	case aerr != nil || len(w.SourceIP) > 64:
		return rep, p.invalid("source_ip", "not an IP address")
	case a.Zone() != "":
		return rep, p.invalid("source_ip", "an IP address with a zone, which names a local interface")
	}
	rep.SourceIP = a.Unmap()
	if seen.has("method") && !isMethod(rep.Method) {
		return rep, p.invalid("method", "not an HTTP method")
	}
	for _, d := range []struct {
		name string
		v    int64
		into *time.Time
	}{{"iat", w.IssuedAt, &rep.IssuedAt}, {"exp", w.Expires, &rep.Expires}} {
		if !seen.has(d.name) {
			continue
		}
		if d.v < 0 || d.v > 1<<40 {
			return rep, p.invalid(d.name, "not a NumericDate (a whole number of seconds since 1970)")
		}
		*d.into = time.Unix(d.v, 0).UTC()
	}
	if seen.has("digest") {
		if b, derr := base64.RawURLEncoding.Strict().DecodeString(w.Digest); derr != nil || len(b) != 16 || len(w.Digest) != canon.DigestLen {
			return rep, p.invalid("digest", "not a token digest (%d base64url characters)", canon.DigestLen)
		}
		rep.Digest = w.Digest
	}
	if seen.has("token") {
		// Never quote it, nor an error made from it.
		for _, m := range []string{"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest"} {
			if seen.has(m) {
				return rep, p.invalid(m, "a report names its token by its claims or by token, not both")
			}
		}
		if len(w.Token) == 0 || len(w.Token) > maxToken {
			return rep, p.invalid("token", "not 1 to %d bytes", maxToken)
		}
		d, derr := canon.Digest(w.Token)
		if derr != nil {
			return rep, p.invalid("token", "not a compact JWS")
		}
		rep.Token, rep.Digest = mayfly.LedgerRawToken(w.Token), d
	} else if rep.JTI == "" {
		return rep, p.invalid("jti", "missing: a report needs the token's jti and claims, or token")
	}
	rep.Refused = w.Refused
	if rep.Records, err = p.records(w.Records); err != nil {
		return rep, err
	}
	if rep.Refused && rep.Records != nil {
		return rep, p.invalid("records", "a refused request reads no record")
	}
	return rep, nil
}

// refNamed says which of members a line names at its top.
type refNamed [len(refMembers)]bool

func (n refNamed) has(member string) bool { return n[slices.Index(refMembers[:], member)] }

// names walks line, valid JSON, and refuses it if it is not an object, if
// any object in it names a member twice, or if it names a member that
// differs from a known one only in case (encoding/json would read that
// one as the known member; Mayfly reads names exactly). It says which
// known members are named at the top. Names are compared where they lie
// in line, but for those that need unquoting.
func (p *refParser) names(line []byte) (refNamed, *mayfly.Error) {
	var known refNamed
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n') {
		i++
	}
	if line[i] != '{' {
		return known, p.invalid("", "not a JSON object")
	}
	var (
		nameBuf  [32][]byte
		names    = nameBuf[:0] // of the open objects, innermost last
		frameBuf [8]int
		frames   = frameBuf[:0] // per open object, where its names begin; -1 per open array
		isName   bool
		top      []byte // the last member named at the top
	)
	for ; i < len(line); i++ {
		switch line[i] {
		case '{':
			frames = append(frames, len(names))
			isName = true
		case '[':
			frames = append(frames, -1)
			isName = false
		case '}':
			from := frames[len(frames)-1]
			if dup := refTwice(names[from:]); dup != nil {
				if len(frames) == 1 {
					return known, p.invalid(memberName(dup), "named twice")
				}
				return known, p.invalid(memberName(top), "names %s twice", memberName(dup))
			}
			names, frames = names[:from], frames[:len(frames)-1]
			isName = false
		case ']':
			frames = frames[:len(frames)-1]
			isName = false
		case ',':
			isName = frames[len(frames)-1] >= 0
		case '"':
			end := i + 1
			for ; line[end] != '"'; end++ {
				if line[end] == '\\' {
					end++
				}
			}
			if isName {
				name := line[i+1 : end]
				if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) {
					// As encoding/json reads it.
					var u string
					_ = json.Unmarshal(line[i:end+1], &u)
					name = []byte(u)
				}
				names = append(names, name)
				if len(frames) == 1 {
					top = name
					if k := slices.Index(refMembers[:], string(name)); k >= 0 {
						known[k] = true
					} else {
						for _, m := range refMembers {
							if bytes.EqualFold(name, []byte(m)) {
								return known, p.invalid(memberName(name), "differs from %s only in case", m)
							}
						}
					}
				}
				isName = false
			}
			i = end
		}
	}
	return known, nil
}

// refTwice returns a name that one object's names hold twice, or nil.
func refTwice(names [][]byte) []byte {
	if len(names) > 32 {
		// Past a few dozen members, sorting beats comparing each pair.
		names = slices.Clone(names)
		slices.SortFunc(names, bytes.Compare)
		for j := 1; j < len(names); j++ {
			if bytes.Equal(names[j], names[j-1]) {
				return names[j]
			}
		}
		return nil
	}
	for j, a := range names {
		for _, b := range names[:j] {
			if bytes.Equal(a, b) {
				return a
			}
		}
	}
	return nil
}

// records reads the records member: an object from namespace to an array
// of record IDs, each a JSON integer in [0, 2^64-1].
func (p *refParser) records(raw map[string]json.RawMessage) (map[string][]uint64, *mayfly.Error) {
	const name = "records"
	var recs map[string][]uint64
	total := 0
	// In name order, so that the same line is refused for the same reason.
	for _, ns := range slices.Sorted(maps.Keys(raw)) {
		if !isNamespace(ns) {
			return nil, p.invalid(name, "namespace %s is not 1 to %d of a-z, 0-9, _ and -", memberName([]byte(ns)), maxNamespace)
		}
		// The array, valid JSON, is split at its commas: a piece that is
		// not a plain integer, whatever else it is (a string, a float, an
		// array of numbers), fails ParseUint.
		arr := bytes.TrimSpace(raw[ns])
		if len(arr) > 0 && arr[0] == '"' {
			// The bitmap form: a string of base64.
			var s string
			_ = json.Unmarshal(arr, &s)
			rb, err := decodeRecordBitmap([]byte(s))
			if err != nil {
				return nil, p.invalid(name, "namespace %s: %s", ns, mayfly.ErrorMessage(err))
			}
			card := rb.GetCardinality()
			if card == 0 {
				continue
			}
			if card > uint64(p.limits.Records-total) {
				return nil, p.invalid(name, "more than %d record IDs", p.limits.Records)
			}
			total += int(card)
			// Arrays cost at least 2 bytes an ID, bitmaps as little as
			// none: the batch's IDs are bounded as arrays bound them.
			if p.batchIDs += int(card); p.batchIDs > p.limits.Bytes/2 {
				return nil, p.invalid(name, "the batch holds more than %d record IDs", p.limits.Bytes/2)
			}
			if recs == nil {
				recs = map[string][]uint64{}
			}
			recs[ns] = rb.ToArray()
			continue
		}
		if len(arr) < 2 || arr[0] != '[' {
			return nil, p.invalid(name, "namespace %s: not an array of record IDs", ns)
		}
		body := bytes.TrimSpace(arr[1 : len(arr)-1])
		if len(body) == 0 {
			continue // read nothing there
		}
		n := bytes.Count(body, []byte{','}) + 1
		if total += n; total > p.limits.Records {
			return nil, p.invalid(name, "more than %d record IDs", p.limits.Records)
		}
		ids := make([]uint64, 0, n)
		for piece := range bytes.SplitSeq(body, []byte{','}) {
			id, err := strconv.ParseUint(string(bytes.TrimSpace(piece)), 10, 64)
			if err != nil {
				return nil, p.invalid(name, "namespace %s: a record ID that is not an integer from 0 to 2^64-1", ns)
			}
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if recs == nil {
			recs = map[string][]uint64{}
		}
		recs[ns] = slices.Compact(ids)
	}
	return recs, nil
}
