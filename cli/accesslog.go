package cli

// An access log's lines become ledger reports, as the JSON Lines that
// POST /v1/ledger/events reads, through a mapping from each report member
// to the log's field that holds it. A line maps whole or not at all, and
// an error names the report member and the log field at fault but never
// quotes the field's value: a mis-mapped field may hold a token.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// logMapping says, for each report member, which field of a log line holds
// it: a name, or a dotted path into nested objects. Records maps a record
// namespace to the field that holds the IDs read there.
type logMapping struct {
	Fields  map[string]string // report member -> log field
	Records map[string]string // namespace -> log field
	// Service names the reporting service for lines whose mapped service
	// field is absent, or when none is mapped.
	Service string
}

// members are the report members a Mapping may name, records aside.
var reportMembers = []string{"time", "service", "source_ip", "method", "route", "refused",
	"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest", "token"}

// claims are the members that name a token by what it claims.
var reportClaims = []string{"jti", "kid", "iss", "sub", "client_id", "iat", "exp", "digest"}

// logPresets are the field names of common JSON access log formats.
var logPresets = map[string]map[string]string{
	// A log_format with escape=json whose keys are the variables' names,
	// the Authorization header as $http_authorization.
	"nginx": {"time": "time_local", "source_ip": "remote_addr", "method": "request_method",
		"route": "uri", "token": "http_authorization"},
	// A json_format whose keys are Envoy's usual ones, the Authorization
	// header as %REQ(AUTHORIZATION)%.
	"envoy": {"time": "start_time", "source_ip": "downstream_remote_address", "method": "method",
		"route": "path", "token": "authorization"},
}

// parseMapping reads member=field pairs, as --map takes them, over the
// preset's fields (none if preset is ""). A member records.NAMESPACE maps
// the IDs read in that namespace.
func parseMapping(preset string, pairs []string, service string) (*logMapping, error) {
	m := &logMapping{Fields: map[string]string{}, Records: map[string]string{}, Service: service}
	if preset != "" {
		p, ok := logPresets[preset]
		if !ok {
			return nil, mayfly.InvalidField("preset", "no preset %q: there are %s", preset, strings.Join(slices.Sorted(maps.Keys(logPresets)), " and "))
		}
		maps.Copy(m.Fields, p)
	}
	mapped := map[string]bool{}
	for _, pair := range pairs {
		member, field, ok := strings.Cut(pair, "=")
		member, field = strings.TrimSpace(member), strings.TrimSpace(field)
		if !ok || member == "" || field == "" {
			return nil, mayfly.InvalidField("map", "%q is not MEMBER=FIELD", pair)
		}
		if ns, ok := strings.CutPrefix(member, "records."); ok {
			if !isNamespace(ns) {
				return nil, mayfly.InvalidField("map", "records.%s: a namespace is 1 to 64 of a-z, 0-9, _ and -", ns)
			}
			m.Records[ns] = field
			continue
		}
		if !slices.Contains(reportMembers, member) {
			return nil, mayfly.InvalidField("map", "no report member %q: map %s, or records.NAMESPACE", member, strings.Join(reportMembers, ", "))
		}
		m.Fields[member] = field
		mapped[member] = true
	}
	// A preset's token gives way to claims mapped in its place.
	if !mapped["token"] && slices.ContainsFunc(reportClaims, func(c string) bool { return mapped[c] }) {
		delete(m.Fields, "token")
	}
	switch {
	case m.Fields["time"] == "":
		return nil, mayfly.InvalidField("map", "no field for time: map time=FIELD")
	case m.Fields["source_ip"] == "":
		return nil, mayfly.InvalidField("map", "no field for source_ip: map source_ip=FIELD")
	case m.Fields["service"] == "" && m.Service == "":
		return nil, mayfly.InvalidField("service", "no service: map service=FIELD or name one with --service")
	case m.Fields["token"] == "" && m.Fields["jti"] == "":
		return nil, mayfly.InvalidField("map", "no field for the token: map token=FIELD (the Authorization header) or jti=FIELD")
	}
	if m.Fields["token"] != "" {
		for _, c := range reportClaims {
			if m.Fields[c] != "" {
				return nil, mayfly.InvalidField("map", "map token or the token's claims (%s), not both", c)
			}
		}
	}
	return m, nil
}

// report is a report line as ParseReports reads it.
type report struct {
	Time     string              `json:"time"`
	Service  string              `json:"service"`
	SourceIP string              `json:"source_ip"`
	Method   string              `json:"method,omitempty"`
	Route    string              `json:"route,omitempty"`
	Records  map[string][]uint64 `json:"records,omitempty"`
	Refused  bool                `json:"refused,omitempty"`
	JTI      string              `json:"jti,omitempty"`
	KID      string              `json:"kid,omitempty"`
	Issuer   string              `json:"iss,omitempty"`
	Subject  string              `json:"sub,omitempty"`
	ClientID string              `json:"client_id,omitempty"`
	IssuedAt *int64              `json:"iat,omitempty"`
	Expires  *int64              `json:"exp,omitempty"`
	Digest   string              `json:"digest,omitempty"`
	Token    string              `json:"token,omitempty"`
}

// mapLine turns one log line, a JSON object, into one report line, without
// its line break.
func (m *logMapping) mapLine(line []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil || obj == nil {
		return nil, mayfly.Errorf(mayfly.Invalid, "not a JSON object")
	}
	if d.More() {
		return nil, mayfly.Errorf(mayfly.Invalid, "more than one JSON value on the line")
	}
	var r report
	text := func(member string) (string, error) {
		field := m.Fields[member]
		if field == "" {
			return "", nil
		}
		v, ok := logField(obj, field)
		if !ok {
			return "", nil
		}
		switch v := v.(type) {
		case string:
			if v == "-" { // nginx's value of an unset variable
				return "", nil
			}
			return v, nil
		case json.Number:
			return v.String(), nil
		case bool:
			return strconv.FormatBool(v), nil
		}
		return "", fault(member, field, "not a string or a number")
	}
	var err error
	get := func(member string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = text(member)
		return s
	}
	tm, service, src := get("time"), get("service"), get("source_ip")
	r.Method, r.Route = get("method"), get("route")
	refused := get("refused")
	r.JTI, r.KID, r.Issuer, r.Subject, r.ClientID, r.Digest = get("jti"), get("kid"), get("iss"), get("sub"), get("client_id"), get("digest")
	iat, exp, tok := get("iat"), get("exp"), get("token")
	if err != nil {
		return nil, err
	}

	if tm == "" {
		return nil, fault("time", m.Fields["time"], "missing")
	}
	t, ok := parseTime(tm)
	if !ok {
		return nil, fault("time", m.Fields["time"], "not a time (RFC 3339, nginx's $time_local, or Unix seconds or milliseconds)")
	}
	if t.Year() < 1970 || t.Year() >= 2200 {
		return nil, fault("time", m.Fields["time"], "not between 1970 and 2200")
	}
	r.Time = t.UTC().Format(time.RFC3339Nano)

	r.Service = service
	if r.Service == "" {
		r.Service = m.Service
	}
	if r.Service == "" {
		return nil, fault("service", m.Fields["service"], "missing, and no --service")
	}

	if src == "" {
		return nil, fault("source_ip", m.Fields["source_ip"], "missing")
	}
	a, ok := parseAddr(src)
	if !ok {
		return nil, fault("source_ip", m.Fields["source_ip"], "not an IP address")
	}
	r.SourceIP = a.String()

	// A route never carries its query: it may hold anything, secrets too.
	r.Route, _, _ = strings.Cut(r.Route, "?")
	if r.Method != "" && !isMethod(r.Method) {
		return nil, fault("method", m.Fields["method"], "not an HTTP method")
	}

	if refused != "" {
		if r.Refused, ok = parseRefused(refused); !ok {
			return nil, fault("refused", m.Fields["refused"], "not true, false or an HTTP status")
		}
	}

	for _, n := range []struct {
		member, v string
		into      **int64
	}{{"iat", iat, &r.IssuedAt}, {"exp", exp, &r.Expires}} {
		if n.v == "" {
			continue
		}
		t, ok := parseTime(n.v)
		if !ok {
			return nil, fault(n.member, m.Fields[n.member], "not a NumericDate or a time")
		}
		s := t.Unix()
		*n.into = &s
	}

	if tok != "" {
		r.Token = bearer(tok)
		if r.Token == "" {
			return nil, fault("token", m.Fields["token"], "missing")
		}
	} else if r.JTI == "" {
		f := m.Fields["token"]
		member := "token"
		if f == "" {
			f, member = m.Fields["jti"], "jti"
		}
		return nil, fault(member, f, "missing: the line names no token")
	}

	// The bounds the ingest holds a report to, checked here so that a bad
	// line is named by its line in the log.
	for _, f := range []struct {
		member, v string
		max       int
	}{{"service", r.Service, mayfly.MaxName}, {"method", r.Method, 32}, {"route", r.Route, 1024},
		{"jti", r.JTI, mayfly.LedgerMaxName}, {"kid", r.KID, mayfly.LedgerMaxName}, {"iss", r.Issuer, mayfly.LedgerMaxName},
		{"sub", r.Subject, mayfly.LedgerMaxName}, {"client_id", r.ClientID, mayfly.LedgerMaxName}} {
		if err := mayfly.CheckText(f.member, f.v, f.max); err != nil {
			field := m.Fields[f.member]
			if f.member == "service" && r.Service == m.Service {
				field = "" // from --service
			}
			return nil, fault(f.member, field, mayfly.ErrorMessage(err))
		}
	}
	if r.Digest != "" && len(r.Digest) != canon.DigestLen {
		return nil, fault("digest", m.Fields["digest"], fmt.Sprintf("not a token digest (%d base64url characters)", canon.DigestLen))
	}
	if r.Token != "" {
		if len(r.Token) > maxReportToken {
			return nil, fault("token", m.Fields["token"], fmt.Sprintf("longer than %d bytes", maxReportToken))
		}
		if _, err := canon.Digest(r.Token); err != nil {
			return nil, fault("token", m.Fields["token"], "not a compact JWS (after any \"Bearer \")")
		}
	}

	for _, ns := range slices.Sorted(maps.Keys(m.Records)) {
		field := m.Records[ns]
		v, ok := logField(obj, field)
		if !ok {
			continue
		}
		ids, err := recordIDs(v)
		if err != nil {
			return nil, fault("records."+ns, field, err.Error())
		}
		if len(ids) == 0 {
			continue
		}
		if r.Records == nil {
			r.Records = map[string][]uint64{}
		}
		r.Records[ns] = ids
	}
	if r.Refused && r.Records != nil {
		// A refused request read nothing, whatever the log says of it.
		r.Records = nil
	}
	return json.Marshal(r)
}

// fault is a line's error for a member: which log field, and why, never
// the field's value.
func fault(member, field, why string) error {
	if field == "" {
		return mayfly.InvalidField(member, "%s: %s", member, why)
	}
	return mayfly.InvalidField(member, "%s (field %s): %s", member, field, why)
}

// logField finds field in obj: a member of that exact name, or else a dotted
// path into nested objects.
func logField(obj map[string]any, field string) (any, bool) {
	if v, ok := obj[field]; ok {
		return v, v != nil
	}
	var cur any = obj
	for part := range strings.SplitSeq(field, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = o[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// maxReportToken is the longest token the ingest takes: the verifier's
// bound.
const maxReportToken = 8 << 10

// nginxLocal is the layout of nginx's $time_local.
const nginxLocal = "02/Jan/2006:15:04:05 -0700"

// parseTime reads an RFC 3339 time, nginx's $time_local, or Unix seconds
// (perhaps with a fraction, as nginx's $msec) or milliseconds: a number
// past 10^11 is taken as milliseconds, as seconds reach it only in 5138.
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(nginxLocal, s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		if n >= 1e11 {
			return time.UnixMilli(n), true
		}
		return time.Unix(n, 0), true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1e11 && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)), true
	}
	return time.Time{}, false
}

// parseAddr reads an address alone or with a port (Envoy's
// %DOWNSTREAM_REMOTE_ADDRESS%), or the first of a list (X-Forwarded-For).
func parseAddr(s string) (netip.Addr, bool) {
	s, _, _ = strings.Cut(s, ",")
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// parseRefused reads true or false, or an HTTP status: 401 and 403 are
// the verifier's refusals.
func parseRefused(s string) (bool, bool) {
	if b, err := strconv.ParseBool(s); err == nil {
		return b, true
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 999 {
		return n == 401 || n == 403, true
	}
	return false, false
}

// bearer strips the scheme from an Authorization header's value.
func bearer(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = strings.TrimSpace(v[7:])
	}
	return v
}

// recordIDs reads a field of record IDs: an array of integers (or of
// strings of digits), one integer, or a comma-separated string.
func recordIDs(v any) ([]uint64, error) {
	var ids []uint64
	add := func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return errors.New("a record ID that is not an integer from 0 to 2^64-1")
		}
		ids = append(ids, id)
		return nil
	}
	switch v := v.(type) {
	case json.Number:
		if err := add(v.String()); err != nil {
			return nil, err
		}
	case string:
		if v == "-" {
			return nil, nil
		}
		for s := range strings.SplitSeq(v, ",") {
			if err := add(s); err != nil {
				return nil, err
			}
		}
	case []any:
		for _, e := range v {
			var s string
			switch e := e.(type) {
			case json.Number:
				s = e.String()
			case string:
				s = e
			default:
				return nil, errors.New("not an array of record IDs")
			}
			if strings.TrimSpace(s) == "" {
				return nil, errors.New("an empty record ID")
			}
			if err := add(s); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("not record IDs (an array, an integer or a comma-separated string)")
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// isNamespace reports whether s is 1 to 64 of [a-z0-9_-], as the ledger
// names namespaces.
func isNamespace(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isMethod reports whether s is an HTTP method: an RFC 9110 token.
func isMethod(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
