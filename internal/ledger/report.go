package ledger

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/recordset"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// Limits bound one batch of reports. Zero fields take the defaults.
type Limits struct {
	Line    int // bytes in a line, its line break included; default 64 KiB
	Lines   int // lines in a batch; default 10,000
	Bytes   int // bytes in a batch; default 16 MiB
	Records int // record IDs in one line, all namespaces together; default 100,000
	// A batch holds at most Bytes/2 record IDs, all lines together: as
	// many as arrays of them could, since bitmaps hold more in less.
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
	l.Line = orDefault(l.Line, DefaultLineBytes)
	l.Lines = orDefault(l.Lines, DefaultLines)
	l.Bytes = orDefault(l.Bytes, DefaultBatchBytes)
	l.Records = orDefault(l.Records, DefaultRecords)
	return l
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// ParseReports reads a batch of reports, as JSON Lines: one JSON object a
// line, each line ending in a line break but perhaps the last. A line
// names time (RFC 3339), service, source_ip, and perhaps method, route,
// records and refused; and its token either by the claims the service
// verified (jti, and perhaps kid, iss, sub, client_id, iat, exp, digest)
// or as token, the raw JWS, which is kept for verifying and digested.
//
// Records map each namespace to the IDs read there: an array of JSON
// integers from 0 to 2^64-1 ({"customer": [17, 42]}), or, for a service
// that reads many, a string holding the standard base64 (padded) of a
// roaring64 bitmap in its portable serialization
// (github.com/RoaringBitmap/roaring/v2/roaring64), which is decoded
// defensively and counts its IDs against Limits.Records before they are
// read out.
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

// parser reads one line after another. What it keeps between lines is
// there to spare allocations: buffers, strings and addresses seen on
// earlier lines of the batch, and a slab the lines' record IDs share.
type parser struct {
	limits Limits
	line   int

	names    [][]byte // of the open objects, innermost last
	top      [][]byte // the top object's names, in order
	entries  []nsEntry
	scratch  []uint64          // the record IDs of the line being read
	slab     []uint64          // the record IDs of lines read, sorted
	batchIDs int               // record IDs given as bitmaps in the batch
	strs     map[string]string // text seen before, to share
	addrs    map[string]netip.Addr
	interned int
}

// Bounds of what a parser keeps between lines.
const (
	maxInterned = 4096
	slabIDs     = 64 << 10
)

// member is a known member of a report's object.
type member int

const (
	mTime member = iota
	mService
	mSourceIP
	mMethod
	mRoute
	mRecords
	mRefused
	mJTI
	mKID
	mIss
	mSub
	mClientID
	mIat
	mExp
	mDigest
	mToken
	nMembers
)

// members are the names a report's object may hold, to refuse names that
// differ from them only in case.
var members = [nMembers]string{"time", "service", "source_ip", "method", "route", "records", "refused",
	"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest", "token"}

// memberOf says which known member name is, or -1.
func memberOf(name []byte) member {
	switch string(name) {
	case "time":
		return mTime
	case "service":
		return mService
	case "source_ip":
		return mSourceIP
	case "method":
		return mMethod
	case "route":
		return mRoute
	case "records":
		return mRecords
	case "refused":
		return mRefused
	case "jti":
		return mJTI
	case "kid":
		return mKID
	case "iss":
		return mIss
	case "sub":
		return mSub
	case "client_id":
		return mClientID
	case "iat":
		return mIat
	case "exp":
		return mExp
	case "digest":
		return mDigest
	case "token":
		return mToken
	}
	return -1
}

// invalid refuses the current line for what member holds. Never pass it
// a token's text.
func (p *parser) invalid(member, format string, args ...any) *mayfly.Error {
	where := fmt.Sprintf("line %d", p.line)
	if member != "" {
		where += ": " + member
	}
	return mayfly.InvalidField(member, "%s: %s", where, fmt.Sprintf(format, args...))
}

// maxDepth is encoding/json's bound on nesting, which the decoder keeps so
// that it refuses what encoding/json refuses.
const maxDepth = 10000

// nsEntry is one namespace of a line's records, as read.
type nsEntry struct {
	name     []byte
	kind     nsKind
	from, to int    // its IDs in parser.scratch
	raw      []byte // the value as the line holds it
}

type nsKind uint8

const (
	nsIDs      nsKind = iota // an array of record IDs
	nsBad                    // an array holding something else too
	nsBitmap                 // a string: a bitmap in base64
	nsNotArray               // anything else
)

// decoder reads one line in one pass: it checks the JSON's syntax, the
// object's names and its members' types, and keeps what it reads. It keeps
// the first name and type errors, rather than returning them, until the
// line is known to be JSON: a line is refused for the first of its syntax,
// then its names, then its types, then its values, so that it is refused
// for the same reason whatever is wrong where.
type decoder struct {
	p    *parser
	line []byte
	i    int

	seen     [nMembers]bool
	text     [nMembers][]byte // string members as the line holds them, quotes and all; nil for null
	refused  bool
	dates    [2]int64 // iat, exp
	topName  []byte   // the top member being read, to name in errors deeper
	dupKnown bool     // a known member named twice
	unknowns int      // how many members are not known

	namesErr, typeErr *mayfly.Error
}

// parse reads one line.
func (p *parser) parse(line []byte) (mayfly.LedgerReport, *mayfly.Error) {
	var rep mayfly.LedgerReport
	if len(bytes.TrimSpace(line)) == 0 {
		return rep, p.invalid("", "a blank line")
	}
	d := decoder{p: p, line: line}
	p.names, p.top, p.entries, p.scratch = p.names[:0], p.top[:0], p.entries[:0], p.scratch[:0]
	if !d.decode() {
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
	switch {
	case d.namesErr != nil:
		return rep, d.namesErr
	case d.typeErr != nil:
		return rep, d.typeErr
	}
	return d.report()
}

// report checks what the decoder read and makes the report of it.
func (d *decoder) report() (mayfly.LedgerReport, *mayfly.Error) {
	var rep mayfly.LedgerReport
	p := d.p
	for _, m := range []member{mTime, mService, mSourceIP} {
		if !d.seen[m] {
			return rep, p.invalid(members[m], "missing")
		}
	}
	for _, f := range []struct {
		m    member
		max  int
		into *string
	}{
		{mService, mayfly.MaxName, &rep.Service}, {mMethod, maxMethod, &rep.Method},
		{mRoute, maxRoute, &rep.Route}, {mJTI, mayfly.LedgerMaxName, &rep.JTI},
		{mKID, mayfly.LedgerMaxName, &rep.KID}, {mIss, mayfly.LedgerMaxName, &rep.Issuer},
		{mSub, mayfly.LedgerMaxName, &rep.Subject}, {mClientID, mayfly.LedgerMaxName, &rep.ClientID},
	} {
		s := d.str(f.m, true)
		if err := mayfly.CheckText(members[f.m], s, f.max); err != nil {
			return rep, p.invalid(members[f.m], "%s", mayfly.ErrorMessage(err))
		}
		*f.into = s
	}
	ts := d.str(mTime, false)
	t, terr := time.Parse(time.RFC3339Nano, ts)
	switch {
	case terr != nil || len(ts) > 64:
		return rep, p.invalid("time", "not an RFC 3339 time")
	case t.Year() < 1970 || t.Year() >= 2200:
		return rep, p.invalid("time", "not between 1970 and 2200")
	}
	rep.Time = t.UTC()
	if rep.Service == "" {
		return rep, p.invalid("service", "empty")
	}
	var err *mayfly.Error
	if rep.SourceIP, err = d.sourceIP(); err != nil {
		return rep, err
	}
	if d.seen[mMethod] && !isMethod(rep.Method) {
		return rep, p.invalid("method", "not an HTTP method")
	}
	for k, into := range []*time.Time{&rep.IssuedAt, &rep.Expires} {
		m := mIat + member(k)
		if !d.seen[m] {
			continue
		}
		v := d.dates[k]
		if v < 0 || v > 1<<40 {
			return rep, p.invalid(members[m], "not a NumericDate (a whole number of seconds since 1970)")
		}
		*into = time.Unix(v, 0).UTC()
	}
	if d.seen[mDigest] {
		digest := d.str(mDigest, true)
		var b [24]byte
		if len(digest) != canon.DigestLen {
			return rep, p.invalid("digest", "not a token digest (%d base64url characters)", canon.DigestLen)
		}
		if n, derr := digestEncoding.Decode(b[:], []byte(digest)); derr != nil || n != 16 {
			return rep, p.invalid("digest", "not a token digest (%d base64url characters)", canon.DigestLen)
		}
		rep.Digest = digest
	}
	if d.seen[mToken] {
		// Never quote it, nor an error made from it.
		for _, m := range []member{mJTI, mKID, mIss, mSub, mClientID, mIat, mExp, mDigest} {
			if d.seen[m] {
				return rep, p.invalid(members[m], "a report names its token by its claims or by token, not both")
			}
		}
		tok := d.str(mToken, false)
		if len(tok) == 0 || len(tok) > maxToken {
			return rep, p.invalid("token", "not 1 to %d bytes", maxToken)
		}
		digest, derr := canon.Digest(tok)
		if derr != nil {
			return rep, p.invalid("token", "not a compact JWS")
		}
		rep.Token, rep.Digest = mayfly.LedgerRawToken(tok), digest
	} else if rep.JTI == "" {
		return rep, p.invalid("jti", "missing: a report needs the token's jti and claims, or token")
	}
	rep.Refused = d.refused
	if rep.Records, err = d.records(); err != nil {
		return rep, err
	}
	if rep.Refused && rep.Records != nil {
		return rep, p.invalid("records", "a refused request reads no record")
	}
	return rep, nil
}

// digestEncoding reads a token digest.
var digestEncoding = base64.RawURLEncoding.Strict()

// str is the text of string member m, "" if absent or null. Text that
// recurs across lines (names, not tokens nor times) is shared if share.
func (d *decoder) str(m member, share bool) string {
	q := d.text[m]
	if q == nil {
		return ""
	}
	return d.p.unquote(q, share)
}

// unquote is the text of q, a JSON string, quotes and all, as
// encoding/json reads it.
func (p *parser) unquote(q []byte, share bool) string {
	body := q[1 : len(q)-1]
	if bytes.IndexByte(body, '\\') >= 0 || !isASCII(body) && !utf8.Valid(body) {
		// Escapes, or invalid UTF-8 that becomes U+FFFD: rare enough to
		// leave to encoding/json, which says what they mean.
		var s string
		_ = json.Unmarshal(q, &s)
		return s
	}
	if !share {
		return string(body)
	}
	return p.unquoteName(body)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// sourceIP reads source_ip; the addresses of a batch recur.
func (d *decoder) sourceIP() (netip.Addr, *mayfly.Error) {
	q := d.text[mSourceIP]
	if q != nil {
		if a, ok := d.p.addrs[string(q[1:len(q)-1])]; ok {
			return a, nil
		}
	}
	s := d.str(mSourceIP, false)
	a, aerr := netip.ParseAddr(s)
	switch {
	case aerr != nil || len(s) > 64:
		return a, d.p.invalid("source_ip", "not an IP address")
	case a.Zone() != "":
		return a, d.p.invalid("source_ip", "an IP address with a zone, which names a local interface")
	}
	a = a.Unmap()
	if len(d.p.addrs) < maxInterned && s == string(q[1:len(q)-1]) {
		if d.p.addrs == nil {
			d.p.addrs = map[string]netip.Addr{}
		}
		d.p.addrs[s] = a
	}
	return a, nil
}

// decode reads the line, and reports whether it is one JSON value.
func (d *decoder) decode() bool {
	d.ws()
	if d.i < len(d.line) && d.line[d.i] != '{' {
		if !d.skip(0) {
			return false
		}
		d.ws()
		if d.i != len(d.line) {
			return false
		}
		d.namesErr = d.p.invalid("", "not a JSON object")
		return true
	}
	if !d.object() {
		return false
	}
	d.ws()
	if d.i != len(d.line) {
		return false
	}
	// A member named twice at the top is found at the object's end, as
	// any object's is, after what is wrong deeper.
	if d.namesErr == nil && (d.dupKnown || d.unknowns > 1) {
		if dup := twice(d.p.top); dup != nil {
			d.namesErr = d.p.invalid(memberName(dup), "named twice")
		}
	}
	return true
}

// object reads the report's object.
func (d *decoder) object() bool {
	d.i++ // {
	d.ws()
	if d.i < len(d.line) && d.line[d.i] == '}' {
		d.i++
		return true
	}
	for {
		name, ok := d.name()
		if !ok || !d.colon() {
			return false
		}
		d.topName = name
		d.p.top = append(d.p.top, name)
		if m := memberOf(name); m >= 0 {
			d.dupKnown = d.dupKnown || d.seen[m]
			d.seen[m] = true
			ok = d.member(m)
		} else {
			d.unknowns++
			if d.namesErr == nil {
				for _, k := range members {
					if bytes.EqualFold(name, []byte(k)) {
						d.namesErr = d.p.invalid(memberName(name), "differs from %s only in case", k)
						break
					}
				}
			}
			ok = d.skip(1)
		}
		if !ok {
			return false
		}
		if end, ok := d.next('}'); !ok || end {
			return ok
		}
	}
}

// member reads the value of known member m.
func (d *decoder) member(m member) bool {
	if d.i >= len(d.line) {
		return false
	}
	c := d.line[d.i]
	if c == 'n' {
		// null: as encoding/json, the member is named but holds its
		// zero value.
		return d.lit("null")
	}
	switch m {
	case mRefused:
		switch c {
		case 't':
			d.refused = true
			return d.lit("true")
		case 'f':
			return d.lit("false")
		}
		d.typeError(m, "not true or false")
	case mIat, mExp:
		if c == '-' || '0' <= c && c <= '9' {
			lit, ok := d.number()
			if !ok {
				return false
			}
			v, ok := parseInt64(lit)
			if !ok {
				d.typeError(m, "not a NumericDate (an integer)")
			}
			d.dates[m-mIat] = v
			return true
		}
		d.typeError(m, "not a NumericDate (an integer)")
	case mRecords:
		if c == '{' {
			return d.recordsObject()
		}
		d.typeError(m, "not an object of namespaces")
	default:
		if c == '"' {
			start := d.i
			if _, ok := d.string(); !ok {
				return false
			}
			d.text[m] = d.line[start:d.i]
			return true
		}
		d.typeError(m, "not a string")
	}
	return d.skip(1)
}

// typeError keeps the first type error, as encoding/json does.
func (d *decoder) typeError(m member, what string) {
	if d.typeErr == nil {
		d.typeErr = d.p.invalid(members[m], "%s", what)
	}
}

// recordsObject reads records: namespaces to arrays of record IDs, or to
// strings, bitmaps in base64.
func (d *decoder) recordsObject() bool {
	p := d.p
	from := len(p.names)
	d.i++ // {
	d.ws()
	if d.i < len(d.line) && d.line[d.i] == '}' {
		d.i++
		return true
	}
	for {
		name, ok := d.name()
		if !ok || !d.colon() || d.i >= len(d.line) {
			return false
		}
		p.names = append(p.names, name)
		e := nsEntry{name: name, from: len(p.scratch)}
		start := d.i
		switch d.line[d.i] {
		case '[':
			e.kind, ok = d.ids()
		case '"':
			e.kind = nsBitmap
			_, ok = d.string()
		default:
			e.kind = nsNotArray
			ok = d.skip(2)
		}
		if !ok {
			return false
		}
		e.to, e.raw = len(p.scratch), d.line[start:d.i]
		p.entries = append(p.entries, e)
		end, ok := d.next('}')
		if !ok {
			return false
		}
		if end {
			break
		}
	}
	d.closeObject(from)
	return true
}

// ids reads an array of record IDs into the parser's scratch. The array
// is nsBad if it holds anything but integers from 0 to 2^64-1.
func (d *decoder) ids() (nsKind, bool) {
	line, p := d.line, d.p
	kind := nsIDs
	d.i++ // [
	d.ws()
	if d.i < len(line) && line[d.i] == ']' {
		d.i++
		return kind, true
	}
	for {
		i := d.i
		if i >= len(line) {
			return kind, false
		}
		c := line[i]
		switch {
		case c == '0':
			i++
			if i < len(line) && line[i]-'0' <= 9 {
				return kind, false // a leading zero is not JSON
			}
			p.scratch = append(p.scratch, 0)
		case '1' <= c && c <= '9':
			// Up to 19 digits cannot overflow; the 20th may, a 21st does.
			var v uint64
			j := i
			for ; j < len(line) && j-i < 19 && line[j]-'0' <= 9; j++ {
				v = v*10 + uint64(line[j]-'0')
			}
			if j < len(line) && line[j]-'0' <= 9 {
				hi, lo := bits.Mul64(v, 10)
				lo, carry := bits.Add64(lo, uint64(line[j]-'0'), 0)
				v = lo
				if hi != 0 || carry != 0 {
					kind = nsBad
				}
				for j++; j < len(line) && line[j]-'0' <= 9; j++ {
					kind = nsBad
				}
			}
			i = j
			p.scratch = append(p.scratch, v)
		default:
			kind = nsBad
			if !d.skip(3) {
				return kind, false
			}
			i = d.i
		}
		d.i = i
		if i < len(line) && (line[i] == '.' || line[i] == 'e' || line[i] == 'E') {
			// A number, but not an integer.
			kind = nsBad
			for d.i > 0 && line[d.i-1]-'0' <= 9 {
				d.i--
			}
			if _, ok := d.number(); !ok {
				return kind, false
			}
		}
		end, ok := d.next(']')
		if !ok || end {
			return kind, ok
		}
	}
}

// records checks the namespaces read, in name order, so that the same
// line is refused for the same reason, and returns their record IDs,
// sorted and distinct.
func (d *decoder) records() (map[string][]uint64, *mayfly.Error) {
	const name = "records"
	p := d.p
	es := p.entries
	if len(es) > 1 {
		slices.SortFunc(es, func(a, b nsEntry) int { return bytes.Compare(a.name, b.name) })
	}
	var recs map[string][]uint64
	total := 0
	for i := range es {
		e := &es[i]
		if !isNamespace(string(e.name)) {
			return nil, p.invalid(name, "namespace %s is not 1 to %d of a-z, 0-9, _ and -", memberName(e.name), maxNamespace)
		}
		var ids []uint64
		switch e.kind {
		case nsNotArray:
			return nil, p.invalid(name, "namespace %s: not an array of record IDs", e.name)
		case nsBitmap:
			b, err := recordBitmapBytes([]byte(p.unquote(e.raw, false)))
			if err != nil {
				return nil, p.invalid(name, "namespace %s: %s", e.name, mayfly.ErrorMessage(err))
			}
			// Most bitmaps recordset reads, into IDs, at a fraction of
			// the cost of roaring64 for scattered IDs; roaring64 reads
			// the rest, and counts them before they are read out.
			var rb *roaring64.Bitmap
			ids, err = recordset.Decode(b, p.limits.Records-total)
			card := uint64(len(ids))
			if err != nil {
				if rb, err = recordset.ReadBitmap(b); err != nil {
					return nil, p.invalid(name, "namespace %s: %s", e.name, mayfly.ErrorMessage(badBitmap("%v", err)))
				}
				card = rb.GetCardinality()
			}
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
			if rb != nil {
				ids = p.alloc(int(card))
				it := rb.ManyIterator()
				for k := 0; k < len(ids); {
					n := it.NextMany(ids[k:])
					if n == 0 {
						return nil, p.invalid(name, "namespace %s: a record bitmap that holds fewer IDs than it counts", e.name)
					}
					k += n
				}
			}
		case nsBad:
			// Counted as the pieces between commas, as before.
			body := bytes.TrimSpace(e.raw[1 : len(e.raw)-1])
			if total += bytes.Count(body, []byte{','}) + 1; total > p.limits.Records {
				return nil, p.invalid(name, "more than %d record IDs", p.limits.Records)
			}
			return nil, p.invalid(name, "namespace %s: a record ID that is not an integer from 0 to 2^64-1", e.name)
		case nsIDs:
			n := e.to - e.from
			if n == 0 {
				continue // read nothing there
			}
			if total += n; total > p.limits.Records {
				return nil, p.invalid(name, "more than %d record IDs", p.limits.Records)
			}
			read := p.scratch[e.from:e.to]
			if !slices.IsSorted(read) {
				slices.Sort(read)
			}
			read = slices.Compact(read)
			ids = p.alloc(len(read))
			copy(ids, read)
		}
		if recs == nil {
			recs = make(map[string][]uint64, len(es))
		}
		recs[p.unquoteName(e.name)] = ids
	}
	return recs, nil
}

// unquoteName is a namespace, or another value lines repeat, as a string
// shared across lines.
func (p *parser) unquoteName(b []byte) string {
	if s, ok := p.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if p.interned < maxInterned {
		if p.strs == nil {
			p.strs = map[string]string{}
		}
		p.strs[s] = s
		p.interned++
	}
	return s
}

// alloc returns n record IDs' room, from the slab the batch's reports
// share.
func (p *parser) alloc(n int) []uint64 {
	if n > slabIDs/4 {
		return make([]uint64, n)
	}
	if cap(p.slab)-len(p.slab) < n {
		p.slab = make([]uint64, 0, slabIDs)
	}
	l := len(p.slab)
	p.slab = p.slab[:l+n]
	return p.slab[l : l+n : l+n]
}

// skip reads any value at depth, checking its syntax and its objects'
// names.
func (d *decoder) skip(depth int) bool {
	d.ws()
	if d.i >= len(d.line) {
		return false
	}
	switch c := d.line[d.i]; {
	case c == '{':
		return d.anyObject(depth + 1)
	case c == '[':
		return d.anyArray(depth + 1)
	case c == '"':
		_, ok := d.string()
		return ok
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		_, ok := d.number()
		return ok
	}
	return false
}

func (d *decoder) anyObject(depth int) bool {
	if depth > maxDepth {
		return false
	}
	from := len(d.p.names)
	d.i++ // {
	d.ws()
	if d.i < len(d.line) && d.line[d.i] == '}' {
		d.i++
		return true
	}
	for {
		name, ok := d.name()
		if !ok || !d.colon() {
			return false
		}
		d.p.names = append(d.p.names, name)
		if !d.skip(depth) {
			return false
		}
		end, ok := d.next('}')
		if !ok {
			return false
		}
		if end {
			break
		}
	}
	d.closeObject(from)
	return true
}

// closeObject refuses a name the object ending named twice; its names
// are those from from.
func (d *decoder) closeObject(from int) {
	if d.namesErr == nil {
		if dup := twice(d.p.names[from:]); dup != nil {
			d.namesErr = d.p.invalid(memberName(d.topName), "names %s twice", memberName(dup))
		}
	}
	d.p.names = d.p.names[:from]
}

func (d *decoder) anyArray(depth int) bool {
	if depth > maxDepth {
		return false
	}
	d.i++ // [
	d.ws()
	if d.i < len(d.line) && d.line[d.i] == ']' {
		d.i++
		return true
	}
	for {
		if !d.skip(depth) {
			return false
		}
		end, ok := d.next(']')
		if !ok || end {
			return ok
		}
	}
}

// next reads what follows a value in an object or array: a comma, or the
// close that ends it (end).
func (d *decoder) next(close byte) (end, ok bool) {
	d.ws()
	if d.i >= len(d.line) {
		return false, false
	}
	switch d.line[d.i] {
	case ',':
		d.i++
		d.ws()
		return false, true
	case close:
		d.i++
		return true, true
	}
	return false, false
}

// name reads a member's name, and the colon after it, and returns it as
// encoding/json reads it.
func (d *decoder) name() ([]byte, bool) {
	start := d.i
	body, ok := d.string()
	if !ok {
		return nil, false
	}
	if bytes.IndexByte(body, '\\') >= 0 || !isASCII(body) && !utf8.Valid(body) {
		return []byte(d.p.unquote(d.line[start:d.i], false)), true
	}
	return body, true
}

func (d *decoder) colon() bool {
	d.ws()
	if d.i >= len(d.line) || d.line[d.i] != ':' {
		return false
	}
	d.i++
	d.ws()
	return true
}

// string reads a JSON string and returns what is between its quotes.
func (d *decoder) string() ([]byte, bool) {
	line := d.line
	if d.i >= len(line) || line[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	i := start
	for i < len(line) {
		c := line[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			d.i = i + 1
			return line[start:i], true
		case c == '\\':
			if i+1 >= len(line) {
				return nil, false
			}
			switch line[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(line) {
					return nil, false
				}
				for _, h := range line[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, false
					}
				}
				i += 6
			default:
				return nil, false
			}
		default: // a control character
			return nil, false
		}
	}
	return nil, false
}

// plain holds the bytes a JSON string holds as themselves.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// number reads a JSON number.
func (d *decoder) number() ([]byte, bool) {
	line, i := d.line, d.i
	start := i
	digits := func() bool {
		j := i
		for i < len(line) && line[i]-'0' <= 9 {
			i++
		}
		return i > j
	}
	if i < len(line) && line[i] == '-' {
		i++
	}
	switch {
	case i < len(line) && line[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(line) && line[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(line) && (line[i] == 'e' || line[i] == 'E') {
		i++
		if i < len(line) && (line[i] == '+' || line[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	d.i = i
	return line[start:i], true
}

// parseInt64 reads a JSON number as encoding/json reads it into an
// int64: an integer in range, or nothing.
func parseInt64(lit []byte) (int64, bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	if len(lit) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range lit {
		if c-'0' > 9 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

func (d *decoder) lit(s string) bool {
	if !bytes.HasPrefix(d.line[d.i:], []byte(s)) {
		return false
	}
	d.i += len(s)
	return true
}

// ws skips JSON's white space.
func (d *decoder) ws() {
	for d.i < len(d.line) {
		switch d.line[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// twice returns a name that one object's names hold twice, or nil.
func twice(names [][]byte) []byte {
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

// memberName is name fit to quote in an error: the name itself if it is
// short text on one line, else a placeholder. A name is never a token's
// value, but may be anything.
func memberName(name []byte) string {
	if len(name) <= 64 && mayfly.CheckText("", string(name), 64) == nil {
		return string(name)
	}
	return "(a member)"
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
