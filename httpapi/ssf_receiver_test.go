package httpapi_test

// A Shared Signals receiver written from the specifications, not from
// Mayfly's types: RFC 8417 (Security Event Tokens), RFC 8935 (push), RFC
// 8936 (poll), RFC 9493 (subject identifiers) and OpenID SSF, CAEP and RISC
// 1.0. It discovers the transmitter, keeps its JWKS, and validates every SET
// it gets; the tests drive a real Mayfly over loopback HTTP and check what
// the receiver is told.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// What the specifications name; the receiver knows these, not Mayfly's.
const (
	rxPush = "urn:ietf:rfc:8935"
	rxPoll = "urn:ietf:rfc:8936"

	evSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	evCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	evAccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	evAccountEnabled   = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	evVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	evStreamUpdated    = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"

	rxSkew = time.Minute // how far in the future an iat may be
	rxWait = 10 * time.Second
)

// rxEnv is a transmitter with one client that may manage streams. It keeps
// the client's secret so that a test can mint fresh tokens after moving
// the clock.
type rxEnv struct {
	*servertest.Env
	t              *testing.T
	opts           []servertest.Option
	clientID       string
	clientSecret   string
	principalOwner string
}

func newRxEnv(t *testing.T, opts ...servertest.Option) *rxEnv {
	t.Helper()
	opts = append([]servertest.Option{func(c *serverConfig) { c.SSFAllowHTTP = true }}, opts...)
	e := &rxEnv{Env: servertest.New(t, opts...), t: t, opts: opts}
	e.principalOwner = e.Human("rita")
	c, secret := e.NewClient(api.ClientRequest{Name: "receiver", Owner: e.principalOwner, Scopes: []string{"ssf"}})
	e.clientID, e.clientSecret = c.ID, secret
	return e
}

// token is a fresh access token of the receiver's client.
func (e *rxEnv) token() string {
	e.t.Helper()
	return e.IssueToken(e.clientID, e.clientSecret, nil)
}

// restart restarts the server on the same data, clock and address.
func (e *rxEnv) restart() { e.Env = e.Env.Restart(e.opts...) }

// victim is a client with a secret whose credentials a test revokes.
func (e *rxEnv) victim(name string) (id, secret string) {
	e.t.Helper()
	c, s := e.NewClient(api.ClientRequest{Name: name, Owner: e.Human(name + "-owner")})
	return c.ID, s
}

// rxTransmitter is the transmitter configuration metadata (SSF 1.0 section 7.1).
type rxTransmitter struct {
	SpecVersion              string   `json:"spec_version"`
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string   `json:"configuration_endpoint"`
	StatusEndpoint           string   `json:"status_endpoint"`
	AddSubjectEndpoint       string   `json:"add_subject_endpoint"`
	RemoveSubjectEndpoint    string   `json:"remove_subject_endpoint"`
	VerificationEndpoint     string   `json:"verification_endpoint"`
	AuthorizationSchemes     []struct {
		SpecURN string `json:"spec_urn"`
	} `json:"authorization_schemes"`
	DefaultSubjects string `json:"default_subjects"`
}

// rxSET is a SET the receiver validated.
type rxSET struct {
	Raw, KID        string
	JTI, Txn, Type  string
	IAT             int64
	SubID, Event    map[string]any
	Payload         []byte
	RedeliveredCopy bool // the same jti and claims came before
}

// rxAnswer is what the push endpoint answers: a status, and for a 400
// the RFC 8935 error code.
type rxAnswer struct {
	status int
	err    string
}

// rxAttempt is one push the receiver got, and what it answered.
type rxAttempt struct {
	JTI    string
	Status int
}

// receiver is one stream's receiving end.
type receiver struct {
	t      *testing.T
	env    *rxEnv
	tx     rxTransmitter
	bearer func() string // management credential
	clock  *servertest.Clock
	method string
	cfg    map[string]any // the stream's configuration as last returned
	id     string
	aud    string

	mu       sync.Mutex
	jwks     jose.JSONWebKeySet
	seen     map[string][]byte // jti -> payload, for every SET validated
	sets     []rxSET           // accepted, first copies only, in arrival order
	accepted map[string]bool   // jtis in sets
	taken    int               // sets handed to the test so far
	problems []string          // what the push endpoint found wrong
	srv      *httptest.Server
	addr     string
	authz    string     // the Authorization header pushes must carry
	answers  []rxAnswer // for the next pushes; 202 after them
	attempts []rxAttempt
}

// newReceiver discovers the transmitter at the env's issuer, fetches its
// keys and creates a stream delivered by method. extra adds to the
// stream request (events_requested, description).
func newReceiver(t *testing.T, e *rxEnv, method string, extra map[string]any) *receiver {
	t.Helper()
	rx := &receiver{t: t, env: e, clock: e.Clock, method: method, bearer: e.token,
		seen: map[string][]byte{}, accepted: map[string]bool{}}
	rx.tx = rxDiscover(t, e.URL)
	rx.refreshJWKS()
	delivery := map[string]any{"method": method}
	if method == rxPush {
		rx.authz = "Bearer rx-" + rxRandom(t)
		rx.srv = httptest.NewServer(http.HandlerFunc(rx.serve))
		rx.addr = rx.srv.Listener.Addr().String()
		t.Cleanup(func() { rx.srv.Close() })
		delivery["endpoint_url"] = rx.srv.URL + "/ssf/events?tenant=t1"
		delivery["authorization_header"] = rx.authz
	}
	req := map[string]any{"delivery": delivery}
	for k, v := range extra {
		req[k] = v
	}
	r := rx.manage("POST", rx.tx.ConfigurationEndpoint, req)
	if r.Status != http.StatusCreated {
		t.Fatalf("create stream: got %d %s, want 201", r.Status, r.Body)
	}
	rx.setConfig(r)
	return rx
}

func rxRandom(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// rxDiscover reads the transmitter configuration (SSF 1.0 section 7.2).
func rxDiscover(t *testing.T, issuer string) rxTransmitter {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/ssf-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tx rxTransmitter
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tx); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	// The issuer in the metadata must be the one it was found at.
	if tx.Issuer != issuer {
		t.Fatalf("discovery: issuer %q, want %q", tx.Issuer, issuer)
	}
	return tx
}

// refreshJWKS fetches the transmitter's keys from jwks_uri.
func (rx *receiver) refreshJWKS() {
	rx.t.Helper()
	set, err := rxFetchJWKS(rx.tx.JWKSURI)
	if err != nil {
		rx.t.Fatal(err)
	}
	rx.mu.Lock()
	rx.jwks = set
	rx.mu.Unlock()
}

func rxFetchJWKS(uri string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	resp, err := http.Get(uri)
	if err != nil {
		return set, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return set, fmt.Errorf("jwks: status %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	if err == nil && len(set.Keys) == 0 {
		err = fmt.Errorf("jwks: no keys")
	}
	return set, err
}

// manage calls a management endpoint with the receiver's credential.
func (rx *receiver) manage(method, endpoint string, body any) *servertest.Response {
	rx.t.Helper()
	return rxCall(rx.t, rx.env.Env, method, endpoint, rx.bearer(), body)
}

func rxCall(t *testing.T, e *servertest.Env, method, endpoint, bearer string, body any) *servertest.Response {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, endpoint, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.Do(req)
}

func (rx *receiver) setConfig(r *servertest.Response) {
	rx.t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(r.Body, &cfg); err != nil {
		rx.t.Fatalf("stream configuration: %v: %s", err, r.Body)
	}
	rx.mu.Lock()
	rx.cfg = cfg
	rx.mu.Unlock()
	id, _ := cfg["stream_id"].(string)
	aud, _ := cfg["aud"].(string)
	if id == "" || aud == "" || cfg["iss"] != rx.tx.Issuer {
		rx.t.Fatalf("stream configuration without stream_id, aud or this iss: %s", r.Body)
	}
	if rx.id == "" {
		rx.id, rx.aud = id, aud // set once, before anything is pushed
	} else if id != rx.id || aud != rx.aud {
		rx.t.Fatalf("the stream's id or aud changed: %s", r.Body)
	}
}

func (rx *receiver) streamQuery(endpoint string) string {
	return endpoint + "?stream_id=" + url.QueryEscape(rx.id)
}

// status sets the stream's status as the receiver.
func (rx *receiver) status(status string) {
	rx.t.Helper()
	r := rx.manage("POST", rx.tx.StatusEndpoint, map[string]any{"stream_id": rx.id, "status": status})
	if r.Status != 200 || r.JSON()["status"] != status {
		rx.t.Fatalf("set status %s: got %d %s", status, r.Status, r.Body)
	}
}

// subject adds or removes a subject.
func (rx *receiver) subject(add bool, sub map[string]any) {
	rx.t.Helper()
	endpoint, want := rx.tx.RemoveSubjectEndpoint, http.StatusNoContent
	if add {
		endpoint, want = rx.tx.AddSubjectEndpoint, http.StatusOK
	}
	if r := rx.manage("POST", endpoint, map[string]any{"stream_id": rx.id, "subject": sub, "verified": true}); r.Status != want {
		rx.t.Fatalf("POST %s: got %d %s, want %d", endpoint, r.Status, r.Body, want)
	}
}

// verify asks for a verification event carrying state.
func (rx *receiver) verify(state string) {
	rx.t.Helper()
	if r := rx.manage("POST", rx.tx.VerificationEndpoint, map[string]any{"stream_id": rx.id, "state": state}); r.Status != http.StatusNoContent {
		rx.t.Fatalf("verify: got %d %s, want 204", r.Status, r.Body)
	}
}

// --- validation ---

// check validates a SET as RFC 8417 and SSF 1.0 ask of a receiver. It
// records the jti, so that a jti reused for other claims is caught.
func (rx *receiver) check(raw string) (rxSET, error) {
	var s rxSET
	s.Raw = raw
	if strings.Count(raw, ".") != 2 {
		return s, fmt.Errorf("not a compact JWS")
	}
	rx.mu.Lock()
	jwks := rx.jwks
	rx.mu.Unlock()
	var algs []jose.SignatureAlgorithm
	for _, k := range jwks.Keys {
		if k.Algorithm != "" && !slices.Contains(algs, jose.SignatureAlgorithm(k.Algorithm)) {
			algs = append(algs, jose.SignatureAlgorithm(k.Algorithm))
		}
	}
	if len(algs) == 0 {
		return s, fmt.Errorf("the JWKS names no algorithms")
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return s, fmt.Errorf("parse: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return s, fmt.Errorf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "secevent+jwt" {
		return s, fmt.Errorf("typ %q, want secevent+jwt", typ)
	}
	if h.KeyID == "" {
		return s, fmt.Errorf("no kid")
	}
	keys := jwks.Key(h.KeyID)
	if len(keys) == 0 {
		// A kid we do not know: the transmitter may have rotated since we
		// last looked.
		fresh, err := rxFetchJWKS(rx.tx.JWKSURI)
		if err != nil {
			return s, err
		}
		rx.mu.Lock()
		rx.jwks = fresh
		rx.mu.Unlock()
		keys = fresh.Key(h.KeyID)
	}
	if len(keys) != 1 {
		return s, fmt.Errorf("kid %q matches %d keys in the JWKS", h.KeyID, len(keys))
	}
	k := keys[0]
	if !k.IsPublic() || k.Algorithm != h.Algorithm || (k.Use != "" && k.Use != "sig") {
		return s, fmt.Errorf("key %s (alg %s, use %q) may not verify a %s signature", k.KeyID, k.Algorithm, k.Use, h.Algorithm)
	}
	payload, err := jws.Verify(k.Key)
	if err != nil {
		return s, fmt.Errorf("signature: %w", err)
	}
	s.KID, s.Payload = h.KeyID, payload

	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		return s, fmt.Errorf("claims: %w", err)
	}
	if iss, _ := c["iss"].(string); iss != rx.tx.Issuer {
		return s, fmt.Errorf("iss %v, want %s", c["iss"], rx.tx.Issuer)
	}
	if !rxAudience(c["aud"], rx.aud) {
		return s, fmt.Errorf("aud %v, want %s", c["aud"], rx.aud)
	}
	iat, err := rxSeconds(c["iat"])
	if err != nil {
		return s, fmt.Errorf("iat: %w", err)
	}
	if now := rx.clock.Now(); time.Unix(iat, 0).After(now.Add(rxSkew)) {
		return s, fmt.Errorf("iat %d is after the transmitter's now %d", iat, now.Unix())
	}
	s.IAT = iat
	if s.JTI, _ = c["jti"].(string); s.JTI == "" {
		return s, fmt.Errorf("no jti")
	}
	// SSF 1.0 section 4.1.8 and RFC 8417 section 2.2: a SET is not an
	// access token; it has no sub, and no exp to be checked against.
	for _, forbidden := range []string{"sub", "exp"} {
		if _, ok := c[forbidden]; ok {
			return s, fmt.Errorf("claim %s must not be present", forbidden)
		}
	}
	if v, ok := c["txn"]; ok {
		if s.Txn, _ = v.(string); s.Txn == "" {
			return s, fmt.Errorf("txn %v is not a non-empty string", v)
		}
	}
	events, _ := c["events"].(map[string]any)
	if len(events) != 1 {
		return s, fmt.Errorf("events must have exactly one member, has %d", len(events))
	}
	for typ, body := range events {
		s.Type = typ
		if s.Event, _ = body.(map[string]any); s.Event == nil {
			return s, fmt.Errorf("event %s is not an object", typ)
		}
	}
	if s.SubID, _ = c["sub_id"].(map[string]any); s.SubID == nil {
		return s, fmt.Errorf("no sub_id")
	}
	if err := rxCheckSubject(s.SubID, true); err != nil {
		return s, fmt.Errorf("sub_id %v: %w", s.SubID, err)
	}
	if err := rx.checkEvent(s); err != nil {
		return s, fmt.Errorf("%s: %w", s.Type, err)
	}

	rx.mu.Lock()
	defer rx.mu.Unlock()
	if prev, ok := rx.seen[s.JTI]; ok {
		if !bytes.Equal(prev, payload) {
			return s, fmt.Errorf("jti %s reused for other claims", s.JTI)
		}
		s.RedeliveredCopy = true
	}
	rx.seen[s.JTI] = payload
	return s, nil
}

func rxAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if v == want {
				return true
			}
		}
	}
	return false
}

// rxSeconds reads a NumericDate (RFC 7519 section 2) that must be positive.
func rxSeconds(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil || i <= 0 {
		return 0, fmt.Errorf("%v is not a positive whole number of seconds", v)
	}
	return i, nil
}

// The RFC 9493 formats and their members.
var rxFormats = map[string][]string{
	"account": {"uri"}, "email": {"email"}, "iss_sub": {"iss", "sub"}, "opaque": {"id"},
	"phone_number": {"phone_number"}, "did": {"url"}, "uri": {"uri"}, "aliases": {"identifiers"},
}

// The members of an SSF complex subject (SSF 1.0 section 3.2).
var rxComplexMembers = []string{"user", "device", "session", "application", "tenant", "org_unit", "group"}

// rxCheckSubject validates an RFC 9493 subject identifier, or at the top
// an SSF complex subject whose members are identifiers.
func rxCheckSubject(sub map[string]any, top bool) error {
	format, _ := sub["format"].(string)
	if format == "complex" {
		if !top {
			return fmt.Errorf("a complex subject cannot be nested")
		}
		if len(sub) < 2 {
			return fmt.Errorf("a complex subject has no members")
		}
		for k, v := range sub {
			if k == "format" {
				continue
			}
			if !slices.Contains(rxComplexMembers, k) {
				return fmt.Errorf("unknown complex member %q", k)
			}
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("complex member %q is not an object", k)
			}
			if err := rxCheckSubject(m, false); err != nil {
				return fmt.Errorf("complex member %q: %w", k, err)
			}
		}
		return nil
	}
	members, ok := rxFormats[format]
	if !ok {
		return fmt.Errorf("unknown format %q", format)
	}
	if len(sub) != len(members)+1 {
		return fmt.Errorf("format %s has members format and %v, got %d members", format, members, len(sub))
	}
	if format == "aliases" {
		ids, _ := sub["identifiers"].([]any)
		if len(ids) == 0 {
			return fmt.Errorf("aliases without identifiers")
		}
		for _, v := range ids {
			m, ok := v.(map[string]any)
			if !ok || m["format"] == "aliases" {
				return fmt.Errorf("alias %v is not a simple identifier", v)
			}
			if err := rxCheckSubject(m, false); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range members {
		if v, _ := sub[m].(string); v == "" {
			return fmt.Errorf("format %s needs a non-empty string %s", format, m)
		}
	}
	switch v := sub[members[0]].(string); format {
	case "account":
		if !strings.HasPrefix(v, "acct:") {
			return fmt.Errorf("account uri %q is not an acct: URI", v)
		}
	case "email":
		if !strings.Contains(v, "@") {
			return fmt.Errorf("email %q has no @", v)
		}
	case "iss_sub", "uri":
		if u, err := url.Parse(v); err != nil || !u.IsAbs() {
			return fmt.Errorf("%q is not an absolute URI", v)
		}
	case "phone_number":
		if !strings.HasPrefix(v, "+") {
			return fmt.Errorf("phone number %q is not E.164", v)
		}
	case "did":
		if !strings.HasPrefix(v, "did:") {
			return fmt.Errorf("did url %q is not a DID", v)
		}
	}
	return nil
}

// checkEvent checks what CAEP, RISC and SSF require of each event.
func (rx *receiver) checkEvent(s rxSET) error {
	ev := s.Event
	switch s.Type {
	case evVerification, evStreamUpdated:
		// Stream events are about the stream itself (SSF 1.0 section 8.1.4.1).
		if s.SubID["format"] != "opaque" || s.SubID["id"] != rx.id {
			return fmt.Errorf("sub_id %v is not the stream %s", s.SubID, rx.id)
		}
		if s.Type == evStreamUpdated {
			if st, _ := ev["status"].(string); !slices.Contains([]string{"enabled", "paused", "disabled"}, st) {
				return fmt.Errorf("status %v", ev["status"])
			}
		}
		if v, ok := ev["state"]; ok {
			if _, ok := v.(string); !ok {
				return fmt.Errorf("state %v is not a string", v)
			}
		}
		return nil
	case evSessionRevoked, evCredentialChange, evAccountDisabled, evAccountEnabled:
	default:
		return fmt.Errorf("an event type this receiver does not know")
	}
	// The receiver gets only what its stream delivers (SSF 1.0 section 8.1.1).
	rx.mu.Lock()
	delivered, _ := rx.cfg["events_delivered"].([]any)
	rx.mu.Unlock()
	if !slices.Contains(delivered, any(s.Type)) {
		return fmt.Errorf("not in the stream's events_delivered %v", delivered)
	}
	if v, ok := ev["event_timestamp"]; ok {
		ts, err := rxSeconds(v)
		if err != nil {
			return fmt.Errorf("event_timestamp: %w", err)
		}
		if time.Unix(ts, 0).After(rx.clock.Now().Add(rxSkew)) {
			return fmt.Errorf("event_timestamp %d is in the future", ts)
		}
	}
	if v, ok := ev["initiating_entity"]; ok && !slices.Contains([]any{"admin", "user", "policy", "system"}, v) {
		return fmt.Errorf("initiating_entity %v", v)
	}
	switch s.Type {
	case evCredentialChange:
		// CAEP 1.0 section 3.2.
		types := []any{"password", "pin", "x509", "fido2-platform", "fido2-roaming", "fido-u2f", "verifiable-credential", "phone-voice", "phone-sms", "app"}
		if !slices.Contains(types, ev["credential_type"]) {
			return fmt.Errorf("credential_type %v", ev["credential_type"])
		}
		if !slices.Contains([]any{"create", "revoke", "update", "delete"}, ev["change_type"]) {
			return fmt.Errorf("change_type %v", ev["change_type"])
		}
	case evAccountDisabled:
		if v, ok := ev["reason"]; ok && v != "hijacking" && v != "bulk-account" {
			return fmt.Errorf("reason %v", v)
		}
	}
	return nil
}

// --- push (RFC 8935) ---

// serve is the receiver's push endpoint. It never calls t: the
// transmitter may push after a test has ended.
func (rx *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	refuse := func(code, msg string) {
		rx.mu.Lock()
		rx.problems = append(rx.problems, code+": "+msg)
		rx.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"err": code, "description": msg})
	}
	switch {
	case r.Method != http.MethodPost:
		refuse("invalid_request", "method "+r.Method)
		return
	case r.Header.Get("Content-Type") != "application/secevent+jwt":
		refuse("invalid_request", "Content-Type "+r.Header.Get("Content-Type"))
		return
	case !strings.Contains(r.Header.Get("Accept"), "application/json"):
		refuse("invalid_request", "Accept "+r.Header.Get("Accept"))
		return
	case r.Header.Get("Authorization") != rx.authz:
		refuse("authentication_failed", "wrong Authorization header")
		return
	case r.URL.Path != "/ssf/events" || r.URL.Query().Get("tenant") != "t1":
		refuse("invalid_request", "pushed to "+r.URL.String())
		return
	}
	s, err := rx.check(string(body))
	if err != nil {
		refuse("invalid_request", err.Error())
		return
	}
	rx.mu.Lock()
	ans := rxAnswer{status: http.StatusAccepted}
	if len(rx.answers) > 0 {
		ans, rx.answers = rx.answers[0], rx.answers[1:]
	}
	status := ans.status
	rx.attempts = append(rx.attempts, rxAttempt{JTI: s.JTI, Status: status})
	if status/100 == 2 && !rx.accepted[s.JTI] {
		rx.accepted[s.JTI] = true
		rx.sets = append(rx.sets, s)
	}
	rx.mu.Unlock()
	switch status {
	case http.StatusAccepted:
		w.WriteHeader(status)
	case http.StatusBadRequest:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"err": ans.err, "description": "this receiver does not want it"})
	default:
		http.Error(w, "receiver trouble", status)
	}
}

// answer makes the next pushes get these statuses; a 400 says the SET
// itself is at fault (invalid_request).
func (rx *receiver) answer(statuses ...int) {
	for _, st := range statuses {
		rx.answerErr(st, "invalid_request")
	}
}

func (rx *receiver) answerErr(status int, err string) {
	rx.mu.Lock()
	rx.answers = append(rx.answers, rxAnswer{status, err})
	rx.mu.Unlock()
}

func (rx *receiver) pushAttempts() []rxAttempt {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return slices.Clone(rx.attempts)
}

// down closes the push endpoint's listener: pushes meet a refused
// connection. up listens on the same address again.
func (rx *receiver) down() { rx.srv.Close() }

func (rx *receiver) up() {
	rx.t.Helper()
	ln, err := net.Listen("tcp", rx.addr)
	if err != nil {
		rx.t.Fatalf("listen again on %s: %v", rx.addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(rx.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	rx.srv = srv
}

// round runs one transmitter round: conversion, then the pushes due.
func (rx *receiver) round() {
	rx.t.Helper()
	if err := rx.env.Server.SSF.Round(context.Background()); err != nil {
		rx.t.Fatalf("delivery round: %v", err)
	}
}

func (rx *receiver) failOnProblems() {
	rx.t.Helper()
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if len(rx.problems) > 0 {
		rx.t.Fatalf("the receiver refused what it was sent:\n%s", strings.Join(rx.problems, "\n"))
	}
}

// --- poll (RFC 8936) ---

// rxPollResult is an RFC 8936 poll response, as the receiver reads it.
type rxPollResult struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// pollEndpoint is where the stream's configuration says to poll.
func (rx *receiver) pollEndpoint() string {
	d, _ := rx.cfg["delivery"].(map[string]any)
	u, _ := d["endpoint_url"].(string)
	return u
}

// pollRaw sends one poll request and checks the response's shape.
func (rx *receiver) pollRaw(req map[string]any) rxPollResult {
	rx.t.Helper()
	r := rx.manage("POST", rx.pollEndpoint(), req)
	if r.Status != 200 {
		rx.t.Fatalf("poll %v: got %d %s", req, r.Status, r.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		rx.t.Fatalf("poll: %v", err)
	}
	if _, ok := raw["sets"]; !ok {
		rx.t.Fatalf("poll response without sets: %s", r.Body)
	}
	var res rxPollResult
	if err := json.Unmarshal(r.Body, &res); err != nil {
		rx.t.Fatalf("poll: %v: %s", err, r.Body)
	}
	return res
}

// poll polls once and validates every SET returned; each must be keyed by
// its jti.
func (rx *receiver) poll(req map[string]any) ([]rxSET, bool) {
	rx.t.Helper()
	res := rx.pollRaw(req)
	var out []rxSET
	for jti, raw := range res.Sets {
		s, err := rx.check(raw)
		if err != nil {
			rx.t.Fatalf("poll returned an invalid SET: %v\n%s", err, raw)
		}
		if s.JTI != jti {
			rx.t.Fatalf("poll: SET %s keyed by %s", s.JTI, jti)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JTI < out[j].JTI })
	return out, res.MoreAvailable
}

func rxJTIs(sets []rxSET) []string {
	out := make([]string, len(sets))
	for i, s := range sets {
		out[i] = s.JTI
	}
	return out
}

// --- receiving, either way ---

// receive waits for exactly n new SETs and returns them: for push, running
// rounds until they have been pushed; for poll, polling and acknowledging.
func (rx *receiver) receive(n int) []rxSET {
	rx.t.Helper()
	deadline := time.Now().Add(rxWait)
	if rx.method == rxPoll {
		var got, pending []string
		var out []rxSET
		for len(out) < n {
			if time.Now().After(deadline) {
				rx.t.Fatalf("polled %d SETs in %s, want %d: %v", len(out), rxWait, n, rxSummary(out))
			}
			sets, _ := rx.poll(map[string]any{"returnImmediately": true, "ack": pending})
			pending = nil
			for _, s := range sets {
				pending = append(pending, s.JTI)
				if !slices.Contains(got, s.JTI) {
					got = append(got, s.JTI)
					out = append(out, s)
				}
			}
		}
		// Acknowledge the last batch; then nothing more may be queued.
		if more, _ := rx.poll(map[string]any{"returnImmediately": true, "ack": pending}); len(more) > 0 {
			rx.t.Fatalf("got %d SETs, want %d: %v and then %v", len(out)+len(more), n, rxSummary(out), rxSummary(more))
		}
		return out
	}
	for {
		rx.round()
		rx.failOnProblems()
		rx.mu.Lock()
		have := len(rx.sets) - rx.taken
		rx.mu.Unlock()
		if have >= n {
			break
		}
		if time.Now().After(deadline) {
			rx.t.Fatalf("pushed %d SETs in %s, want %d; attempts %v", have, rxWait, n, rx.pushAttempts())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rx.round() // anything beyond n would be pushed now
	rx.failOnProblems()
	rx.mu.Lock()
	defer rx.mu.Unlock()
	out := slices.Clone(rx.sets[rx.taken:])
	rx.taken = len(rx.sets)
	if len(out) != n {
		rx.t.Fatalf("got %d SETs, want %d: %v", len(out), n, rxSummary(out))
	}
	return out
}

// none checks that nothing is delivered now.
func (rx *receiver) none() {
	rx.t.Helper()
	if rx.method == rxPoll {
		if sets, _ := rx.poll(map[string]any{"returnImmediately": true}); len(sets) > 0 {
			rx.t.Fatalf("polled %v, want nothing", rxSummary(sets))
		}
		return
	}
	before := len(rx.pushAttempts())
	rx.round()
	rx.round()
	rx.failOnProblems()
	if after := rx.pushAttempts(); len(after) != before {
		rx.t.Fatalf("pushed %v, want nothing", after[before:])
	}
}

// --- expectations ---

// rxWant is an event the receiver should get: its type and subject.
type rxWant struct {
	typ string
	sub map[string]any
}

func rxKey(typ string, sub map[string]any) string {
	b, _ := json.Marshal(sub) // maps marshal with sorted keys
	return typ + " " + string(b)
}

func rxSummary(sets []rxSET) []string {
	out := make([]string, len(sets))
	for i, s := range sets {
		out[i] = rxKey(s.Type, s.SubID)
	}
	return out
}

// rxExpect checks that got holds exactly the wanted events, in any order.
func rxExpect(t *testing.T, got []rxSET, want ...rxWant) {
	t.Helper()
	var g, w []string
	for _, s := range got {
		g = append(g, rxKey(s.Type, s.SubID))
	}
	for _, x := range want {
		w = append(w, rxKey(x.typ, x.sub))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("got events\n\t%s\nwant\n\t%s", strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
	}
}

func (e *rxEnv) issSub(id string) map[string]any {
	return map[string]any{"format": "iss_sub", "iss": e.URL, "sub": id}
}

// rxClaim reads one claim of a JWT without verifying it: the test's own
// access tokens, to learn their jti.
func rxClaim(t *testing.T, tok, claim string) any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[claim]
}

var rxMethods = []struct{ name, method string }{{"push", rxPush}, {"poll", rxPoll}}

// --- tests ---

// TestReceiverDiscovery: the metadata and a new stream's configuration are
// what SSF 1.0 sections 7.1 and 8.1.1 describe.
func TestReceiverDiscovery(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, map[string]any{"description": "siem"})
	tx := rx.tx
	if tx.SpecVersion != "1_0" || tx.DefaultSubjects != "ALL" {
		t.Errorf("spec_version %q, default_subjects %q", tx.SpecVersion, tx.DefaultSubjects)
	}
	if !slices.Contains(tx.DeliveryMethodsSupported, rxPush) || !slices.Contains(tx.DeliveryMethodsSupported, rxPoll) {
		t.Errorf("delivery_methods_supported %v", tx.DeliveryMethodsSupported)
	}
	if len(tx.AuthorizationSchemes) != 1 || tx.AuthorizationSchemes[0].SpecURN != "urn:ietf:rfc:6749" {
		t.Errorf("authorization_schemes %+v", tx.AuthorizationSchemes)
	}
	for name, ep := range map[string]string{"jwks_uri": tx.JWKSURI, "configuration_endpoint": tx.ConfigurationEndpoint,
		"status_endpoint": tx.StatusEndpoint, "add_subject_endpoint": tx.AddSubjectEndpoint,
		"remove_subject_endpoint": tx.RemoveSubjectEndpoint, "verification_endpoint": tx.VerificationEndpoint} {
		if !strings.HasPrefix(ep, e.URL+"/") {
			t.Errorf("%s %q is not under the issuer", name, ep)
		}
	}
	for _, k := range rx.jwks.Keys {
		if !k.IsPublic() || k.KeyID == "" || k.Algorithm == "" {
			t.Errorf("JWKS key %q (alg %q) is not a public key with kid and alg", k.KeyID, k.Algorithm)
		}
	}

	cfg := rx.cfg
	if cfg["aud"] != e.clientID {
		t.Errorf("aud %v, want the client %s", cfg["aud"], e.clientID)
	}
	all := []any{evSessionRevoked, evCredentialChange, evAccountDisabled, evAccountEnabled}
	for _, f := range []string{"events_supported", "events_delivered"} {
		got, _ := cfg[f].([]any)
		for _, ev := range all {
			if !slices.Contains(got, ev) {
				t.Errorf("%s %v lacks %s", f, got, ev)
			}
		}
	}
	d, _ := cfg["delivery"].(map[string]any)
	if d["method"] != rxPush || d["endpoint_url"] != rx.srv.URL+"/ssf/events?tenant=t1" {
		t.Errorf("delivery %v", d)
	}
	if _, ok := d["authorization_header"]; ok {
		t.Errorf("the configuration returns the push authorization header: %v", d)
	}
	if v, _ := cfg["min_verification_interval"].(float64); v < 1 || cfg["description"] != "siem" {
		t.Errorf("min_verification_interval %v, description %v", cfg["min_verification_interval"], cfg["description"])
	}

	// A poll stream's endpoint is the transmitter's; reading it back gives
	// the same configuration.
	prx := newReceiver(t, e, rxPoll, nil)
	if got := prx.pollEndpoint(); !strings.HasPrefix(got, e.URL+"/") || !strings.HasSuffix(got, "/"+prx.id) {
		t.Errorf("poll endpoint_url %q", got)
	}
	r := prx.manage("GET", prx.streamQuery(tx.ConfigurationEndpoint), nil)
	if r.Status != 200 || r.JSON()["stream_id"] != prx.id {
		t.Fatalf("GET stream: %d %s", r.Status, r.Body)
	}
	r = prx.manage("GET", tx.ConfigurationEndpoint, nil)
	var list []map[string]any
	if err := json.Unmarshal(r.Body, &list); r.Status != 200 || err != nil || len(list) != 2 {
		t.Fatalf("GET streams: %d %s, want both streams", r.Status, r.Body)
	}
}

// TestReceiverEvents: each kind of revocation reaches push and poll
// receivers as the SETs the mapping promises, and each SET validates.
func TestReceiverEvents(t *testing.T) {
	cases := []struct {
		name string
		// act does the thing; it returns the events expected and whether
		// an initiating_entity "admin" is expected.
		act func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool)
		// oneTxn: every SET comes from one revocation.
		oneTxn bool
	}{
		{"jti revocation", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			id, secret := e.victim("victim")
			tok := e.IssueToken(id, secret, nil)
			jti, _ := rxClaim(t, tok, "jti").(string)
			if _, err := e.Admin.RevokeToken(t.Context(), jti, "stolen"); err != nil {
				t.Fatal(err)
			}
			sub := map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": jti}, "user": e.issSub(id)}
			return []rxWant{{evSessionRevoked, sub}}, false
		}, true},
		{"client revocation", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			id, _ := e.victim("victim")
			if _, err := e.Admin.RevokeClient(t.Context(), id, "compromised"); err != nil {
				t.Fatal(err)
			}
			return []rxWant{{evSessionRevoked, e.issSub(id)}, {evCredentialChange, e.issSub(id)}}, true
		}, true},
		{"suspension", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			p := e.Human("sam")
			if _, err := e.Admin.Suspend(t.Context(), p, "on leave"); err != nil {
				t.Fatal(err)
			}
			return []rxWant{{evSessionRevoked, e.issSub(p)}, {evAccountDisabled, e.issSub(p)}}, true
		}, true},
		{"reactivation", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			p := e.Human("rae")
			if _, err := e.Admin.Suspend(t.Context(), p, "on leave"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Admin.Reactivate(t.Context(), p, "back"); err != nil {
				t.Fatal(err)
			}
			return []rxWant{{evSessionRevoked, e.issSub(p)}, {evAccountDisabled, e.issSub(p)}, {evAccountEnabled, e.issSub(p)}}, true
		}, false},
		{"offboarding", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			p := e.Human("olga")
			c, _ := e.NewClient(api.ClientRequest{Name: "olga-app", Owner: p})
			if _, err := e.Admin.Offboard(t.Context(), p, api.OffboardRequest{Reason: "left"}); err != nil {
				t.Fatal(err)
			}
			return []rxWant{
				{evSessionRevoked, e.issSub(p)}, {evAccountDisabled, e.issSub(p)},
				{evSessionRevoked, e.issSub(c.ID)}, {evCredentialChange, e.issSub(c.ID)},
			}, true
		}, false},
		{"secret rotation", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			id, _ := e.victim("victim")
			if _, err := e.Admin.RotateSecret(t.Context(), id, "scheduled"); err != nil {
				t.Fatal(err)
			}
			return []rxWant{{evCredentialChange, e.issSub(id)}, {evSessionRevoked, e.issSub(id)}}, true
		}, true},
		{"verification", func(t *testing.T, e *rxEnv, rx *receiver) ([]rxWant, bool) {
			rx.verify("state-" + rx.id)
			return []rxWant{{evVerification, map[string]any{"format": "opaque", "id": rx.id}}}, false
		}, true},
	}
	for _, m := range rxMethods {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				e := newRxEnv(t)
				rx := newReceiver(t, e, m.method, nil)
				want, admin := tc.act(t, e, rx)
				got := rx.receive(len(want))
				rxExpect(t, got, want...)
				txns := map[string]bool{}
				for _, s := range got {
					txns[s.Txn] = true
					switch s.Type {
					case evVerification:
						if s.Event["state"] != "state-"+rx.id {
							t.Errorf("verification state %v, want the one sent", s.Event["state"])
						}
						continue
					case evCredentialChange:
						change := map[string]string{"client revocation": "revoke", "offboarding": "revoke", "secret rotation": "update"}[tc.name]
						if s.Event["credential_type"] != "password" || s.Event["change_type"] != change {
							t.Errorf("credential-change %v, want password %s", s.Event, change)
						}
					}
					if _, ok := s.Event["event_timestamp"]; !ok {
						t.Errorf("%s without event_timestamp: %v", s.Type, s.Event)
					}
					if got := s.Event["initiating_entity"] == "admin"; got != admin {
						t.Errorf("%s: initiating_entity %v, want admin: %v", s.Type, s.Event["initiating_entity"], admin)
					}
				}
				if tc.oneTxn && len(got) > 1 && (len(txns) != 1 || txns[""]) {
					t.Errorf("the SETs of one revocation carry txns %v, want one shared", txns)
				}
				rx.none()
			})
		}
	}
}

// TestReceiverEventsRequested: a stream is sent only the event types it
// requested, as events_delivered says; an empty request means all.
func TestReceiverEventsRequested(t *testing.T) {
	for _, m := range rxMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newRxEnv(t)
			rx := newReceiver(t, e, m.method, map[string]any{
				"events_requested": []string{evCredentialChange, "https://example.com/event-type/unknown"}})
			if got := rx.cfg["events_delivered"]; !slices.Equal(got.([]any), []any{evCredentialChange}) {
				t.Fatalf("events_delivered %v, want only credential-change", got)
			}
			id, _ := e.victim("victim")
			if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
				t.Fatal(err)
			}
			rxExpect(t, rx.receive(1), rxWant{evCredentialChange, e.issSub(id)})
			p := e.Human("sam")
			if _, err := e.Admin.Suspend(t.Context(), p, "x"); err != nil {
				t.Fatal(err)
			}
			rx.none()

			// Back to everything.
			r := rx.manage("PATCH", rx.tx.ConfigurationEndpoint, map[string]any{"stream_id": rx.id, "events_requested": []string{}})
			if r.Status != 200 {
				t.Fatalf("PATCH: %d %s", r.Status, r.Body)
			}
			rx.setConfig(r)
			if got, _ := rx.cfg["events_delivered"].([]any); len(got) != 4 {
				t.Fatalf("events_delivered %v after requesting nothing, want all four supported", got)
			}
			q := e.Human("quinn")
			if _, err := e.Admin.Suspend(t.Context(), q, "x"); err != nil {
				t.Fatal(err)
			}
			rxExpect(t, rx.receive(2), rxWant{evSessionRevoked, e.issSub(q)}, rxWant{evAccountDisabled, e.issSub(q)})
		})
	}
}

// TestReceiverSubjects: a removed subject's events are not sent, even as a
// member of a complex subject; adding it back restores them.
func TestReceiverSubjects(t *testing.T) {
	for _, m := range rxMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newRxEnv(t)
			rx := newReceiver(t, e, m.method, nil)
			id, secret := e.victim("victim")
			tok1, tok2 := e.IssueToken(id, secret, nil), e.IssueToken(id, secret, nil)
			other, _ := e.victim("other")

			// Another spelling of the same subject: member order is not identity.
			rx.subject(false, map[string]any{"sub": id, "iss": e.URL, "format": "iss_sub"})
			if _, err := e.Admin.RevokeToken(t.Context(), rxClaim(t, tok1, "jti").(string), "x"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Admin.RevokeClient(t.Context(), other, "x"); err != nil {
				t.Fatal(err)
			}
			rxExpect(t, rx.receive(2), rxWant{evSessionRevoked, e.issSub(other)}, rxWant{evCredentialChange, e.issSub(other)})

			rx.subject(true, e.issSub(id))
			jti2 := rxClaim(t, tok2, "jti").(string)
			if _, err := e.Admin.RevokeToken(t.Context(), jti2, "x"); err != nil {
				t.Fatal(err)
			}
			rxExpect(t, rx.receive(1), rxWant{evSessionRevoked, map[string]any{"format": "complex",
				"session": map[string]any{"format": "opaque", "id": jti2}, "user": e.issSub(id)}})
		})
	}
}

// TestReceiverPausedThenEnabled: a paused stream holds its events and
// delivers them, and only them, once enabled.
func TestReceiverPausedThenEnabled(t *testing.T) {
	for _, m := range rxMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newRxEnv(t)
			rx := newReceiver(t, e, m.method, nil)
			rx.status("paused")
			if r := rx.manage("GET", rx.streamQuery(rx.tx.StatusEndpoint), nil); r.Status != 200 || r.JSON()["status"] != "paused" || r.JSON()["stream_id"] != rx.id {
				t.Fatalf("GET status: %d %s", r.Status, r.Body)
			}
			id, _ := e.victim("victim")
			if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
				t.Fatal(err)
			}
			rx.none()
			rx.status("enabled")
			// The receiver changed the status itself: no stream-updated.
			rxExpect(t, rx.receive(2), rxWant{evSessionRevoked, e.issSub(id)}, rxWant{evCredentialChange, e.issSub(id)})
		})
	}
}

// TestReceiverDisabledDrops: disabling drops what was queued, and nothing
// is queued while disabled; once enabled again the stream works.
func TestReceiverDisabledDrops(t *testing.T) {
	for _, m := range rxMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newRxEnv(t)
			rx := newReceiver(t, e, m.method, nil)
			rx.status("paused")
			a, _ := e.victim("queued-then-dropped")
			if _, err := e.Admin.RevokeClient(t.Context(), a, "x"); err != nil {
				t.Fatal(err)
			}
			rx.none() // converts it into the paused queue
			rx.status("disabled")
			b, _ := e.victim("while-disabled")
			if _, err := e.Admin.RevokeClient(t.Context(), b, "x"); err != nil {
				t.Fatal(err)
			}
			rx.none()
			rx.status("enabled")
			rx.none()
			c, _ := e.victim("after")
			if _, err := e.Admin.RevokeClient(t.Context(), c, "x"); err != nil {
				t.Fatal(err)
			}
			rxExpect(t, rx.receive(2), rxWant{evSessionRevoked, e.issSub(c)}, rxWant{evCredentialChange, e.issSub(c)})
		})
	}
}

// TestReceiverAdminStatusChange: a status change the receiver did not make
// reaches it as stream-updated events, in order.
func TestReceiverAdminStatusChange(t *testing.T) {
	for _, m := range rxMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newRxEnv(t)
			rx := newReceiver(t, e, m.method, nil)
			admin := func(status, reason string) {
				r := rxCall(t, e.Env, "POST", rx.tx.StatusEndpoint, e.Token, map[string]any{"stream_id": rx.id, "status": status, "reason": reason})
				if r.Status != 200 {
					t.Fatalf("admin status %s: %d %s", status, r.Status, r.Body)
				}
			}
			admin("paused", "maintenance")
			rx.none()
			admin("enabled", "")
			got := rx.receive(2)
			stream := map[string]any{"format": "opaque", "id": rx.id}
			rxExpect(t, got, rxWant{evStreamUpdated, stream}, rxWant{evStreamUpdated, stream})
			statuses := []any{got[0].Event["status"], got[1].Event["status"]}
			if m.method == rxPoll {
				slices.SortFunc(statuses, func(a, b any) int { return strings.Compare(b.(string), a.(string)) })
			}
			if !slices.Equal(statuses, []any{"paused", "enabled"}) {
				t.Errorf("stream-updated statuses %v, want paused then enabled", statuses)
			}
			for _, s := range got {
				if s.Event["status"] == "paused" && s.Event["reason"] != "maintenance" {
					t.Errorf("stream-updated paused: reason %v, want the admin's", s.Event["reason"])
				}
			}
		})
	}
}

// TestReceiverPushRetryAfter500: a SET the receiver could not take is
// retried with backoff by the transmitter's clock, and the SETs after it
// wait for it, so the receiver gets them in order.
func TestReceiverPushRetryAfter500(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, nil)
	rx.answer(500, 503)
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	rx.round()
	first := rx.pushAttempts()
	if len(first) != 1 || first[0].Status != 500 {
		t.Fatalf("attempts %v, want one answered 500", first)
	}
	head := first[0].JTI

	// Not due yet: nothing is pushed, and the SET behind the head waits.
	rx.round()
	if a := rx.pushAttempts(); len(a) != 1 {
		t.Fatalf("before the retry was due: attempts %v, want none after the first (a later SET overtook the failed one?)", a)
	}
	e.Clock.Advance(time.Second) // the first retry is due after 1 s
	rx.round()
	if a := rx.pushAttempts(); len(a) != 2 || a[1].JTI != head || a[1].Status != 503 {
		t.Fatalf("after 1 s: attempts %v, want the head retried (and refused again)", a)
	}
	e.Clock.Advance(time.Second) // the second wait is 2 s
	rx.round()
	if a := rx.pushAttempts(); len(a) != 2 {
		t.Fatalf("1 s into a 2 s backoff: attempts %v, want no new one", a)
	}
	e.Clock.Advance(time.Second)
	got := rx.receive(2)
	if got[0].JTI != head {
		t.Errorf("delivered %v, want the retried SET %s first", rxJTIs(got), head)
	}
	rxExpect(t, got, rxWant{evSessionRevoked, e.issSub(id)}, rxWant{evCredentialChange, e.issSub(id)})
	if got[0].Type != evSessionRevoked {
		t.Errorf("first delivered %s, want session-revoked as queued", got[0].Type)
	}
}

// TestReceiverPushRetryAfterDown: while the receiver's listener is closed
// the SETs stay queued; once it is back they arrive, in order.
func TestReceiverPushRetryAfterDown(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, nil)
	rx.down()
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	p := e.Human("sam")
	if _, err := e.Admin.Suspend(t.Context(), p, "x"); err != nil {
		t.Fatal(err)
	}
	rx.round()
	e.Clock.Advance(time.Second)
	rx.round() // the retry fails too
	rx.up()
	rx.round()
	if a := rx.pushAttempts(); len(a) != 0 {
		t.Fatalf("attempts %v before the retry was due, want none", a)
	}
	e.Clock.Advance(2 * time.Second)
	got := rx.receive(4)
	want := []string{
		rxKey(evSessionRevoked, e.issSub(id)), rxKey(evCredentialChange, e.issSub(id)),
		rxKey(evSessionRevoked, e.issSub(p)), rxKey(evAccountDisabled, e.issSub(p)),
	}
	if !slices.Equal(rxSummary(got), want) {
		t.Errorf("delivered\n\t%s\nwant, in this order,\n\t%s", strings.Join(rxSummary(got), "\n\t"), strings.Join(want, "\n\t"))
	}
	if got[0].Txn == got[2].Txn || got[0].Txn != got[1].Txn || got[2].Txn != got[3].Txn {
		t.Errorf("txns %s %s %s %s, want one per revocation", got[0].Txn, got[1].Txn, got[2].Txn, got[3].Txn)
	}
}

// TestReceiverPush400Drops: a SET the receiver refuses with 400 is dropped
// for good; the next one is delivered and the refused one never comes back.
func TestReceiverPush400Drops(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, nil)
	rx.answer(http.StatusBadRequest)
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	got := rx.receive(1)
	rxExpect(t, got, rxWant{evCredentialChange, e.issSub(id)})
	refused := rx.pushAttempts()[0]
	if refused.Status != 400 {
		t.Fatalf("first attempt %v, want the refused one", refused)
	}
	e.Clock.Advance(time.Hour)
	rx.none()
	for _, a := range rx.pushAttempts()[1:] {
		if a.JTI == refused.JTI {
			t.Errorf("the SET refused with 400 was pushed again")
		}
	}
}

// TestReceiverPush400NotTheSET: a 400 whose error does not fault the SET
// itself (RFC 8935 section 2.4: the receiver could not authenticate the
// transmitter) is retried, not dropped.
func TestReceiverPush400NotTheSET(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, nil)
	rx.answerErr(http.StatusBadRequest, "authentication_failed")
	rx.verify("v")
	rx.round()
	e.Clock.Advance(time.Second)
	got := rx.receive(1)
	a := rx.pushAttempts()
	if len(a) != 2 || a[0].JTI != got[0].JTI || a[0].Status != 400 {
		t.Fatalf("attempts %v, want the refused SET pushed again and taken", a)
	}
}

// TestReceiverPushThenPoll: a receiver that switches its stream from push
// to poll gets every unacknowledged SET at once, the one whose push had
// failed included.
func TestReceiverPushThenPoll(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, nil)
	rx.answer(500)
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	rx.round() // the first push fails and waits for its retry
	r := rx.manage("PATCH", rx.tx.ConfigurationEndpoint, map[string]any{"stream_id": rx.id, "delivery": map[string]any{"method": rxPoll}})
	if r.Status != 200 {
		t.Fatalf("PATCH to poll: %d %s", r.Status, r.Body)
	}
	rx.setConfig(r)
	rx.method = rxPoll
	got, _ := rx.poll(map[string]any{"returnImmediately": true})
	rxExpect(t, got, rxWant{evSessionRevoked, e.issSub(id)}, rxWant{evCredentialChange, e.issSub(id)})
}

// TestReceiverPollAck: RFC 8936 acknowledgement. Unacknowledged SETs come
// again, acknowledged ones and those reported in setErrs do not;
// maxEvents bounds a response and moreAvailable says more wait.
func TestReceiverPollAck(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPoll, nil)
	for i := range 3 {
		id, _ := e.victim(fmt.Sprintf("victim%d", i))
		if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
			t.Fatal(err)
		}
	}
	// Six queued.
	first, more := rx.poll(map[string]any{"returnImmediately": true, "maxEvents": 4})
	if len(first) != 4 || !more {
		t.Fatalf("maxEvents 4: got %d SETs, moreAvailable %v; want 4 and true", len(first), more)
	}
	again, _ := rx.poll(map[string]any{"returnImmediately": true, "maxEvents": 4})
	if !slices.Equal(rxJTIs(again), rxJTIs(first)) {
		t.Fatalf("unacknowledged SETs %v not returned again: got %v", rxJTIs(first), rxJTIs(again))
	}
	for _, s := range again {
		if !s.RedeliveredCopy {
			t.Errorf("redelivered %s with other claims", s.JTI)
		}
	}
	// Ack two, report an error on one, leave one; only maxEvents 0: no SETs back.
	ack := []string{first[0].JTI, first[1].JTI}
	errs := map[string]any{first[2].JTI: map[string]string{"err": "invalid_key", "description": "cannot use it"}}
	if none, more := rx.poll(map[string]any{"returnImmediately": true, "maxEvents": 0, "ack": ack, "setErrs": errs}); len(none) != 0 || more {
		t.Fatalf("maxEvents 0: got %d SETs, moreAvailable %v; want none", len(none), more)
	}
	rest, more := rx.poll(map[string]any{"returnImmediately": true})
	if len(rest) != 3 || more {
		t.Fatalf("after acks: got %d SETs, moreAvailable %v; want the unacknowledged one and the two beyond the first poll", len(rest), more)
	}
	for _, s := range rest {
		if slices.Contains(ack, s.JTI) || s.JTI == first[2].JTI {
			t.Errorf("acknowledged or reported SET %s came again", s.JTI)
		}
	}
	if !slices.Contains(rxJTIs(rest), first[3].JTI) {
		t.Errorf("the unacknowledged SET %s did not come again", first[3].JTI)
	}
	// Acknowledging an unknown jti, or one twice, is harmless.
	rx.poll(map[string]any{"returnImmediately": true, "maxEvents": 0, "ack": append(rxJTIs(rest), "no-such-jti", ack[0])})
	rx.none()
}

// TestReceiverPollWaits: a poll that may wait returns when an event comes.
func TestReceiverPollWaits(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPoll, nil)
	tok := rx.bearer()
	type result struct {
		status int
		body   []byte
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", rx.pollEndpoint(), strings.NewReader(`{"returnImmediately":false}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{0, []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, b}
	}()
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		var res rxPollResult
		if err := json.Unmarshal(r.body, &res); r.status != 200 || err != nil || len(res.Sets) == 0 {
			t.Fatalf("waiting poll: %d %s, want the revocation's SETs", r.status, r.body)
		}
		for _, raw := range res.Sets {
			if _, err := rx.check(raw); err != nil {
				t.Errorf("invalid SET: %v", err)
			}
		}
	case <-time.After(rxWait):
		t.Fatalf("a waiting poll did not return within %s of a revocation", rxWait)
	}
}

// TestReceiverRestart: queued SETs survive a restart of the transmitter.
func TestReceiverRestart(t *testing.T) {
	for _, m := range rxMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newRxEnv(t)
			rx := newReceiver(t, e, m.method, nil)
			id, _ := e.victim("victim")
			if m.method == rxPush {
				rx.answer(500) // the first push fails: the SETs stay queued
			}
			if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
				t.Fatal(err)
			}
			rx.round()
			e.restart()
			e.Clock.Advance(time.Second)
			rxExpect(t, rx.receive(2), rxWant{evSessionRevoked, e.issSub(id)}, rxWant{evCredentialChange, e.issSub(id)})
			rx.none()
		})
	}
}

// TestReceiverKeyRotation: SETs are signed when sent, by the key signing
// then; a receiver that looks again at jwks_uri can verify them.
func TestReceiverKeyRotation(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPush, nil)
	rx.verify("before")
	before := rx.receive(1)[0]

	// Queued now, while the receiver is failing; sent after the key changed.
	rx.answer(500)
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	rx.round()
	e.Clock.Advance(mayfly.DefaultKeyLifetime + time.Minute)
	got := rx.receive(2)
	rxExpect(t, got, rxWant{evSessionRevoked, e.issSub(id)}, rxWant{evCredentialChange, e.issSub(id)})
	for _, s := range got {
		if s.KID == before.KID {
			t.Errorf("SET sent after the key lifetime is signed by the old key %s", s.KID)
		}
	}

	// A manual rotation too: the next SET is signed by yet another key,
	// which the JWKS published now holds.
	// The next key must have been published long enough to be in every
	// cached JWKS; this receiver's cache predates it.
	e.Clock.Advance(mayfly.MinPublication)
	if err := e.Server.Keys.Rotate(t.Context(), "default"); err != nil {
		t.Fatal(err)
	}
	rx.verify("after")
	after := rx.receive(1)[0]
	if after.KID == got[0].KID || after.Event["state"] != "after" {
		t.Errorf("after a manual rotation: kid %s (was %s), state %v", after.KID, got[0].KID, after.Event["state"])
	}
	rx.refreshJWKS()
	if len(rx.jwks.Key(after.KID)) != 1 {
		t.Errorf("the current JWKS lacks the signing key %s", after.KID)
	}
}

// TestReceiverSETIsNotAnAccessToken: explicit typing keeps a SET, signed
// by the same key as access tokens, from passing for one.
func TestReceiverSETIsNotAnAccessToken(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPoll, nil)
	rx.verify("s")
	set := rx.receive(1)[0]
	// The control: the receiver's own access token is active.
	tok := e.token()
	if !e.Active(tok, e.clientID, e.clientSecret) {
		t.Fatalf("control: an access token is inactive")
	}
	r := e.PostForm(api.IntrospectPath, url.Values{"token": {set.Raw}}, e.clientID, e.clientSecret)
	if r.Status != 200 || len(r.JSON()) != 1 || r.JSON()["active"] != false {
		t.Errorf("introspecting a SET: %d %s, want {\"active\":false}", r.Status, r.Body)
	}
	r = rxCall(t, e.Env, "GET", rx.tx.ConfigurationEndpoint, set.Raw, nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("a SET as the bearer of stream management: %d %s, want 401", r.Status, r.Body)
	}
}

// TestReceiverRejectsForgedSETs: the receiver's validation, which every
// test above relies on, refuses each flaw. Variants of a real SET are
// signed with the transmitter's own key (unsealed from its data
// directory), so each differs from a valid SET in one respect only.
func TestReceiverRejectsForgedSETs(t *testing.T) {
	e := newRxEnv(t)
	rx := newReceiver(t, e, rxPoll, map[string]any{"events_requested": []string{evCredentialChange}})
	id, _ := e.victim("victim")
	if _, err := e.Admin.RevokeClient(t.Context(), id, "x"); err != nil {
		t.Fatal(err)
	}
	real := rx.receive(1)[0]
	var base map[string]any
	if err := json.Unmarshal(real.Payload, &base); err != nil {
		t.Fatal(err)
	}
	// Whole seconds stay whole when signed again.
	base["iat"] = int64(base["iat"].(float64))
	for _, ev := range base["events"].(map[string]any) {
		ev := ev.(map[string]any)
		ev["event_timestamp"] = int64(ev["event_timestamp"].(float64))
	}
	key := (&advFixture{Env: e.Env, t: t}).keyIn(mayfly.KeyActive)
	if key.kid != real.KID {
		t.Fatalf("the SET was signed by %s, the active key is %s", real.KID, key.kid)
	}
	// claims is base with fresh jti and the changes kv (nil deletes).
	claims := func(kv ...any) map[string]any {
		return advWith(base, append([]any{"jti", rxRandom(t)}, kv...)...)
	}
	event := func(body map[string]any) map[string]any {
		return map[string]any{evCredentialChange: body}
	}
	body := base["events"].(map[string]any)[evCredentialChange].(map[string]any)
	sign := func(typ string, c map[string]any) string { return advSign(t, jose.ES256, key.priv, key.kid, typ, c) }
	stream := map[string]any{"format": "opaque", "id": rx.id}

	if _, err := rx.check(sign("secevent+jwt", claims())); err != nil {
		t.Fatalf("control: a correct SET signed by the transmitter's key is refused: %v", err)
	}
	reused := claims()
	if _, err := rx.check(sign("secevent+jwt", reused)); err != nil {
		t.Fatal(err)
	}
	hdr := func() map[string]any { return map[string]any{"kid": key.kid, "typ": "secevent+jwt"} }
	jwk, _ := json.Marshal(rx.jwks.Key(key.kid)[0])
	stranger := advECKey(t)
	now := e.Clock.Now()

	cases := []struct{ name, set string }{
		{"typ at+jwt", sign("at+jwt", claims())},
		{"typ JWT", sign("JWT", claims())},
		{"no typ", sign("", claims())},
		{"alg none", advUnsigned(t, hdr(), claims())},
		{"HS256 with the public JWK", advHS256(t, hdr(), claims(), jwk)},
		{"another key, same kid", advSign(t, jose.ES256, stranger, key.kid, "secevent+jwt", claims())},
		{"unknown kid", advSign(t, jose.ES256, stranger, "nobody", "secevent+jwt", claims())},
		{"tampered payload", advTamper(t, sign("secevent+jwt", claims()), 1, func(b []byte) []byte { return bytes.Replace(b, []byte("revoke"), []byte("create"), 1) })},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`},
		{"wrong iss", sign("secevent+jwt", claims("iss", "https://evil.example"))},
		{"wrong aud", sign("secevent+jwt", claims("aud", "mfc_someoneelse"))},
		{"no aud", sign("secevent+jwt", claims("aud", nil))},
		{"no iat", sign("secevent+jwt", claims("iat", nil))},
		{"iat an hour ahead", sign("secevent+jwt", claims("iat", now.Add(time.Hour).Unix()))},
		{"iat a string", sign("secevent+jwt", claims("iat", "1767323045"))},
		{"no jti", sign("secevent+jwt", advWith(claims(), "jti", nil))},
		{"jti reused for other claims", sign("secevent+jwt", advWith(reused, "txn", "other"))},
		{"sub", sign("secevent+jwt", claims("sub", id))},
		{"exp", sign("secevent+jwt", claims("exp", now.Add(time.Hour).Unix()))},
		{"no events", sign("secevent+jwt", claims("events", map[string]any{}))},
		{"two events", sign("secevent+jwt", claims("events", map[string]any{evCredentialChange: body, evSessionRevoked: map[string]any{}}))},
		{"event not an object", sign("secevent+jwt", claims("events", map[string]any{evCredentialChange: "revoke"}))},
		{"event not requested", sign("secevent+jwt", claims("events", map[string]any{evSessionRevoked: map[string]any{}}))},
		{"event unknown", sign("secevent+jwt", claims("events", map[string]any{"https://example.com/event": map[string]any{}}))},
		{"no change_type", sign("secevent+jwt", claims("events", event(advWith(body, "change_type", nil))))},
		{"unknown credential_type", sign("secevent+jwt", claims("events", event(advWith(body, "credential_type", "secret-sauce"))))},
		{"event_timestamp ahead", sign("secevent+jwt", claims("events", event(advWith(body, "event_timestamp", now.Add(time.Hour).Unix()))))},
		{"initiating_entity unknown", sign("secevent+jwt", claims("events", event(advWith(body, "initiating_entity", "mallory"))))},
		{"no sub_id", sign("secevent+jwt", claims("sub_id", nil))},
		{"sub_id unknown format", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "x500", "dn": "cn=a"}))},
		{"sub_id missing member", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "iss_sub", "iss": e.URL}))},
		{"sub_id extra member", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "opaque", "id": "x", "name": "y"}))},
		{"sub_id number", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "opaque", "id": 7}))},
		{"sub_id iss not a URI", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "iss_sub", "iss": "mayfly", "sub": id}))},
		{"sub_id email without @", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "email", "email": "alice"}))},
		{"complex empty", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "complex"}))},
		{"complex unknown member", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "complex", "boss": e.issSub(id)}))},
		{"complex nested", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "complex", "user": map[string]any{"format": "complex", "user": e.issSub(id)}}))},
		{"verification of another stream", sign("secevent+jwt", claims("sub_id", map[string]any{"format": "opaque", "id": "ssf_other"},
			"events", map[string]any{evVerification: map[string]any{"state": "x"}}))},
		{"stream-updated without status", sign("secevent+jwt", claims("sub_id", stream, "events", map[string]any{evStreamUpdated: map[string]any{}}))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rx.check(tc.set)
			if err == nil {
				t.Fatalf("the receiver accepted it")
			}
			t.Logf("refused: %v", err)
		})
	}
}
