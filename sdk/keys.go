package sdk

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Bounds on fetching the issuer's metadata and keys.
const (
	maxDocument = 1 << 20
	// refetchInterval is the least time between two fetches of the key set
	// that an unknown kid may cause.
	refetchInterval = 10 * time.Second
	// Background refreshes follow the key set's max-age, within these bounds.
	minKeysAge, maxKeysAge, defaultKeysAge = 10 * time.Second, time.Hour, time.Minute
	fetchTimeout                           = 10 * time.Second
)

// metadata is the part of an RFC 8414 authorization server metadata
// document the verifier uses.
type metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// discover fetches the issuer's metadata: RFC 8414's well-known location
// first, then OpenID Connect Discovery's. The document must name the
// configured issuer exactly, and an https issuer's keys must be fetched
// over https too.
func discover(ctx context.Context, hc *http.Client, issuer string) (*metadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("sdk: issuer %q is not an http or https URL without query or fragment", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	where := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	}
	var errs []error
	for _, w := range where {
		body, _, err := fetch(ctx, hc, w)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var md metadata
		if err := json.Unmarshal(body, &md); err != nil {
			return nil, fmt.Errorf("sdk: %s: %w", w, err)
		}
		if md.Issuer != issuer {
			return nil, fmt.Errorf("sdk: %s names issuer %q, not %q", w, md.Issuer, issuer)
		}
		ju, err := url.Parse(md.JWKSURI)
		if err != nil || (ju.Scheme != "https" && ju.Scheme != "http") || ju.Host == "" || (u.Scheme == "https" && ju.Scheme != "https") {
			return nil, fmt.Errorf("sdk: %s has no usable jwks_uri (%q): an http or https URL, https for an https issuer", w, md.JWKSURI)
		}
		return &md, nil
	}
	return nil, fmt.Errorf("sdk: discovering %s: %w", issuer, errors.Join(errs...))
}

// fetch GETs a document and returns it with its max-age, if it has one.
func fetch(ctx context.Context, hc *http.Client, u string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocument))
		return nil, 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocument {
		return nil, 0, fmt.Errorf("GET %s: document larger than %d bytes", u, maxDocument)
	}
	return body, maxAge(resp.Header.Get("Cache-Control")), nil
}

// maxAge returns the max-age directive of a Cache-Control header, or 0.
func maxAge(cc string) time.Duration {
	for d := range strings.SplitSeq(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(name, "max-age") {
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

// key is a published verification key and the one algorithm it verifies.
type key struct {
	alg jose.SignatureAlgorithm
	pub crypto.PublicKey
}

// keySet maps kid to key. It is never modified once built. A key that a
// refreshed set publishes again, unchanged, keeps its pointer, so tokens it
// verified stay in the cache.
type keySet map[string]*key

// parseKeySet builds a key set from a JWKS document. Keys it cannot use are
// left out, each with a note saying why: a key of an unknown type does not
// spoil the rest. Only public ES256 (P-256), RS256 (2048 bits or more) and
// EdDSA (Ed25519) signing keys with a kid are kept; a key's "alg", if
// present, must be the one its type implies.
func parseKeySet(doc []byte, old keySet) (keySet, []string, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("key set: %w", err)
	}
	ks := keySet{}
	var notes []string
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			notes = append(notes, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		k, err := usable(&jwk)
		if err != nil {
			notes = append(notes, fmt.Sprintf("key %q: %v", jwk.KeyID, err))
			continue
		}
		if _, dup := ks[jwk.KeyID]; dup {
			notes = append(notes, fmt.Sprintf("key %q: kid published twice; the first is kept", jwk.KeyID))
			continue
		}
		if o := old[jwk.KeyID]; o != nil && o.alg == k.alg && o.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.pub) {
			ks[jwk.KeyID] = o
		} else {
			ks[jwk.KeyID] = &k
		}
	}
	return ks, notes, nil
}

func usable(jwk *jose.JSONWebKey) (key, error) {
	switch {
	case jwk.KeyID == "":
		return key{}, errors.New("no kid")
	case jwk.Use != "" && jwk.Use != "sig":
		return key{}, fmt.Errorf("use is %q, not sig", jwk.Use)
	case !jwk.IsPublic():
		return key{}, errors.New("a private key is published; refusing it")
	}
	var k key
	switch pub := jwk.Key.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return key{}, fmt.Errorf("curve %s is not P-256", pub.Curve.Params().Name)
		}
		k = key{jose.ES256, pub}
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return key{}, fmt.Errorf("RSA key of %d bits is too short", pub.N.BitLen())
		}
		k = key{jose.RS256, pub}
	case ed25519.PublicKey:
		k = key{jose.EdDSA, pub}
	default:
		return key{}, fmt.Errorf("key type %T is not accepted", jwk.Key)
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(k.alg) {
		return key{}, fmt.Errorf("alg %q does not fit a key that verifies %s", jwk.Algorithm, k.alg)
	}
	return k, nil
}

// fetchKeys fetches the key set and returns its max-age.
func (v *Verifier) fetchKeys(ctx context.Context) (time.Duration, error) {
	body, age, err := fetch(ctx, v.hc, v.jwksURI)
	if err != nil {
		return 0, err
	}
	var old keySet
	if p := v.keys.Load(); p != nil {
		old = *p
	}
	ks, notes, err := parseKeySet(body, old)
	if err != nil {
		return 0, err
	}
	for _, n := range notes {
		v.log.Warn("sdk: key set: a key is left out", "why", n)
	}
	v.keys.Store(&ks)
	return age, nil
}

// key returns the key kid names. For a kid it does not know it fetches the
// key set again, unless it did less than refetchInterval ago: a flood of
// made-up kids costs the issuer one request per interval.
func (v *Verifier) key(ctx context.Context, kid string) *key {
	if kid == "" {
		return nil
	}
	if k := (*v.keys.Load())[kid]; k != nil {
		return k
	}
	v.refetch(ctx, true)
	return (*v.keys.Load())[kid]
}

// refetch fetches the key set, unless a fetch is under way, in which case it
// waits for that one, or unless limited and the last fetch began less than
// refetchInterval ago. It returns the key set's max-age if it fetched it.
func (v *Verifier) refetch(ctx context.Context, limited bool) (time.Duration, error) {
	v.mu.Lock()
	if ch := v.fetching; ch != nil {
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return 0, nil
	}
	now := v.cfg.Clock()
	if limited && now.Sub(v.lastFetch) < refetchInterval && !now.Before(v.lastFetch) {
		v.mu.Unlock()
		return 0, nil
	}
	ch := make(chan struct{})
	v.fetching = ch
	v.lastFetch = now
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.fetching = nil
		v.mu.Unlock()
		close(ch)
	}()
	// The fetch serves every waiter, so it is bound to the verifier's life,
	// not to the caller's ctx.
	age, err := v.fetchKeys(v.ctx)
	if err != nil {
		v.log.Warn("sdk: fetching the key set failed", "err", err)
		return 0, err
	}
	v.log.Debug("sdk: key set fetched", "limited", limited)
	return age, nil
}

// refreshKeys fetches the key set again whenever its max-age ends, and
// sooner after a failure.
func (v *Verifier) refreshKeys(age time.Duration) {
	for {
		if age <= 0 {
			age = defaultKeysAge
		}
		t := time.NewTimer(min(max(age, minKeysAge), maxKeysAge))
		select {
		case <-v.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if age, err = v.refetch(v.ctx, false); err != nil {
			age = minKeysAge
		}
	}
}
