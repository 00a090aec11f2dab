package sdk

import (
	"context"
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// Read adds ids, record IDs in namespace (such as "customer" or "order"), to
// what the request whose context is ctx read, for the middleware to report
// when the handler returns. Calls add up, and may come from the handler's
// goroutines too. Outside a request admitted by a Middleware with a
// Reporter, or after its handler has returned, Read does nothing.
//
// A namespace is 1 to 64 of a-z, 0-9, _ and -; IDs in any other are not
// reported, and the Reporter logs how many such calls it saw. Read copies
// ids; the caller may reuse the slice.
func Read(ctx context.Context, namespace string, ids ...uint64) {
	if len(ids) == 0 {
		return
	}
	if st, ok := ctx.Value(claimsKey{}).(*request); ok {
		st.read(namespace, ids)
	}
}

// request is what the middleware keeps of an admitted request while its
// handler runs: its claims, for ClaimsFrom, and what it read, for Read.
type request struct {
	claims Claims
	e      *entry // shared: the cache's
	rep    *Reporter

	mu   sync.Mutex
	done bool  // the handler returned: later reads are not reported
	ids  *slab // nil until the first Read
}

func (st *request) read(ns string, ids []uint64) {
	if !isNamespace(ns) {
		st.rep.badReads.Add(1)
		return
	}
	st.mu.Lock()
	if !st.done {
		if st.ids == nil {
			st.ids = getSlab()
		}
		st.ids.add(ns, ids)
	}
	st.mu.Unlock()
}

// finish ends the request's reads and returns them.
func (st *request) finish() *slab {
	st.mu.Lock()
	st.done = true
	s := st.ids
	st.ids = nil
	st.mu.Unlock()
	return s
}

// slab holds one request's record IDs in one array, with the namespace of
// each run of them. Slabs are pooled: a request that reads appends to one,
// which goes back to the pool, on the same goroutine, once the reporter
// has copied it into its buffer; so steady traffic allocates none.
type slab struct {
	ids   []uint64
	spans []span
}

// span is a run of IDs in one namespace.
type span struct {
	ns string
	n  int
}

// maxPooledIDs keeps a slab that one huge request grew out of the pool.
const maxPooledIDs = 64 << 10

var slabs = sync.Pool{New: func() any { return &slab{ids: make([]uint64, 0, 256), spans: make([]span, 0, 4)} }}

func getSlab() *slab { return slabs.Get().(*slab) }

func putSlab(s *slab) {
	if s == nil || cap(s.ids) > maxPooledIDs {
		return
	}
	s.ids, s.spans = s.ids[:0], s.spans[:0]
	slabs.Put(s)
}

func (s *slab) add(ns string, ids []uint64) {
	s.ids = append(s.ids, ids...)
	if k := len(s.spans) - 1; k >= 0 && s.spans[k].ns == ns {
		s.spans[k].n += len(ids)
		return
	}
	s.spans = append(s.spans, span{ns: ns, n: len(ids)})
}

func (s *slab) len() int {
	if s == nil {
		return 0
	}
	return len(s.ids)
}

// isNamespace reports whether s is 1 to 64 of [a-z0-9_-], what the ledger
// takes as a namespace.
func isNamespace(s string) bool {
	if s == "" || len(s) > 64 {
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

// report is one request as it waits in the Reporter's buffer. It holds
// what the request path had at hand; the flusher turns it into a line.
type report struct {
	when    int64  // Clock time, Unix nanoseconds
	e       *entry // the token's claims and digest
	method  string
	route   string
	ip      netip.Addr
	refused bool
	// What it read: ids[0]:ids[1] of the buffer's IDs, spans[0]:spans[1]
	// of its spans.
	ids, spans [2]int
}

// unverified names a token the verifier refused before checking its
// signature held (malformed, unknown key, bad signature): its digest and
// the claims it makes, unverified. It returns nil for a token with no
// digest or no jti: nothing would name it in the ledger.
func unverified(raw string) *entry {
	if len(raw) > MaxTokenSize {
		return nil
	}
	d, err := canon.Digest(raw)
	if err != nil {
		return nil
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, _, _ := strings.Cut(rest, ".")
	var hdr struct {
		KeyID string `json:"kid"`
	}
	var cl struct {
		Issuer    string `json:"iss"`
		Subject   string `json:"sub"`
		ID        string `json:"jti"`
		ClientID  string `json:"client_id"`
		Principal string `json:"principal"`
	}
	// A member of the wrong type leaves its field empty; the rest is read.
	if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "=")); err == nil {
		_ = josejson.Unmarshal(b, &hdr)
	}
	if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "=")); err == nil {
		_ = josejson.Unmarshal(b, &cl)
	}
	if cl.ID == "" {
		return nil
	}
	return &entry{digest: d, claims: Claims{Issuer: cl.Issuer, Subject: cl.Subject, ID: cl.ID,
		ClientID: cl.ClientID, Principal: cl.Principal, KeyID: hdr.KeyID}}
}

// Bounds the ledger puts on a line's members (internal/ledger.ParseReports
// refuses a whole batch for one line beyond them).
const (
	maxReportLine = 60 << 10 // under the ledger's default of 64 KiB a line
	maxClaimText  = 256
	maxMethod     = 32
	maxRoute      = 1024
)

// fits reports whether s is text the ledger takes in a member of at most
// max bytes: valid UTF-8 on one line.
func fits(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsControl(r) {
			return false
		}
		i += n
	}
	return true
}

// appendString appends s as a JSON string. s fits: only quotes and
// backslashes need escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// encoder turns reports into JSON Lines, on the flusher's goroutine.
type encoder struct {
	service []byte // `,"service":"..."`, encoded once
	pre     []byte // scratch: a line up to its records
}

// appendReport appends rep's line to b, or several lines if its records
// do not fit in one: each then holds a share of them, with the same
// request's other members. It returns b unchanged and false if the
// report cannot be sent (its jti is not text the ledger takes).
func (enc *encoder) appendReport(b []byte, rep *report, s *slab) ([]byte, bool) {
	e := rep.e
	if e.claims.ID == "" || !fits(e.claims.ID, maxClaimText) {
		return b, false
	}
	pre := append(enc.pre[:0], `{"time":`...)
	pre = append(pre, '"')
	pre = time.Unix(0, rep.when).UTC().AppendFormat(pre, time.RFC3339Nano)
	pre = append(pre, '"')
	pre = append(pre, enc.service...)
	pre = append(pre, `,"source_ip":"`...)
	ip := rep.ip.WithZone("").Unmap()
	if !ip.IsValid() {
		ip = netip.IPv6Unspecified() // unknown, as SourceIP's nil default says
	}
	pre = ip.AppendTo(pre)
	pre = append(pre, '"')
	if rep.method != "" && fits(rep.method, maxMethod) && isToken(rep.method) {
		pre = append(pre, `,"method":`...)
		pre = appendString(pre, rep.method)
	}
	if rep.route != "" && fits(rep.route, maxRoute) {
		pre = append(pre, `,"route":`...)
		pre = appendString(pre, rep.route)
	}
	c := &e.claims
	for _, m := range [...]struct{ name, v string }{{`,"jti":`, c.ID}, {`,"kid":`, c.KeyID}, {`,"iss":`, c.Issuer},
		{`,"sub":`, c.Subject}, {`,"client_id":`, c.ClientID}, {`,"principal":`, c.Principal}} {
		if m.v != "" && fits(m.v, maxClaimText) {
			pre = append(pre, m.name...)
			pre = appendString(pre, m.v)
		}
	}
	for _, m := range [...]struct {
		name string
		t    time.Time
	}{{`,"iat":`, c.IssuedAt}, {`,"exp":`, c.Expiry}} {
		if s := m.t.Unix(); !m.t.IsZero() && s >= 0 && s <= 1<<40 {
			pre = append(pre, m.name...)
			pre = strconv.AppendInt(pre, s, 10)
		}
	}
	if e.digest != "" {
		pre = append(pre, `,"digest":"`...)
		pre = append(pre, e.digest...)
		pre = append(pre, '"')
	}
	if rep.refused {
		pre = append(pre, `,"refused":true`...)
	}
	enc.pre = pre
	b = append(b, pre...)
	if s.len() == 0 {
		return append(b, "}\n"...), true
	}
	// The records, a namespace at a time in the order first read; a new
	// line, with the same members, where one grows past maxReportLine.
	start := len(b) - len(pre)
	b = append(b, `,"records":{`...)
	first := true
	for i, sp := range s.spans {
		if seen(s.spans[:i], sp.ns) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, sp.ns...)
		b = append(b, `":[`...)
		n := 0 // IDs in this namespace on this line
		off := 0
		for _, sp2 := range s.spans {
			if sp2.ns != sp.ns {
				off += sp2.n
				continue
			}
			for _, id := range s.ids[off : off+sp2.n] {
				if len(b)-start > maxReportLine-24 && n > 0 {
					b = append(b, "]}}\n"...)
					start = len(b)
					b = append(b, pre...)
					b = append(b, `,"records":{"`...)
					b = append(b, sp.ns...)
					b = append(b, `":[`...)
					n = 0
				}
				if n > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, id, 10)
				n++
			}
			off += sp2.n
		}
		b = append(b, ']')
	}
	return append(b, "}}\n"...), true
}

func seen(spans []span, ns string) bool {
	for _, sp := range spans {
		if sp.ns == ns {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token, as a method must be.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
