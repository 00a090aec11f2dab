package sdk_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// FuzzVerify: whatever the input, Verify returns claims or an *sdk.Error,
// never panics, answers the same the second time (when the token may come
// from the cache), and accepts only tokens whose claims pass every check.
func FuzzVerify(f *testing.F) {
	e := newEnv(f, func(c *sdk.Config) { c.Logger = nil })
	e.ready()
	e.revoke("jti", "revoked-jti")
	for _, s := range verifySeeds(f, e) {
		f.Add(s)
	}
	now := e.clock.Now()
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := e.verify(raw)
		c2, err2 := e.verify(raw)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("second Verify: got %v, first got %v", err2, err)
		}
		if err != nil {
			var se *sdk.Error
			if !errors.As(err, &se) || se.Reason == "" {
				t.Fatalf("got %v (%T), want an *sdk.Error with a reason", err, err)
			}
			return
		}
		if fmt.Sprint(c) != fmt.Sprint(c2) {
			t.Fatalf("second Verify: got %+v, first got %+v", c2, c)
		}
		switch {
		case len(raw) > sdk.MaxTokenSize:
			t.Fatalf("accepted a token of %d bytes", len(raw))
		case c.Issuer != e.iss.URL || !slices.Contains(c.Audience, "https://service.example"):
			t.Fatalf("accepted iss %q aud %q", c.Issuer, c.Audience)
		case !now.Before(c.Expiry) || c.NotBefore.After(now.Add(sdk.DefaultLeeway)) || c.IssuedAt.After(now.Add(sdk.DefaultLeeway)):
			t.Fatalf("accepted times exp %v nbf %v iat %v at %v", c.Expiry, c.NotBefore, c.IssuedAt, now)
		case c.ID == "" || c.ClientID == "" || c.ID == "revoked-jti":
			t.Fatalf("accepted jti %q client_id %q", c.ID, c.ClientID)
		case c.KeyID != e.iss.KeyID():
			t.Fatalf("accepted kid %q", c.KeyID)
		}
		// One spelling per token: what passed is in canonical form, its
		// ES256 signature low.
		if err := canon.Check(raw); err != nil {
			t.Fatalf("accepted %q: %v", raw, err)
		}
		sig, err := base64.RawURLEncoding.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
		if err != nil {
			t.Fatal(err)
		}
		if err := canon.CheckSignature("ES256", sig); err != nil {
			t.Fatalf("accepted %q: %v", raw, err)
		}
	})
}

// verifySeeds are tokens of every shape the adversarial tests use, signed
// by the issuer of this run where they should be.
func verifySeeds(t testing.TB, e *env) []string {
	a := func(claims map[string]any) string { return e.iss.Token(claims) }
	h := func(header map[string]any) string { return e.iss.TokenWithHeader(header, nil) }
	good := a(nil)
	p := strings.Split(good, ".")
	// raw signs a header and claims written by hand, names repeated.
	raw := func(header, claims string) string {
		c, err := json.Marshal(e.iss.Claims(nil))
		if err != nil {
			t.Fatal(err)
		}
		h := `{"alg":"ES256","kid":"` + e.iss.KeyID() + `","typ":"at+jwt"` + header + `}`
		return e.iss.SignRaw([]byte(h), append(c[:len(c)-1], claims+"}"...))
	}
	// edit changes part i of good.
	edit := func(i int, fn func(string) string) string {
		q := slices.Clone(p)
		q[i] = fn(q[i])
		return strings.Join(q, ".")
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	strayBits := func(s string) string {
		return s[:len(s)-1] + string(alphabet[strings.IndexByte(alphabet, s[len(s)-1])|1])
	}
	middle := func(text string) func(string) string {
		return func(s string) string { return s[:len(s)/2] + text + s[len(s)/2:] }
	}
	highS := edit(2, func(s string) string {
		sig, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		n := elliptic.P256().Params().N
		new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(sig[32:])
		return base64.RawURLEncoding.EncodeToString(sig)
	})
	return []string{
		good,
		a(map[string]any{"aud": []string{"https://a.example", "https://service.example"}}),
		a(map[string]any{"exp": e.clock.Now().Add(-time.Second)}),
		a(map[string]any{"nbf": e.clock.Now().Add(time.Hour)}),
		a(map[string]any{"jti": "revoked-jti"}),
		a(map[string]any{"jti": nil}),
		a(map[string]any{"iss": "https://evil.example"}),
		h(map[string]any{"typ": "JWT"}),
		h(map[string]any{"kid": "unknown"}),
		h(map[string]any{"alg": "RS256"}),
		h(map[string]any{"jku": "https://evil.example/jwks", "jwk": map[string]any{"kty": "EC", "crv": "P-256"}}),
		h(map[string]any{"crit": []string{"b64"}, "b64": false}),
		craft(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": e.iss.KeyID()}, e.iss.Claims(nil), nil),
		craft(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": e.iss.KeyID()}, e.iss.Claims(nil), hs256(e.iss.JWKS())),
		`{"payload":"` + p[1] + `","signatures":[{"protected":"` + p[0] + `","signature":"` + p[2] + `"},{"protected":"` + p[0] + `","signature":"` + p[2] + `"}]}`,
		p[0] + "." + p[1],
		good[:len(good)-5],
		"",
		"...",
		"eyJhbGciOiJFUzI1NiJ9.e30.",
		strings.Repeat("A", sdk.MaxTokenSize+1),
		// Other spellings of a good token, and tokens that name a member
		// twice or write a time with a fraction: none may pass.
		highS,
		edit(0, strayBits), edit(1, strayBits), edit(2, strayBits),
		edit(0, middle("\n")), edit(1, middle("\n")), edit(2, middle("\r\n")), good + "\n", " " + good, good + "==",
		raw(`,"kid":"`+e.iss.KeyID()+`"`, ""),
		raw(`,"KID":"other"`, ""),
		raw(`,"crit":null`, ""),
		raw(`,"b64":null`, ""),
		raw("", `,"Client_ID":"mfc_other"`),
		raw("", `,"client_id":"mfc_other"`),
		raw("", `,"cnf":{"jkt":"a","jkt":"b"}`),
		a(map[string]any{"exp": float64(e.clock.Now().Unix()) + 60.5}),
	}
}

// sseSeeds are the seeds of FuzzSSE that live in testdata.
var sseSeeds = []string{
	"retry: 1000\n\nid: 1\nevent: revocation\ndata: {\"seq\":1,\"kind\":\"jti\",\"subject\":\"x\",\"until\":\"2026-11-24T10:05:00Z\",\"at\":\"2026-11-24T10:00:00Z\"}\n\nevent: ready\ndata: {\"seq\":1}\n\n",
	"event: heartbeat\r\ndata: {\"seq\":1,\"time\":\"2026-11-24T10:00:00.123456789Z\"}\r\n\r\n",
	": comment\rdata: a\rdata: b\r\r",
	"\xef\xbb\xbfid: 5\nid: 6\x007\ndata\ndata:\ndata:  x\nevent\nretry: x\n\n",
	"data: unfinished",
}

// TestWriteFuzzCorpus rewrites testdata/fuzz/FuzzVerify and FuzzSSE from the
// seeds above, with -update-corpus. Tokens in them are signed by a key of
// the run that wrote them: they seed shapes, not valid signatures.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("use -update-corpus to rewrite the seed corpora")
	}
	e := newEnv(t, func(c *sdk.Config) { c.Logger = nil })
	e.ready()
	write := func(fuzz string, seeds []string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzVerify", verifySeeds(t, e))
	write("FuzzSSE", sseSeeds)
}
