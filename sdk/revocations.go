package sdk

import (
	"encoding/base32"
	"strings"
	"sync"
	"time"
)

// revocation is one event of the revocation stream.
type revocation struct {
	Seq     int64     `json:"seq"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Until   time.Time `json:"until,omitzero"` // zero: forever
	At      time.Time `json:"at"`
}

// The kinds of revocation the stream sends.
const (
	kindJTI       = "jti"       // one token
	kindClient    = "client"    // every token of a client_id
	kindKey       = "kid"       // every token a key signed
	kindPrincipal = "principal" // every token whose principal claim is the subject
	kindNotBefore = "nbf"       // tokens of a client or principal issued before At
	kindSuspend   = "suspend"   // every token of a client or principal, until a later resume
	kindResume    = "resume"    // lifts a suspend; also a not-before mark at At
)

// kindSession revokes every token whose sid claim is the subject: a
// refresh token family, revoked when one of its tokens was reused.
const kindSession = "sid"

// Not-before marks on token subjects, such as customers (sub "customer:42"),
// and on every subject of a namespace ("customer"); tokens of the subject
// issued before At are rejected.
const (
	kindSubject   = "sub"
	kindNamespace = "ns"
)

// revocations is what the stream has said is revoked. Like the server's own
// state, an entry counts for as long as it is held, whatever its Until; Until
// only says when it may be forgotten.
type revocations struct {
	mu        sync.RWMutex
	jti       map[string]time.Time // subject -> until (zero: forever)
	client    map[string]time.Time
	kid       map[string]time.Time
	principal map[string]time.Time
	sid       map[string]time.Time // refresh families
	nbf       map[string]time.Time // client or principal ID -> the latest mark
	// held is, per client or principal, its latest suspend or resume. A
	// hold is lifted by a later resume, so only a newer event counts.
	held map[string]hold
	// Marks on subjects and namespaces, apart from nbf: a sub is not an ID
	// of Mayfly's. Only a subject that was logged out takes room.
	subNBF, nsNBF map[string]time.Time
}

type hold struct {
	seq int64
	on  bool
}

func newRevocations() *revocations {
	return &revocations{jti: map[string]time.Time{}, client: map[string]time.Time{}, kid: map[string]time.Time{},
		principal: map[string]time.Time{}, sid: map[string]time.Time{}, nbf: map[string]time.Time{}, held: map[string]hold{},
		subNBF: map[string]time.Time{}, nsNBF: map[string]time.Time{}}
}

// apply records r, and reports false for a kind it does not know.
func (rs *revocations) apply(r *revocation) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var m map[string]time.Time
	switch r.Kind {
	case kindJTI:
		m = rs.jti
	case kindClient:
		m = rs.client
	case kindKey:
		m = rs.kid
	case kindPrincipal:
		m = rs.principal
	case kindSession:
		m = rs.sid
	case kindNotBefore:
		if r.At.After(rs.nbf[r.Subject]) {
			rs.nbf[r.Subject] = r.At
		}
		return true
	case kindSubject, kindNamespace:
		m := rs.subNBF
		if r.Kind == kindNamespace {
			m = rs.nsNBF
		}
		if r.At.After(m[r.Subject]) {
			m[r.Subject] = r.At
		}
		return true
	case kindResume:
		if r.At.After(rs.nbf[r.Subject]) {
			rs.nbf[r.Subject] = r.At
		}
		fallthrough
	case kindSuspend:
		if h, ok := rs.held[r.Subject]; !ok || r.Seq > h.seq {
			rs.held[r.Subject] = hold{seq: r.Seq, on: r.Kind == kindSuspend}
		}
		return true
	default:
		return false
	}
	// A later revocation of the same subject may only lengthen it.
	if old, ok := m[r.Subject]; !ok || (!old.IsZero() && (r.Until.IsZero() || r.Until.After(old))) {
		m[r.Subject] = r.Until
	}
	return true
}

// check returns the detail of the revocation that withdraws the token, or "".
func (rs *revocations) check(e *entry) string {
	c := &e.claims
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if _, ok := rs.jti[c.ID]; ok {
		return "jti " + c.ID + " is revoked"
	}
	if _, ok := rs.client[c.ClientID]; ok {
		return "client " + c.ClientID + " is revoked"
	}
	if _, ok := rs.kid[c.KeyID]; ok {
		return "key " + c.KeyID + " is revoked"
	}
	if c.Principal != "" {
		if _, ok := rs.principal[c.Principal]; ok {
			return "principal " + c.Principal + " is revoked"
		}
	}
	if c.SessionID != "" {
		if _, ok := rs.sid[c.SessionID]; ok {
			return "session " + c.SessionID + " is revoked"
		}
	}
	if len(rs.held) > 0 {
		if rs.held[c.ClientID].on {
			return "client " + c.ClientID + " is suspended"
		}
		if c.Principal != "" && rs.held[c.Principal].on {
			return "principal " + c.Principal + " is suspended"
		}
	}
	if len(rs.nbf) > 0 {
		if mark, ok := rs.nbf[c.ClientID]; ok && e.issued.Before(mark) {
			return "issued before client " + c.ClientID + "'s not-before mark"
		}
		if mark, ok := rs.nbf[c.Principal]; ok && c.Principal != "" && e.issued.Before(mark) {
			return "issued before principal " + c.Principal + "'s not-before mark"
		}
	}
	if len(rs.subNBF) > 0 || len(rs.nsNBF) > 0 {
		if mark, ok := rs.subNBF[c.Subject]; ok && e.issued.Before(mark) {
			return "issued before subject " + c.Subject + "'s not-before mark"
		}
		if ns, _, ok := strings.Cut(c.Subject, ":"); ok {
			if mark, ok := rs.nsNBF[ns]; ok && e.issued.Before(mark) {
				return "issued before namespace " + ns + "'s not-before mark"
			}
		}
	}
	return ""
}

// prune forgets revocations whose Until is before t.
func (rs *revocations) prune(t time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, m := range []map[string]time.Time{rs.jti, rs.client, rs.kid, rs.principal, rs.sid} {
		for s, until := range m {
			if !until.IsZero() && until.Before(t) {
				delete(m, s)
			}
		}
	}
}

// jtiEncoding is the alphabet of a Mayfly jti: RFC 4648 base32 with the
// extended hex alphabet, without padding, in lower case.
var jtiEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// jtiTime returns the issue time in a Mayfly jti: 26 characters encoding 16
// bytes, the first 6 of which are big-endian Unix milliseconds.
func jtiTime(jti string) (time.Time, bool) {
	if len(jti) != 26 || strings.ToLower(jti) != jti {
		return time.Time{}, false
	}
	var b [16]byte
	n, err := jtiEncoding.Decode(b[:], []byte(strings.ToUpper(jti)))
	if err != nil || n != 16 {
		return time.Time{}, false
	}
	var ms int64
	for i := range 6 {
		ms = ms<<8 | int64(b[i])
	}
	return time.UnixMilli(ms), true
}

// issueTime is when a token was issued, for not-before marks: the jti's
// millisecond when it is a Mayfly jti that agrees with iat (inside iat's
// second), else iat. Only a forger's jti could disagree, and then it counts
// for nothing.
func issueTime(jti string, iat time.Time) time.Time {
	if t, ok := jtiTime(jti); ok && !t.Before(iat) && t.Before(iat.Add(time.Second)) {
		return t
	}
	return iat
}
