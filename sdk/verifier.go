// Package sdk verifies Mayfly access tokens inside the services that accept
// them: locally, against the issuer's published keys, and against a
// revocation cache that Mayfly's revocation stream keeps current. It imports
// the standard library and go-jose only, never a database driver or Mayfly's
// server code.
//
// # How to use
//
// Make one Verifier per issuer and audience when the service starts, and
// close it when the service stops:
//
//	v, err := sdk.New(ctx, sdk.Config{
//		Issuer:       "https://auth.example.com",
//		Audience:     "https://orders.example.com",
//		ClientID:     id, // the service's own Mayfly client, to read the revocation stream
//		ClientSecret: secret,
//	})
//	if err != nil { ... }
//	defer v.Close()
//	http.Handle("/orders/", sdk.NewMiddleware(v, "orders.read").Handler(orders))
//
// Handlers find the token's claims with ClaimsFrom. Without the middleware,
// call Verify with the token. New returns once it has the issuer's metadata
// and keys, usually before the revocation stream has caught up; until it has,
// Verify refuses every token. WaitReady waits for it. Package sdktest is a
// fake issuer for the tests of services that use this package.
//
// The stream's credentials are checked at each connection: give the verifier
// a client (or admin credential) of its own, not one that is revoked with the
// clients it judges, or it fails closed at its next reconnection.
//
// # What it checks
//
// Verify accepts a token only if all of these hold:
//
//   - it is at most MaxTokenSize bytes, in JWS compact serialization, with
//     exactly one signature and no "crit" or "b64" header;
//   - it is in the one canonical form package canon defines: base64url
//     without padding, stray bits or any other character (whitespace
//     included), JSON without duplicate member names (nor names alike but
//     for case), and an ES256 signature with a low S. A token therefore
//     has one spelling, and the cache below holds each token once;
//   - its alg is ES256, RS256 or EdDSA, and is the algorithm of the key its
//     kid names in the issuer's key set (jku, x5u, jwk and x5c headers are
//     never used to find a key);
//   - its signature verifies under that key;
//   - its typ is "at+jwt" or "application/at+jwt" (RFC 9068), in any case;
//   - iss is the configured issuer and aud contains the configured audience;
//   - exp, iat, jti and client_id are present, exp, nbf and iat are whole
//     seconds (as Mayfly writes them), and exp - iat is at most
//     MaxLifetime;
//   - now is before exp, with no leeway; nbf and iat are not later than now
//     plus Config.Leeway (30 s by default), which absorbs clock skew between
//     the issuer and this service without stretching a token's life;
//   - neither its jti, client_id, kid nor principal is revoked, and it was not
//     issued before a not-before mark on its client or principal, on its
//     subject (sub), or on the subject's namespace (the part of sub before
//     its first colon: "customer" for "customer:42"). The issue
//     time is the millisecond in a Mayfly jti when the jti agrees with iat,
//     else iat.
//
// A token that passed is kept, by its exact text, in a cache of
// Config.CacheSize tokens. A cached token costs a map lookup, but everything
// that can change is checked again on every use: the feed's freshness, exp,
// nbf, that its key is still published, and every revocation.
//
// Unknown kids make the verifier fetch the key set again, at most once per
// 10 seconds (of Config.Clock) however many arrive, and one fetch at a time;
// the key set is also refreshed in the background as its max-age says.
//
// # DPoP-bound tokens
//
// A token whose cnf.jkt names a key (RFC 9449) is bound to it: Claims.JKT
// is the key's thumbprint. Verify checks the token alone; a middleware
// made with WithDPoP also checks, for each request, the DPoP proof that
// must come with it (package dpop: method, URL, age, replay, the token's
// hash, and that the key is the token's). A bound token sent as a bearer
// token is refused, by every middleware: copied out of a log or a proxy,
// it is useless without the key.
//
// # Failing closed
//
// The revocation stream (GET {issuer}/v1/revocations/stream, Server-Sent
// Events) sends every revocation, then "ready", then new revocations as they
// happen and a heartbeat at least every 5 s. The verifier counts itself
// current at "ready" and at each heartbeat or revocation after "ready" on
// the same connection; revocations replayed before it do not count. If it has
// never been current, or has not been for longer than Config.MaxStale (by
// Config.Clock), Verify refuses every token with the reason Stale, cached
// tokens too: a revocation may have been missed.
//
// The stream client reconnects on its own when the connection ends, breaks
// the protocol (an unparsable revocation, a line over 64 KiB, an event over
// 1 MiB) or stays silent for 15 s, with exponential backoff from 100 ms to
// 5 s with jitter, resuming after the last revocation it applied
// (Last-Event-ID). Verify accepts tokens again as soon as the stream has
// caught up. Revocations are never forgotten on reconnection; one is dropped
// only an hour (MaxLifetime) after its "until", when no token it concerns can
// still be valid.
package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// Limits and defaults.
const (
	// MaxTokenSize bounds what Verify parses at all.
	MaxTokenSize = 8 << 10
	// MaxLifetime bounds exp - iat: Mayfly never issues longer-lived
	// tokens, so a longer one can only come from stolen key material.
	MaxLifetime = time.Hour

	DefaultMaxStale  = 30 * time.Second
	DefaultLeeway    = 30 * time.Second
	DefaultCacheSize = 10_000
)

// Config configures a Verifier.
type Config struct {
	// Issuer is the issuer URL, exactly as tokens and the discovery
	// document name it.
	Issuer string
	// Audience is this service's identifier; a token's aud must contain it.
	// Required.
	Audience string

	// Credentials for the revocation stream: a Mayfly client's ID and
	// secret, or an admin token. One of the two is required.
	ClientID, ClientSecret string
	AdminToken             string

	// HTTPClient fetches metadata, keys and the stream; nil means a client
	// with a 10 s timeout. The stream is read without the client's Timeout.
	HTTPClient *http.Client
	// MaxStale is how long Verify keeps accepting tokens without word from
	// the revocation stream. Zero means DefaultMaxStale.
	MaxStale time.Duration
	// Leeway is the clock skew allowed on nbf and iat (never on exp). Zero
	// means DefaultLeeway; a negative Leeway allows none.
	Leeway time.Duration
	// Clock tells the time for token validity, staleness and the key set's
	// refetch limit. Nil means time.Now. Reconnection delays use real time.
	Clock func() time.Time
	// Logger gets what the holder of a token is not told. Nil: no logs.
	Logger *slog.Logger
	// CacheSize bounds the cache of verified tokens. Zero means
	// DefaultCacheSize; a negative CacheSize disables the cache.
	CacheSize int
}

// Verifier verifies access tokens of one issuer for one audience. It is
// safe for concurrent use.
type Verifier struct {
	cfg       Config
	log       *slog.Logger
	hc        *http.Client
	streamHC  *http.Client
	jwksURI   string
	streamURL string

	keys  atomic.Pointer[keySet]
	revs  *revocations
	cache *cache

	// fresh is the Clock time, in Unix nanoseconds, when the revocation
	// feed was last known current; 0 if it never was.
	fresh  atomic.Int64
	seq    atomic.Int64 // the newest revocation applied
	closed atomic.Bool

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever the feed moves
	fetching  chan struct{} // non-nil while the key set is being fetched
	lastFetch time.Time     // by Clock
	lastPrune time.Time

	ctx       context.Context // ends at Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New discovers the issuer, fetches its keys, and starts following the
// revocation stream. It returns before the stream has caught up: until it
// has, Verify refuses every token (see WaitReady).
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("sdk: Config.Issuer is required")
	case cfg.Audience == "":
		return nil, errors.New("sdk: Config.Audience is required")
	case cfg.AdminToken != "" && (cfg.ClientID != "" || cfg.ClientSecret != ""):
		return nil, errors.New("sdk: set either ClientID and ClientSecret or AdminToken, not both")
	case cfg.AdminToken == "" && (cfg.ClientID == "" || cfg.ClientSecret == ""):
		return nil, errors.New("sdk: the revocation stream needs ClientID and ClientSecret, or AdminToken")
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	v := &Verifier{cfg: cfg, log: cfg.Logger, hc: cfg.HTTPClient, revs: newRevocations(),
		cache: newCache(cfg.CacheSize), changed: make(chan struct{})}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.hc == nil {
		v.hc = &http.Client{Timeout: fetchTimeout}
	}
	stream := *v.hc
	stream.Timeout = 0 // a stream never ends; the idle timer watches it instead
	v.streamHC = &stream

	md, err := discover(ctx, v.hc, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	v.jwksURI = md.JWKSURI
	v.streamURL = strings.TrimSuffix(cfg.Issuer, "/") + streamPath
	v.lastFetch = cfg.Clock()
	age, err := v.fetchKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("sdk: fetching the issuer's keys: %w", err)
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.wg.Go(v.follow)
	v.wg.Go(func() { v.refreshKeys(age) })
	return v, nil
}

// Close stops following the stream and refreshing keys. Verify refuses
// every token afterwards.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.closed.Store(true)
		v.cancel()
		v.wg.Wait()
		v.notify()
	})
}

// Verify checks raw, a token without its "Bearer " prefix, and returns its
// claims. Every error is an *Error whose Reason may be shown to the token's
// holder; the rest of it is for the log. ctx bounds a fetch of the key set
// that an unknown kid may cause.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	e, err := v.lookup(ctx, raw, v.cfg.Clock())
	if err != nil {
		return nil, err
	}
	c := e.claims
	return &c, nil
}

// lookup is Verify, returning the verified token's cache entry, shared and
// not to be modified. When it refuses a token whose signature verified
// (revoked, expired, for another audience), it returns the entry too, so
// that the refusal can be reported with the token's real claims.
func (v *Verifier) lookup(ctx context.Context, raw string, now time.Time) (*entry, *Error) {
	if err := v.feedErr(now); err != nil {
		return nil, err
	}
	// No cached token is this long: refuse it before the cache hashes it.
	if len(raw) > MaxTokenSize {
		return nil, refuse(Malformed, fmt.Sprintf("%d bytes, more than %d", len(raw), MaxTokenSize))
	}
	if e := v.cache.get(raw); e != nil {
		if err := v.current(e, now); err != nil {
			if err.Reason == Expired || err.Reason == Revoked {
				v.cache.remove(raw)
			}
			return e, err
		}
		return e, nil
	}
	e, err := v.verify(ctx, raw, now)
	if err != nil {
		return e, err
	}
	v.cache.put(raw, e)
	return e, nil
}

// Ready reports whether the revocation feed is current, so that Verify
// does not refuse tokens for staleness.
func (v *Verifier) Ready() bool { return v.feedErr(v.cfg.Clock()) == nil }

// Seq is the sequence number of the newest revocation applied.
func (v *Verifier) Seq() int64 { return v.seq.Load() }

// WaitReady waits until the revocation feed is current (see Ready).
func (v *Verifier) WaitReady(ctx context.Context) error {
	return v.wait(ctx, v.Ready)
}

// WaitSeq waits until the revocation numbered seq, and every one before it,
// has been applied.
func (v *Verifier) WaitSeq(ctx context.Context, seq int64) error {
	return v.wait(ctx, func() bool { return v.seq.Load() >= seq })
}

func (v *Verifier) wait(ctx context.Context, done func() bool) error {
	for {
		v.mu.Lock()
		ch := v.changed
		v.mu.Unlock()
		if done() {
			return nil
		}
		if v.closed.Load() {
			return refuse(Stale, "the verifier is closed")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes the waiters.
func (v *Verifier) notify() {
	v.mu.Lock()
	close(v.changed)
	v.changed = make(chan struct{})
	v.mu.Unlock()
}

// feedErr refuses everything while the revocation feed is not current.
func (v *Verifier) feedErr(now time.Time) *Error {
	if v.closed.Load() {
		return refuse(Stale, "the verifier is closed")
	}
	f := v.fresh.Load()
	if f == 0 {
		return refuse(Stale, "the revocation stream has not caught up yet")
	}
	if d := time.Duration(now.UnixNano() - f); d > v.cfg.MaxStale {
		return refuse(Stale, fmt.Sprintf("no word from the revocation stream for %s (at most %s)", d.Round(time.Millisecond), v.cfg.MaxStale))
	}
	return nil
}

// allowed are the algorithms a Mayfly access token may carry. Parsing with
// them refuses "none" and every HMAC algorithm before any key is chosen.
var allowed = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// rawClaims is the token's payload as it is signed. Times are whole
// seconds, as Mayfly writes them and its own verifier reads them: a
// fraction or an exponent is refused, not rounded.
type rawClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  jwt.Audience `json:"aud"`
	Expiry    *int64       `json:"exp"`
	NotBefore *int64       `json:"nbf"`
	IssuedAt  *int64       `json:"iat"`
	ID        string       `json:"jti"`
	ClientID  string       `json:"client_id"`
	Scope     string       `json:"scope"`
	Principal string       `json:"principal"`
	Act       *struct {
		Subject string `json:"sub"`
	} `json:"act"`
	SID string `json:"sid"`
	Cnf *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// verify checks a token not seen before, of at most MaxTokenSize bytes. If
// it refuses a token whose signature verified, it returns its entry too.
func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*entry, *Error) {
	if raw == "" {
		return nil, refuse(Malformed, "empty")
	}
	if err := canon.Check(raw); err != nil {
		return nil, &Error{Reason: Malformed, Err: err}
	}
	jws, err := jose.ParseSignedCompact(raw, allowed)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, refuse(BadAlgorithm, fmt.Sprintf("alg %q", alg.Got))
		}
		return nil, &Error{Reason: Malformed, Err: err}
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse(Malformed, "not exactly one signature")
	}
	h := jws.Signatures[0].Header
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, refuse(BadType, fmt.Sprintf("typ %q", typ))
	}
	k := v.key(ctx, h.KeyID)
	if k == nil {
		return nil, refuse(UnknownKey, fmt.Sprintf("kid %q is not in the issuer's key set", h.KeyID))
	}
	if h.Algorithm != string(k.alg) {
		return nil, refuse(BadAlgorithm, fmt.Sprintf("alg %s, but key %q verifies %s", h.Algorithm, h.KeyID, k.alg))
	}
	payload, err := jws.Verify(k.pub)
	if err != nil {
		return nil, &Error{Reason: BadSignature, Detail: "kid " + h.KeyID, Err: err}
	}
	if err := canon.CheckSignature(h.Algorithm, jws.Signatures[0].Signature); err != nil {
		return nil, &Error{Reason: Malformed, Detail: "kid " + h.KeyID, Err: err}
	}
	// go-jose's JSON, as Mayfly's own verifier reads claims: names match
	// fields in their exact case (JWT names are case-sensitive), where
	// encoding/json would take "Client_ID" for client_id.
	var rc rawClaims
	if err := josejson.Unmarshal(payload, &rc); err != nil {
		return nil, &Error{Reason: Malformed, Detail: "claims", Err: err}
	}
	switch {
	case rc.Issuer != v.cfg.Issuer:
		return nil, refuse(WrongIssuer, fmt.Sprintf("iss %q", rc.Issuer))
	case rc.Expiry == nil || rc.IssuedAt == nil || rc.ID == "" || rc.ClientID == "":
		return nil, refuse(MissingClaim, "exp, iat, jti and client_id are required")
	}
	e := &entry{claims: Claims{Issuer: rc.Issuer, Subject: rc.Subject, Audience: rc.Audience,
		Expiry: time.Unix(*rc.Expiry, 0), IssuedAt: time.Unix(*rc.IssuedAt, 0), ID: rc.ID, ClientID: rc.ClientID,
		Scope: rc.Scope, Principal: rc.Principal, KeyID: h.KeyID, SessionID: rc.SID}, key: k}
	if rc.Act != nil {
		e.claims.Actor = rc.Act.Subject
	}
	if rc.Cnf != nil {
		e.claims.JKT = rc.Cnf.JKT
	}
	// canon.Check passed, so the token has a digest.
	e.digest, _ = canon.Digest(raw)
	c := &e.claims
	if rc.NotBefore != nil {
		c.NotBefore = time.Unix(*rc.NotBefore, 0)
	}
	// From here on the signature is good: a refusal returns the entry too.
	switch {
	case !c.hasAudience(v.cfg.Audience):
		return e, refuse(WrongAudience, fmt.Sprintf("aud %q does not contain %q", []string(rc.Audience), v.cfg.Audience))
	case c.Expiry.Sub(c.IssuedAt) > MaxLifetime:
		return e, refuse(TooLong, fmt.Sprintf("exp - iat is %s", c.Expiry.Sub(c.IssuedAt)))
	case c.IssuedAt.After(now.Add(v.cfg.Leeway)):
		return e, refuse(NotYetValid, "iat is in the future")
	}
	e.issued = issueTime(c.ID, c.IssuedAt)
	if err := v.current(e, now); err != nil {
		return e, err
	}
	return e, nil
}

// current checks what may have changed since a token was verified.
func (v *Verifier) current(e *entry, now time.Time) *Error {
	c := &e.claims
	switch {
	case !now.Before(c.Expiry):
		return refuse(Expired, "exp "+c.Expiry.UTC().Format(time.RFC3339))
	case !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.cfg.Leeway)):
		return refuse(NotYetValid, "nbf "+c.NotBefore.UTC().Format(time.RFC3339))
	case (*v.keys.Load())[c.KeyID] != e.key:
		return refuse(UnknownKey, fmt.Sprintf("key %q is no longer published", c.KeyID))
	}
	if d := v.revs.check(e); d != "" {
		return refuse(Revoked, d)
	}
	return nil
}
