// Package sdktest is a fake Mayfly issuer for the tests of services that
// verify tokens with package sdk, and for the sdk's own tests: an httptest
// server with discovery, a JWKS, and the revocation stream, that mints
// tokens and revokes them on request. It signs as Mayfly does, ES256 with a
// low S, so its tokens are in the canonical form the verifier requires
// (package canon); SignRaw signs whatever header and payload it is given.
//
// # What it serves
//
// Discovery at both /.well-known/oauth-authorization-server and
// /.well-known/openid-configuration; its keys at /oauth2/jwks (ES256 at
// first; RotateKey adds others) with Cache-Control max-age=60; and
// GET /v1/revocations/stream exactly as Mayfly serves it: client
// credentials in HTTP Basic (each part form-encoded, RFC 6749 section
// 2.3.1) or an admin bearer token, a resume point in Last-Event-ID or
// ?after=N, then Server-Sent Events: "retry: 1000", every revocation above
// the resume point (event "revocation", id and data.seq the sequence
// number), "ready", then new revocations as they are made and "heartbeat"
// events. Bad credentials get 401.
//
// # Failing closed on purpose
//
// PauseStream silences every connection, CloseStream ends them and refuses
// new ones, DropStream ends them once, ResumeStream undoes the first two and
// sends a heartbeat at once. With WithHeartbeat(0) and a Clock, a test can
// make a verifier's feed stale without sleeping: pause, then advance the
// clock.
package sdktest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// The identities the fake's tokens name by default, and the credentials its
// stream accepts. The secret needs form-encoding, so a client that forgets
// RFC 6749's encoding is refused.
const (
	DefaultAudience = "https://service.example"
	ClientID        = "mfc_sdktest"
	ClientSecret    = "mfs_sdktest secret:+/%&="
	AdminToken      = "mfa_sdktest"
	Principal       = "prn_sdktest"
	DefaultScope    = "read write"
	DefaultTTL      = 5 * time.Minute
)

// The kinds of revocation.
const (
	JTI       = "jti"       // one token, by its jti
	Client    = "client"    // every token of a client_id
	Key       = "kid"       // every token a key signed
	Person    = "principal" // every token whose principal claim is the subject
	NotBefore = "nbf"       // tokens of a client or principal issued before At
	Suspend   = "suspend"   // every token of a client or principal, until a later Resume
	Resume    = "resume"    // lifts a Suspend; also a not-before mark at At
)

// Not-before marks on token subjects, such as customers.
const (
	Subject   = "sub" // tokens whose sub is the subject, issued before At
	Namespace = "ns"  // tokens whose sub is "SUBJECT:...", issued before At
)

// Revocation is one event of the stream.
type Revocation struct {
	Seq     int64     `json:"seq"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Until   time.Time `json:"until,omitzero"`
	At      time.Time `json:"at"`
}

// Issuer is a running fake issuer.
type Issuer struct {
	// URL is the issuer identifier: the server's base URL.
	URL string

	t         testing.TB // nil when started by StartIssuer
	srv       *httptest.Server
	clock     func() time.Time
	heartbeat time.Duration

	jwksRequests atomic.Int64

	mu      sync.Mutex
	keys    []*signingKey // published; the last one signs
	revs    []Revocation
	seq     int64
	paused  bool
	closed  bool
	beat    int64         // bumped to ask every connection for a heartbeat now
	wake    chan struct{} // closed and replaced when anything above changes
	conns   map[*int]context.CancelFunc
	resumes []int64

	// writing is held, shared, while a connection writes; PauseStream takes
	// it whole, so once it returns no connection writes until ResumeStream.
	writing sync.RWMutex
}

type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithClock makes the issuer read the time from now: the times in its
// tokens, revocations and heartbeats.
func WithClock(now func() time.Time) Option { return func(is *Issuer) { is.clock = now } }

// WithHeartbeat sets how often the stream sends a heartbeat (1 s by
// default). Zero sends them only when asked: Heartbeat and ResumeStream.
func WithHeartbeat(every time.Duration) Option { return func(is *Issuer) { is.heartbeat = every } }

// NewIssuer starts a fake issuer that stops when the test ends.
func NewIssuer(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	is, err := StartIssuer(opts...)
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	is.t = t
	t.Cleanup(is.Close)
	return is
}

// StartIssuer starts a fake issuer outside a test (in an example, say).
// Close stops it.
func StartIssuer(opts ...Option) (*Issuer, error) {
	is := &Issuer{clock: time.Now, heartbeat: time.Second, wake: make(chan struct{}), conns: map[*int]context.CancelFunc{}}
	for _, o := range opts {
		o(is)
	}
	k, err := newKey("ES256")
	if err != nil {
		return nil, err
	}
	is.keys = []*signingKey{k}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", is.discovery)
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /oauth2/jwks", is.jwks)
	mux.HandleFunc("GET /v1/revocations/stream", is.stream)
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	return is, nil
}

// Close ends every stream and stops the server.
func (is *Issuer) Close() {
	is.CloseStream()
	is.srv.Close()
}

func (is *Issuer) fail(format string, args ...any) {
	if is.t != nil {
		is.t.Helper()
		is.t.Fatalf("sdktest: "+format, args...)
	}
	panic(fmt.Sprintf("sdktest: "+format, args...))
}

// Token mints a valid access token signed by the current key. Its claims
// are iss, sub and client_id (ClientID), aud (DefaultAudience), iat and nbf
// (now), exp (now + DefaultTTL), jti (a fresh Mayfly jti for now), scope
// (DefaultScope) and principal (Principal). overrides replace claims: a nil
// value removes the claim, a time.Time becomes seconds since the epoch.
func (is *Issuer) Token(overrides map[string]any) string {
	return is.TokenWithHeader(nil, overrides)
}

// TokenWithHeader is Token with changes to the JWS header as well: by
// default alg and kid of the current key and typ "at+jwt". The token is
// signed with the current key whatever the header says.
func (is *Issuer) TokenWithHeader(header, overrides map[string]any) string {
	cb, err := json.Marshal(is.Claims(overrides))
	if err != nil {
		is.fail("claims: %v", err)
	}
	return is.Sign(header, cb)
}

// Claims returns the claims Token would use, with overrides applied.
func (is *Issuer) Claims(overrides map[string]any) map[string]any {
	now := is.clock()
	c := map[string]any{
		"iss": is.URL, "sub": ClientID, "client_id": ClientID, "aud": DefaultAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(DefaultTTL).Unix(),
		"jti": NewJTI(now), "scope": DefaultScope, "principal": Principal,
	}
	merge(c, overrides)
	return c
}

func merge(m, overrides map[string]any) {
	for name, v := range overrides {
		switch v := v.(type) {
		case nil:
			delete(m, name)
		case time.Time:
			m[name] = v.Unix()
		default:
			m[name] = v
		}
	}
}

// Sign signs any payload with the current key, under the header
// TokenWithHeader would use: for tokens whose claims are not even JSON.
func (is *Issuer) Sign(header map[string]any, payload []byte) string {
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	merge(h, header)
	hb, err := json.Marshal(h)
	if err != nil {
		is.fail("header: %v", err)
	}
	return is.SignRaw(hb, payload)
}

// SignRaw signs a header and a payload, byte for byte as given, with the
// current key: for tokens whose header no map makes, such as one that
// names a member twice.
func (is *Issuer) SignRaw(header, payload []byte) string {
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := k.signature([]byte(input))
	if err != nil {
		is.fail("signing: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newKey(alg string) (*signingKey, error) {
	var kid [8]byte
	rand.Read(kid[:])
	k := &signingKey{kid: alg + "-" + base64.RawURLEncoding.EncodeToString(kid[:]), alg: alg}
	var err error
	switch alg {
	case "ES256":
		k.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		k.priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, k.priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("algorithm %q is not one Mayfly signs with", alg)
	}
	return k, err
}

// signature signs input as JWS alg k.alg does (RFC 7518, RFC 8037).
func (k *signingKey) signature(input []byte) ([]byte, error) {
	if k.alg == "EdDSA" {
		return k.priv.Sign(rand.Reader, input, crypto.Hash(0))
	}
	sum := sha256.Sum256(input)
	if k.alg == "RS256" {
		return k.priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.priv.(*ecdsa.PrivateKey), sum[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	canon.LowS(sig) // as Mayfly signs: verifiers accept no other
	return sig, nil
}

// KeyID returns the kid of the key that signs now.
func (is *Issuer) KeyID() string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[len(is.keys)-1].kid
}

// RotateKey publishes a new key of alg (ES256, RS256 or EdDSA), which signs
// from now on, and returns its kid. The keys before it stay published.
func (is *Issuer) RotateKey(alg string) string {
	k, err := newKey(alg)
	if err != nil {
		is.fail("%v", err)
	}
	is.mu.Lock()
	is.keys = append(is.keys, k)
	is.mu.Unlock()
	return k.kid
}

// Unpublish removes the key kid from the JWKS, as Mayfly does with a
// revoked key. The last key cannot be removed.
func (is *Issuer) Unpublish(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for i, k := range is.keys {
		if k.kid == kid && len(is.keys) > 1 {
			is.keys = append(is.keys[:i:i], is.keys[i+1:]...)
			return
		}
	}
	is.fail("cannot unpublish key %q", kid)
}

// JWKS returns the key set the issuer publishes.
func (is *Issuer) JWKS() []byte {
	is.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	is.mu.Unlock()
	b, err := json.Marshal(set)
	if err != nil {
		is.fail("jwks: %v", err)
	}
	return b
}

// JWKSRequests is how many times the key set was fetched.
func (is *Issuer) JWKSRequests() int { return int(is.jwksRequests.Load()) }

// Revoke revokes subject of kind (JTI, Client, Key, Person, NotBefore)
// forever, at the issuer's now, and returns the revocation's sequence number.
func (is *Issuer) Revoke(kind, subject string) int64 {
	return is.Add(Revocation{Kind: kind, Subject: subject})
}

// Add publishes r with the next sequence number, which it returns. A zero At
// is set to now.
func (is *Issuer) Add(r Revocation) int64 {
	if r.At.IsZero() {
		r.At = is.clock()
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.seq++
	r.Seq = is.seq
	is.revs = append(is.revs, r)
	is.wakeLocked()
	return r.Seq
}

// Seq is the newest revocation's sequence number.
func (is *Issuer) Seq() int64 {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.seq
}

// PauseStream silences every stream connection, current and new: no
// revocations, no heartbeats. When it returns, no connection is writing.
func (is *Issuer) PauseStream() {
	is.writing.Lock()
	is.mu.Lock()
	is.paused = true
	is.mu.Unlock()
	is.writing.Unlock()
}

// CloseStream ends every stream connection and answers new ones with 503,
// until ResumeStream.
func (is *Issuer) CloseStream() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.closed = true
	for _, cancel := range is.conns {
		cancel()
	}
	is.wakeLocked()
}

// ResumeStream undoes PauseStream and CloseStream: connections send what
// they held back and a heartbeat at once.
func (is *Issuer) ResumeStream() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.paused, is.closed = false, false
	is.beat++
	is.wakeLocked()
}

// DropStream ends every current stream connection once; clients reconnect.
func (is *Issuer) DropStream() {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, cancel := range is.conns {
		cancel()
	}
}

// Heartbeat makes every connection that is not paused send a heartbeat now.
func (is *Issuer) Heartbeat() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.beat++
	is.wakeLocked()
}

// ResumePoints lists, for every stream connection accepted so far, the
// sequence number it asked to resume after (0 for the beginning).
func (is *Issuer) ResumePoints() []int64 {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]int64(nil), is.resumes...)
}

// Connections is how many stream connections are open.
func (is *Issuer) Connections() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return len(is.conns)
}

func (is *Issuer) wakeLocked() {
	close(is.wake)
	is.wake = make(chan struct{})
}

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                is.URL,
		"jwks_uri":              is.URL + "/oauth2/jwks",
		"token_endpoint":        is.URL + "/oauth2/token",
		"grant_types_supported": []string{"client_credentials"},
		"access_token_signing_alg_values_supported": []string{"ES256", "RS256", "EdDSA"},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.jwksRequests.Add(1)
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(is.JWKS())
}

// authorized checks client credentials (RFC 6749 section 2.3.1) or the
// admin token.
func authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		return subtle.ConstantTimeCompare([]byte(cred), []byte(AdminToken)) == 1
	case "basic":
		b, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return false
		}
		id, secret, ok := strings.Cut(string(b), ":")
		id, err1 := url.QueryUnescape(id)
		secret, err2 := url.QueryUnescape(secret)
		return ok && err1 == nil && err2 == nil && id == ClientID &&
			subtle.ConstantTimeCompare([]byte(secret), []byte(ClientSecret)) == 1
	}
	return false
}

func (is *Issuer) stream(w http.ResponseWriter, r *http.Request) {
	if !authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mayfly"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client","error_description":"client authentication failed"}`))
		return
	}
	// As Mayfly does: ?after= wins over Last-Event-ID.
	resume := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if q := r.URL.Query().Get("after"); q != "" {
		resume = q
	}
	var after int64
	if resume != "" {
		n, err := strconv.ParseInt(resume, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, `{"error":"invalid","message":"bad resume point"}`, http.StatusBadRequest)
			return
		}
		after = n
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	id := new(int)
	is.mu.Lock()
	if is.closed {
		is.mu.Unlock()
		http.Error(w, "stream closed", http.StatusServiceUnavailable)
		return
	}
	is.resumes = append(is.resumes, after)
	is.conns[id] = cancel
	beat := is.beat
	is.mu.Unlock()
	defer func() {
		is.mu.Lock()
		delete(is.conns, id)
		is.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)

	var tick <-chan time.Time
	if is.heartbeat > 0 {
		t := time.NewTicker(is.heartbeat)
		defer t.Stop()
		tick = t.C
	}
	started, ready, sent, timed := false, false, after, false
	for {
		is.writing.RLock()
		is.mu.Lock()
		wake, paused := is.wake, is.paused
		var batch []Revocation
		for _, rv := range is.revs {
			if rv.Seq > sent {
				batch = append(batch, rv)
			}
		}
		seq, wantBeat := is.seq, is.beat != beat
		beat = is.beat
		is.mu.Unlock()
		if !paused {
			if !started {
				w.WriteHeader(http.StatusOK)
				fmt.Fprint(w, "retry: 1000\n\n")
				started = true
			}
			for _, rv := range batch {
				b, _ := json.Marshal(rv)
				fmt.Fprintf(w, "id: %d\nevent: revocation\ndata: %s\n\n", rv.Seq, b)
				sent = rv.Seq
			}
			if !ready {
				fmt.Fprintf(w, "event: ready\ndata: {\"seq\":%d}\n\n", seq)
				ready = true
			}
			if wantBeat || timed {
				fmt.Fprintf(w, "event: heartbeat\ndata: {\"seq\":%d,\"time\":%q}\n\n", seq, is.clock().UTC().Format(time.RFC3339Nano))
			}
			rc.Flush()
		}
		is.writing.RUnlock()
		timed = false
		select {
		case <-wake:
		case <-tick:
			timed = true
		case <-ctx.Done():
			return
		}
	}
}

// NewJTI returns a Mayfly jti for a token issued at t: 16 bytes, the first
// 6 big-endian Unix milliseconds and the rest random, in lower-case base32
// with the extended hex alphabet and no padding.
func NewJTI(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	rand.Read(b[6:])
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
