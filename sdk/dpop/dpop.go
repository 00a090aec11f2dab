// Package dpop checks DPoP proofs (RFC 9449): the JWTs a client signs with
// a key of its own for each HTTP request, so that a token bound to that key
// is useless to whoever copies it without the key. Mayfly's token endpoint
// and the SDK's middleware share this one implementation. It imports the
// standard library and go-jose only.
//
// # What it checks
//
// Check accepts a proof only if all of these hold (RFC 9449 section 4.3):
//
//   - it is at most MaxProofSize bytes, a JWS in compact serialization with
//     exactly one signature and no "crit" or "b64" header;
//   - its typ is exactly "dpop+jwt";
//   - its alg is one of Algs: ES256, ES384, EdDSA, RS256 or PS256. "none"
//     and every HMAC algorithm are refused before anything else is read;
//   - its jwk header is a public key (no private member), RSA keys of at
//     least 2048 bits, and the signature verifies under it. The key is
//     only ever that header: kid, jku, x5u, x5c and x5t headers are
//     refused, not followed;
//   - jti is present; htm is the request's method; htu is the request's
//     URL, both compared without query and fragment, with scheme and host
//     in lower case and default ports dropped;
//   - iat is at most Config.Window old and at most Config.Skew in the
//     future, by Config.Clock;
//   - for a request that presents an access token, ath is the base64url
//     SHA-256 of that token;
//   - the key's thumbprint and jti were not seen in an accepted proof
//     within the window (see Replays).
//
// It returns the key's RFC 7638 SHA-256 thumbprint, the value of a bound
// token's cnf.jkt. Server nonces (RFC 9449 section 8) are not required;
// a proof's nonce claim is returned but not checked.
//
// # Replays
//
// A Checker remembers the thumbprint and jti of every proof it accepted
// until its iat leaves the window, in memory, at most Config.ReplayCacheSize
// of them. When that many proofs are live it refuses new ones rather than
// forget one: it fails closed. Each process (each replica of a service, or
// of Mayfly's server) keeps its own memory, so a proof replayed within the
// window to another replica behind the same URL is not caught there. The
// window bounds that: a proof is worth nothing after Window, and a proof
// for a resource request is bound to one token (ath), one method and one
// URL.
package dpop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Limits and defaults.
const (
	// MaxProofSize bounds what Check parses at all: an RSA key of 4096
	// bits and the claims fit in a quarter of it.
	MaxProofSize = 8 << 10
	// Type is the typ header of every proof.
	Type = "dpop+jwt"

	DefaultWindow          = 60 * time.Second
	DefaultSkew            = 10 * time.Second
	DefaultReplayCacheSize = 250_000

	minRSABits = 2048
	maxJTI     = 256
)

// Algs are the signature algorithms a proof may use, as the token
// endpoint's metadata lists them (dpop_signing_alg_values_supported).
var Algs = []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"}

var algs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256}

// Config configures a Checker.
type Config struct {
	// Window is how old a proof's iat may be. Zero means DefaultWindow.
	Window time.Duration
	// Skew is how far in the future a proof's iat may be, for clients
	// whose clocks run fast. Zero means DefaultSkew; negative allows none.
	Skew time.Duration
	// Clock tells the time. Nil means time.Now.
	Clock func() time.Time
	// ReplayCacheSize bounds the proofs remembered for replay detection.
	// Zero means DefaultReplayCacheSize.
	ReplayCacheSize int
}

// Checker checks proofs and remembers the ones it accepted. It is safe for
// concurrent use.
type Checker struct {
	cfg Config

	mu   sync.Mutex
	seen map[[16]byte]struct{}
	// queue holds what seen holds, in the order it was added, which is
	// also the order it expires in.
	queue []seenProof
	head  int
}

type seenProof struct {
	key   [16]byte
	until time.Time
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Skew == 0 {
		cfg.Skew = DefaultSkew
	} else if cfg.Skew < 0 {
		cfg.Skew = 0
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ReplayCacheSize <= 0 {
		cfg.ReplayCacheSize = DefaultReplayCacheSize
	}
	return &Checker{cfg: cfg, seen: map[[16]byte]struct{}{}}
}

// Request is what a proof must match.
type Request struct {
	Method string
	// URL is the request's absolute URL as the client addressed it: behind
	// a proxy, the public one. Its query and fragment are ignored.
	URL string
	// AccessToken is the token the request presents, if any; the proof's
	// ath must then be its hash.
	AccessToken string
}

// Proof is what an accepted proof says.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key, base64url
	// without padding: a bound token's cnf.jkt.
	JKT      string
	ID       string // jti
	IssuedAt time.Time
	Nonce    string
}

// Error is a refused proof. Its message says why and may be shown to the
// proof's sender; it holds nothing secret.
type Error struct {
	Msg string
	Err error // the cause, if any, for the log
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "dpop: " + e.Msg + ": " + e.Err.Error()
	}
	return "dpop: " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrReplayed is the cause of the refusal of a proof seen before.
var ErrReplayed = errors.New("the proof was used before")

// ErrFull is the cause of a refusal because too many proofs are live to
// remember one more.
var ErrFull = errors.New("too many proofs to remember")

func refuse(format string, args ...any) *Error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// claims are a proof's payload.
type claims struct {
	ID       string           `json:"jti"`
	Method   string           `json:"htm"`
	URL      string           `json:"htu"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ATH      string           `json:"ath"`
	Nonce    string           `json:"nonce"`
}

// refusedHeaders name keys other than the jwk header, which a proof must
// not use (its key is the one it carries), and extensions it must not
// need.
var refusedHeaders = []string{"kid", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"}

// otherKeys refuses a proof whose header names any of refusedHeaders. The
// compact form has only the protected header, which ParseSignedCompact
// already decoded once.
func otherKeys(proof string) *Error {
	seg, _, _ := strings.Cut(proof, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return &Error{Msg: "malformed header", Err: err}
	}
	var h map[string]josejson.RawMessage
	if err := josejson.Unmarshal(b, &h); err != nil {
		return &Error{Msg: "malformed header", Err: err}
	}
	for _, k := range refusedHeaders {
		if _, ok := h[k]; ok {
			return refuse("header %q is not allowed: the key is the jwk header alone", k)
		}
	}
	return nil
}

// Check checks proof, the value of the request's one DPoP header, against
// req, and remembers it. Every error is an *Error.
func (c *Checker) Check(proof string, req Request) (*Proof, error) {
	p, err := c.parse(proof, req)
	if err != nil {
		return nil, err
	}
	// Remembered only once all else passed, so that nobody can burn
	// another key's jtis.
	if err := c.remember(p); err != nil {
		return nil, err
	}
	return p, nil
}

// parse is Check without the replay memory.
func (c *Checker) parse(proof string, req Request) (*Proof, *Error) {
	if proof == "" {
		return nil, refuse("empty proof")
	}
	if len(proof) > MaxProofSize {
		return nil, refuse("proof of %d bytes, more than %d", len(proof), MaxProofSize)
	}
	jws, err := jose.ParseSignedCompact(proof, algs)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, refuse("alg %q is not one of %s", alg.Got, strings.Join(Algs, ", "))
		}
		return nil, &Error{Msg: "not a signed JWT", Err: err}
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse("not exactly one signature")
	}
	sig := jws.Signatures[0]
	h := sig.Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != Type {
		return nil, refuse("typ %q, not %q", typ, Type)
	}
	if err := otherKeys(proof); err != nil {
		return nil, err
	}
	jwk := h.JSONWebKey
	if jwk == nil {
		return nil, refuse("no jwk header")
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, refuse("the jwk header is not a public key")
	}
	if len(jwk.Certificates) > 0 {
		return nil, refuse("the jwk header must not carry certificates")
	}
	if k, ok := jwk.Key.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return nil, refuse("RSA key of %d bits, fewer than %d", k.N.BitLen(), minRSABits)
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, &Error{Msg: "the signature does not verify under the jwk header", Err: err}
	}
	var cl claims
	// go-jose's JSON: names match in their exact case.
	if err := josejson.Unmarshal(payload, &cl); err != nil {
		return nil, &Error{Msg: "malformed claims", Err: err}
	}
	now := c.cfg.Clock()
	switch {
	case cl.ID == "":
		return nil, refuse("no jti")
	case len(cl.ID) > maxJTI:
		return nil, refuse("jti longer than %d bytes", maxJTI)
	case cl.Method != req.Method:
		return nil, refuse("htm %q, but the request's method is %s", cl.Method, req.Method)
	case cl.IssuedAt == nil:
		return nil, refuse("no iat")
	}
	iat := cl.IssuedAt.Time()
	switch {
	case iat.Before(now.Add(-c.cfg.Window)):
		return nil, refuse("iat is more than %s old", c.cfg.Window)
	case iat.After(now.Add(c.cfg.Skew)):
		return nil, refuse("iat is in the future")
	}
	got, err := NormalURL(cl.URL)
	if err != nil {
		return nil, &Error{Msg: "htu is not an absolute http(s) URL", Err: err}
	}
	want, err := NormalURL(req.URL)
	if err != nil {
		return nil, &Error{Msg: "the request's URL cannot be checked", Err: err}
	}
	if got != want {
		return nil, refuse("htu %q is not this request's URL", cl.URL)
	}
	if req.AccessToken != "" && cl.ATH != ATH(req.AccessToken) {
		return nil, refuse("ath is not the hash of the access token")
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, &Error{Msg: "the jwk header has no thumbprint", Err: err}
	}
	return &Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), ID: cl.ID, IssuedAt: iat, Nonce: cl.Nonce}, nil
}

// remember records p's key and jti until its iat leaves the window, or
// refuses it if they are already recorded.
func (c *Checker) remember(p *Proof) *Error {
	h := sha256.Sum256([]byte(p.JKT + " " + p.ID))
	var key [16]byte
	copy(key[:], h[:])
	now := c.cfg.Clock()
	// Entries expire in the order they were added: the latest instant
	// any proof accepted now can still be accepted.
	until := now.Add(c.cfg.Skew + c.cfg.Window)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.queue) && !c.queue[c.head].until.After(now) {
		delete(c.seen, c.queue[c.head].key)
		c.queue[c.head] = seenProof{}
		c.head++
	}
	if c.head > len(c.queue)/2 {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
	if _, ok := c.seen[key]; ok {
		return &Error{Msg: "replayed proof", Err: ErrReplayed}
	}
	if len(c.seen) >= c.cfg.ReplayCacheSize {
		return &Error{Msg: "cannot check the proof for replay now", Err: ErrFull}
	}
	c.seen[key] = struct{}{}
	if n := len(c.queue); n > 0 && c.queue[n-1].until.After(until) {
		until = c.queue[n-1].until // a clock that went back keeps the order
	}
	c.queue = append(c.queue, seenProof{key: key, until: until})
	return nil
}

// ATH is the ath claim for an access token: the base64url SHA-256 of its
// ASCII text.
func ATH(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// NormalURL is u as proofs are compared by it: absolute http or https, no
// user information, scheme and host in lower case, the default port
// dropped, an empty path as "/", no query or fragment.
func NormalURL(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(p.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("scheme %q is not http or https", p.Scheme)
	case p.Host == "" || p.Opaque != "":
		return "", errors.New("no host")
	case p.User != nil:
		return "", errors.New("user information is not allowed")
	}
	host := strings.ToLower(p.Host)
	if port := p.Port(); (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	path := p.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}
