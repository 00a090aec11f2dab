package token_test

// Fuzz targets for the places the token service parses attacker input:
// access tokens (Verify), client assertions (Authenticate) and subject
// tokens (Exchange).
//
// The service is assembled as internal/app does it, on SQLite in a
// temporary directory, with a fixed clock and a seeded random source. The
// seeded source and an EdDSA ring (Ed25519 keys come from the given reader
// and its signatures are deterministic) make every process build the same
// keys, client IDs and tokens, so the valid-token seeds still name real keys
// in the fuzzing engine's worker processes.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/revoke"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/store/sqlite"
)

const (
	fuzzIssuer   = "https://mayfly.test"
	fuzzEndpoint = fuzzIssuer + "/oauth2/token"
	fuzzKID      = "fuzz-ed25519"
)

var fuzzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fuzzClock struct{}

func (fuzzClock) Now() time.Time { return fuzzNow }

// fuzzRand is a seeded, goroutine-safe random source.
type fuzzRand struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func (r *fuzzRand) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Read(b)
}

type fuzzEnv struct {
	svc   *token.Service
	ids   *identity.Service
	owner string

	// issued maps the jti of every token the service issued and did not
	// revoke to the claims it put in it, and raw to the token itself.
	issued map[string]token.Claims
	raw    map[string]string
	edTok  string // issued on the deterministic EdDSA ring
	edTok2 string
	esTok  string // issued on an ES256 ring: valid only in this process
	revTok string // issued, then revoked

	jwtClient    string             // a private_key_jwt client
	jwtKey       ed25519.PrivateKey // its key, from a fixed seed
	secretClient string
	usedJTI      string // a jti jwtClient has already used

	// exchanger may exchange in namespace customer, with jwtKey too; its
	// subject token with usedJTI was exchanged once.
	exchanger *token.Authenticated
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	rnd := &fuzzRand{r: mrand.NewChaCha8([32]byte{'m', 'a', 'y', 'f', 'l', 'y', ' ', 'f', 'u', 'z', 'z'})}
	log := slog.New(slog.DiscardHandler)
	var clock fuzzClock

	root := make([]byte, seal.RootKeySize)
	_, err := io.ReadFull(rnd, root)
	must(err)
	sealer, err := seal.New(root)
	must(err)
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "mayfly.db"))
	must(err)
	tb.Cleanup(func() { st.Close() })
	lg, err := audit.Open(ctx, audit.Config{Store: st, Sealer: sealer, Clock: clock, Rand: rnd, Log: log, Origin: "mayfly.fuzz/audit"})
	must(err)
	tb.Cleanup(lg.Close) // runs before the store closes
	rev, err := revoke.New(ctx, st, clock)
	must(err)
	ks, err := keys.New(ctx, keys.Config{Store: st, Sealer: sealer, Revoker: rev, Audit: lg, Clock: clock, Rand: rnd, Log: log})
	must(err)
	ids := identity.New(identity.Config{Store: st, Locks: st, Keys: ks, Revoker: rev, Audit: lg, Clock: clock, Rand: rnd, Log: log})
	svc := token.New(token.Config{
		Issuer: fuzzIssuer, TokenEndpoint: fuzzEndpoint, Store: st, Keys: ks,
		Identity: ids, Revoker: rev, Audit: lg, Clock: clock, Rand: rnd, Log: log,
	})

	e := &fuzzEnv{svc: svc, ids: ids, issued: map[string]token.Claims{}, raw: map[string]string{}}
	_, err = ks.CreateRing(ctx, "fuzz", mayfly.EdDSA, mayfly.DefaultKeyLifetime, nil)
	must(err)
	owner, err := ids.CreatePrincipal(ctx, "owner", mayfly.Human, "")
	must(err)
	e.owner = owner.ID
	c, _, err := ids.CreateClient(ctx, identity.ClientSpec{Name: "fuzz", Owner: owner.ID, Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example", "https://other.example"}, Ring: "fuzz"})
	must(err)
	e.secretClient = c.ID

	issue := func(c *mayfly.Client, req token.Request) string {
		tb.Helper()
		a, err := svc.Admit(ctx, c)
		must(err)
		tok, err := svc.Issue(ctx, a, req)
		must(err)
		return tok.AccessToken
	}
	record := func(raw string) {
		tb.Helper()
		parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
		must(err)
		var cl token.Claims
		must(parsed.UnsafeClaimsWithoutVerification(&cl))
		e.issued[cl.ID], e.raw[cl.ID] = cl, raw
	}
	e.edTok = issue(c, token.Request{Scope: "read"})
	e.edTok2 = issue(c, token.Request{Scope: "read write", Audience: []string{"https://other.example", "https://api.example"}})
	e.revTok = issue(c, token.Request{})
	admitted, err := svc.Admit(ctx, c)
	must(err)
	must(svc.Revoke(ctx, admitted, e.revTok))
	record(e.edTok)
	record(e.edTok2)

	seed := sha256.Sum256([]byte("mayfly fuzz client assertion key"))
	e.jwtKey = ed25519.NewKeyFromSeed(seed[:])
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: e.jwtKey.Public(), KeyID: fuzzKID, Algorithm: string(jose.EdDSA), Use: "sig"}}})
	must(err)
	jc, _, err := ids.CreateClient(ctx, identity.ClientSpec{Name: "fuzz-jwt", Owner: owner.ID, Scopes: []string{"read"}, Ring: "fuzz", JWKS: jwks})
	must(err)
	e.jwtClient = jc.ID

	// A valid assertion authenticates once; from then on it is a replay.
	e.usedJTI = "fuzz-seed-jti"
	got, err := svc.Authenticate(ctx, token.Credentials{Assertion: e.assertion(tb, nil), AssertionType: token.AssertionType})
	if err != nil || got.Client().ID != e.jwtClient {
		tb.Fatalf("control: valid assertion: got client %v, error %v; want client %s", got, err, e.jwtClient)
	}

	xc, _, err := ids.CreateClient(ctx, identity.ClientSpec{Name: "fuzz-exchange", Owner: owner.ID, Scopes: []string{"read"}, Ring: "fuzz", JWKS: jwks,
		Exchange: []string{"customer"}})
	must(err)
	e.exchanger, err = svc.Admit(ctx, xc)
	must(err)
	if _, err := svc.Exchange(ctx, e.exchanger, e.exchange(tb, nil), token.Request{}, nil); err != nil {
		tb.Fatalf("control: valid subject token: got error %v, want none", err)
	}

	// Last, because ECDSA keys do not come from the seeded source: an
	// ES256 token that only this process can verify.
	must(ks.EnsureRing(ctx, keys.DefaultRing))
	ec, _, err := ids.CreateClient(ctx, identity.ClientSpec{Name: "fuzz-es256", Owner: owner.ID, Scopes: []string{"read"}})
	must(err)
	e.esTok = issue(ec, token.Request{})
	record(e.esTok)
	return e
}

// exchange is a token exchange of a subject token with valid claims for
// the exchanger, changed by edit (a nil value deletes a claim).
func (e *fuzzEnv) exchange(tb testing.TB, edit map[string]any) token.Exchange {
	tb.Helper()
	claims := map[string]any{
		"iss": e.exchanger.Client().ID, "sub": "customer:48213377", "aud": fuzzIssuer, "jti": e.usedJTI,
		"iat": fuzzNow.Unix(), "exp": fuzzNow.Add(2 * time.Minute).Unix(),
	}
	for k, v := range edit {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	return token.Exchange{SubjectToken: fuzzSign(tb, jose.EdDSA, e.jwtKey, fuzzKID, "", claims), SubjectTokenType: api.TokenTypeJWT}
}

// assertion signs valid claims for the JWT client, changed by edit (a nil
// value deletes a claim).
func (e *fuzzEnv) assertion(tb testing.TB, edit map[string]any) string {
	tb.Helper()
	claims := map[string]any{
		"iss": e.jwtClient, "sub": e.jwtClient, "aud": fuzzEndpoint, "jti": e.usedJTI,
		"iat": fuzzNow.Unix(), "exp": fuzzNow.Add(5 * time.Minute).Unix(),
	}
	for k, v := range edit {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	return fuzzSign(tb, jose.EdDSA, e.jwtKey, fuzzKID, "", claims)
}

func fuzzSign(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, claims any) string {
	tb.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// fuzzSegment re-encodes segment i of a compact JWS after fn changes its bytes.
func fuzzSegment(tb testing.TB, raw string, i int, fn func([]byte) []byte) string {
	tb.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		tb.Fatal(err)
	}
	parts[i] = base64.RawURLEncoding.EncodeToString(fn(b))
	return strings.Join(parts, ".")
}

// fuzzHeader replaces a JWS's protected header, keeping payload and signature.
func fuzzHeader(tb testing.TB, raw string, header map[string]any) string {
	tb.Helper()
	return fuzzSegment(tb, raw, 0, func([]byte) []byte {
		b, err := json.Marshal(header)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	})
}

func fuzzHS256(header map[string]any, payload, key []byte) string {
	h, _ := json.Marshal(header)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func payloadOf(tb testing.TB, raw string) []byte {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func kidOfToken(tb testing.TB, raw string) string {
	tb.Helper()
	var h struct {
		KID string `json:"kid"`
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		tb.Fatal(err)
	}
	return h.KID
}

func FuzzVerify(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()

	// The service's own tokens verify, with the claims it issued.
	for _, raw := range []string{e.edTok, e.edTok2, e.esTok} {
		cl, err := e.svc.Verify(raw)
		if err != nil {
			f.Fatalf("control: Verify of an issued token: %v", err)
		}
		if want := e.issued[cl.ID]; !reflect.DeepEqual(*cl, want) {
			f.Fatalf("control: got claims %+v, want %+v", *cl, want)
		}
	}

	kid := kidOfToken(f, e.edTok)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	_, strangerEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payloadOf(f, e.edTok), &claims); err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		e.edTok, e.edTok2, e.esTok, e.revTok,
		"", ".", "..", "a.b.c", "e30.e30.", "e30.e30.e30",
		e.edTok[:len(e.edTok)-1],
		e.edTok[:strings.LastIndexByte(e.edTok, '.')+1],
		e.edTok + "." + strings.Split(e.edTok, ".")[2],
		fuzzSegment(f, e.edTok, 1, func(b []byte) []byte { return []byte(strings.Replace(string(b), `"read"`, `"write"`, 1)) }),
		fuzzSegment(f, e.edTok, 2, func(b []byte) []byte { b[0] ^= 0x80; return b }),
		fuzzHeader(f, e.edTok, map[string]any{"alg": "none", "kid": kid, "typ": "at+jwt"}),
		fuzzHeader(f, e.edTok, map[string]any{"alg": "EdDSA", "kid": kid, "typ": "JWT"}),
		fuzzHeader(f, e.edTok, map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}),
		fuzzHeader(f, e.edTok, map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt", "crit": []string{"exp"}, "exp": 1}),
		fuzzHeader(f, e.edTok, map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt", "b64": false, "crit": []string{"b64"}}),
		fuzzHS256(map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"}, payloadOf(f, e.edTok), []byte(kid)),
		fuzzSign(f, jose.ES256, stranger, kid, "at+jwt", claims),
		fuzzSign(f, jose.EdDSA, strangerEd, kid, "at+jwt", claims),
		fuzzSign(f, jose.EdDSA, strangerEd, "unknown", "at+jwt", claims),
		strings.Repeat("A", token.MaxTokenSize+1),
		// Other spellings of genuine tokens, and tokens that say something
		// twice: none may pass.
		fuzzHighS(f, e.esTok),
		fuzzEd25519SPlusL(f, e.edTok),
		e.edTok + "\n",
		"\t" + e.edTok,
		e.edTok + "==",
		fuzzHeader(f, e.edTok, map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt", "crit": nil}),
		fuzzSegment(f, e.edTok, 0, func(b []byte) []byte { return append(b[:len(b)-1], []byte(`,"kid":"`+kid+`"}`)...) }),
		fuzzSegment(f, e.edTok, 0, func(b []byte) []byte { return append(b[:len(b)-1], []byte(`,"KID":"`+kid+`"}`)...) }),
		fuzzSegment(f, e.edTok, 1, func(b []byte) []byte { return append(b[:len(b)-1], []byte(`,"Client_ID":"mfc_other"}`)...) }),
		fuzzSegment(f, e.edTok, 1, func(b []byte) []byte { return append(b[:len(b)-1], []byte(`,"cnf":{"jkt":"a","jkt":"b"}}`)...) }),
	}
	for i := range 3 {
		seeds = append(seeds, fuzzStrayBits(f, e.edTok, i), fuzzInsert(e.edTok, i, "\n"), fuzzInsert(e.esTok, i, "\r\n"))
	}
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		cl, err := e.svc.Verify(raw)
		if err != nil {
			if cl != nil {
				t.Fatalf("Verify returned claims %+v with error %v", cl, err)
			}
			if !errors.Is(err, mayfly.ErrInvalid) {
				t.Fatalf("got error %v (code %s), want one matching mayfly.ErrInvalid", err, mayfly.ErrorCode(err))
			}
			if got := e.svc.Introspect(ctx, raw); got != nil {
				t.Fatalf("Introspect returned claims %+v for a token Verify refused (%v)", got, err)
			}
			return
		}
		if cl == nil {
			t.Fatalf("Verify returned neither claims nor an error")
		}
		want, ok := e.issued[cl.ID]
		if !ok {
			t.Fatalf("Verify(%q) accepted claims %+v the service never issued", raw, *cl)
		}
		if !reflect.DeepEqual(*cl, want) {
			t.Fatalf("Verify(%q) returned claims %+v, want the issued %+v", raw, *cl, want)
		}
		if raw != e.raw[cl.ID] {
			t.Fatalf("Verify accepted %q, another spelling of the issued %q", raw, e.raw[cl.ID])
		}
	})
}

// fuzzHighS turns an ES256 token's signature (R, S) into (R, n-S), which
// verifies as well.
func fuzzHighS(tb testing.TB, raw string) string {
	tb.Helper()
	return fuzzSegment(tb, raw, 2, func(sig []byte) []byte {
		n := elliptic.P256().Params().N
		s := new(big.Int).SetBytes(sig[32:])
		s.Sub(n, s).FillBytes(sig[32:])
		return sig
	})
}

// fuzzEd25519SPlusL adds the group order L to an EdDSA signature's S, kept
// little-endian in its last 32 bytes: the same S modulo L.
func fuzzEd25519SPlusL(tb testing.TB, raw string) string {
	tb.Helper()
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	return fuzzSegment(tb, raw, 2, func(sig []byte) []byte {
		s := slices.Clone(sig[32:])
		slices.Reverse(s)
		new(big.Int).Add(new(big.Int).SetBytes(s), l).FillBytes(s)
		slices.Reverse(s)
		copy(sig[32:], s)
		return sig
	})
}

// fuzzStrayBits sets bits beyond the last byte in segment i's last
// character, if the segment has any.
func fuzzStrayBits(tb testing.TB, raw string, i int) string {
	tb.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	parts := strings.Split(raw, ".")
	p := parts[i]
	parts[i] = p[:len(p)-1] + string(alphabet[strings.IndexByte(alphabet, p[len(p)-1])|1])
	return strings.Join(parts, ".")
}

// fuzzInsert puts text in the middle of segment i.
func fuzzInsert(raw string, i int, text string) string {
	parts := strings.Split(raw, ".")
	parts[i] = parts[i][:len(parts[i])/2] + text + parts[i][len(parts[i])/2:]
	return strings.Join(parts, ".")
}

func FuzzAuthenticateAssertion(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	_, strangerEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	used := e.assertion(f, nil)
	valid := func(edit map[string]any) string {
		if edit["jti"] == nil {
			edit["jti"] = "fresh"
		}
		return e.assertion(f, edit)
	}
	pub := []byte(e.jwtKey.Public().(ed25519.PublicKey))
	claims := map[string]any{"iss": e.jwtClient, "sub": e.jwtClient, "aud": fuzzEndpoint, "jti": "x", "exp": fuzzNow.Add(time.Minute).Unix()}
	claimsJSON, _ := json.Marshal(claims)
	seeds := []struct{ assertion, clientID string }{
		{used, ""},
		{used, e.jwtClient},
		{used, e.secretClient},
		{valid(map[string]any{"aud": "https://evil.example"}), ""},
		{valid(map[string]any{"exp": fuzzNow.Add(-time.Hour).Unix(), "iat": fuzzNow.Add(-2 * time.Hour).Unix()}), ""},
		{valid(map[string]any{"exp": fuzzNow.Add(2 * time.Hour).Unix()}), ""},
		{valid(map[string]any{"exp": nil}), ""},
		{e.assertion(f, map[string]any{"jti": nil}), ""},
		{valid(map[string]any{"iss": e.secretClient}), ""},
		{valid(map[string]any{"iss": e.secretClient, "sub": e.secretClient}), ""},
		{valid(map[string]any{"iss": "mfc_nobody", "sub": "mfc_nobody"}), ""},
		{valid(map[string]any{"nbf": fuzzNow.Add(time.Hour).Unix()}), ""},
		{fuzzSign(f, jose.ES256, stranger, fuzzKID, "", claims), ""},
		{fuzzSign(f, jose.EdDSA, strangerEd, fuzzKID, "", claims), ""},
		{fuzzSign(f, jose.EdDSA, strangerEd, "", "", claims), e.jwtClient},
		{fuzzHS256(map[string]any{"alg": "HS256", "kid": fuzzKID}, claimsJSON, pub), ""},
		{fuzzHeader(f, used, map[string]any{"alg": "none", "kid": fuzzKID}), ""},
		{fuzzHeader(f, used, map[string]any{"alg": "ES256", "kid": fuzzKID}), ""},
		{"", ""},
		{"", e.jwtClient},
		{"a.b.c", ""},
		{"e30.e30.", ""},
		{strings.Repeat("A", token.MaxTokenSize+1), ""},
	}
	for _, s := range seeds {
		f.Add(s.assertion, s.clientID)
	}

	f.Fuzz(func(t *testing.T, assertion, clientID string) {
		c, err := e.svc.Authenticate(ctx, token.Credentials{ClientID: clientID, Assertion: assertion, AssertionType: token.AssertionType})
		if err == nil || c != nil {
			t.Fatalf("Authenticate(%q, client_id %q) got client %v, error %v; want no client and an error", assertion, clientID, c, err)
		}
		if !errors.Is(err, mayfly.ErrUnauthenticated) && !errors.Is(err, mayfly.ErrInvalid) {
			t.Fatalf("got error %v (code %s), want one matching mayfly.ErrUnauthenticated or mayfly.ErrInvalid", err, mayfly.ErrorCode(err))
		}
	})
}

func FuzzExchange(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()
	_, strangerEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	used := e.exchange(f, nil).SubjectToken
	valid := func(edit map[string]any) string {
		if _, ok := edit["jti"]; !ok {
			edit["jti"] = "fresh"
		}
		return e.exchange(f, edit).SubjectToken
	}
	pub := []byte(e.jwtKey.Public().(ed25519.PublicKey))
	claims := map[string]any{"iss": e.exchanger.Client().ID, "sub": "customer:1", "aud": fuzzIssuer, "jti": "x", "iat": fuzzNow.Unix(),
		"exp": fuzzNow.Add(time.Minute).Unix()}
	claimsJSON, _ := json.Marshal(claims)
	for _, tok := range []string{
		used,
		valid(map[string]any{"aud": fuzzEndpoint}),
		valid(map[string]any{"exp": fuzzNow.Add(-time.Hour).Unix(), "iat": fuzzNow.Add(-2 * time.Hour).Unix()}),
		valid(map[string]any{"exp": fuzzNow.Add(10 * time.Minute).Unix()}),
		valid(map[string]any{"exp": nil}),
		valid(map[string]any{"iat": nil}),
		valid(map[string]any{"jti": nil}),
		valid(map[string]any{"iss": e.jwtClient}),
		valid(map[string]any{"sub": "48213377"}),
		valid(map[string]any{"sub": "staff:1"}),
		valid(map[string]any{"sub": "customer:"}),
		valid(map[string]any{"sub": "Customer:1"}),
		valid(map[string]any{"sub": "customer:a\u0000b"}),
		fuzzSign(f, jose.EdDSA, strangerEd, fuzzKID, "", claims),
		fuzzHS256(map[string]any{"alg": "HS256", "kid": fuzzKID}, claimsJSON, pub),
		fuzzHeader(f, used, map[string]any{"alg": "none", "kid": fuzzKID}),
		"", "a.b.c", "e30.e30.",
	} {
		f.Add(tok, api.TokenTypeJWT)
	}
	f.Add(used, api.TokenTypeAccess)

	f.Fuzz(func(t *testing.T, subjectToken, subjectTokenType string) {
		x := token.Exchange{SubjectToken: subjectToken, SubjectTokenType: subjectTokenType}
		tok, err := e.svc.Exchange(ctx, e.exchanger, x, token.Request{}, nil)
		if err == nil || tok != nil {
			t.Fatalf("Exchange(%q, %q) got a token, error %v; want none and an error", subjectToken, subjectTokenType, err)
		}
		if !errors.Is(err, mayfly.ErrInvalid) && !errors.Is(err, mayfly.ErrPermissionDenied) {
			t.Fatalf("got error %v (code %s), want one matching mayfly.ErrInvalid or mayfly.ErrPermissionDenied", err, mayfly.ErrorCode(err))
		}
	})
}

// TestFuzzEnvIsDeterministic guards the premise of the checked-in seeds:
// two processes building the fuzz environment issue the same EdDSA tokens.
func TestFuzzEnvIsDeterministic(t *testing.T) {
	a, b := newFuzzEnv(t), newFuzzEnv(t)
	for _, tc := range []struct{ name, a, b string }{
		{"token", a.edTok, b.edTok},
		{"second token", a.edTok2, b.edTok2},
		{"client", a.jwtClient, b.jwtClient},
		{"assertion", a.assertion(t, nil), b.assertion(t, nil)},
		{"subject token", a.exchange(t, nil).SubjectToken, b.exchange(t, nil).SubjectToken},
	} {
		if tc.a != tc.b {
			t.Errorf("%s: got %q, want %q", tc.name, tc.b, tc.a)
		}
	}
	// The keys are the same keys: one environment's token verifies in the other.
	if _, err := b.svc.Verify(a.edTok); err != nil {
		t.Errorf("got error %v verifying an identical token, want none", err)
	}
}
