package ledger_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/ledger"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// b64 is a token part.
func b64(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// padded spells each part of tok in padded base64url: the same token, to
// its digest, in another spelling.
func padded(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = base64.URLEncoding.EncodeToString(b)
	}
	out := strings.Join(parts, ".")
	if out == tok {
		t.Fatal("no part of the token takes padding")
	}
	return out
}

// TestCheckTokens: a token is marked signed only if a key of Mayfly's
// signed what it says, in whatever spelling; anything else a forger can
// make of it, with a kid of Mayfly's or not, is unsigned.
func TestCheckTokens(t *testing.T) {
	env := apptest.New(t)
	owner := env.Human("checker")
	c, _ := env.NewClient(identity.ClientSpec{Name: "checker-svc", Owner: owner})
	genuine := env.Issue(c)
	k, err := env.App.Keys.Key(genuine.KID)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(genuine.AccessToken, ".")
	var claims map[string]any
	if err := json.Unmarshal(mustDecode(t, parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()

	// A stranger's key, named by Mayfly's kid.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: stranger, KeyID: genuine.KID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	strangers, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	// A stranger's key with a crit header Mayfly never signs.
	critSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: stranger, KeyID: genuine.KID}},
		(&jose.SignerOptions{}).WithHeader("crit", []string{"exp"}).WithHeader("exp", now.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	crit, err := jwt.Signed(critSigner).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	// HS256 keyed with the public key's bytes: alg confusion.
	hsInput := b64(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": genuine.KID}) + "." + parts[1]
	mac := hmac.New(sha256.New, k.Public)
	mac.Write([]byte(hsInput))
	hs := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	// alg none, and the genuine signature on other claims.
	none := b64(t, map[string]any{"alg": "none", "kid": genuine.KID}) + "." + parts[1] + "."
	other := map[string]any{}
	for n, v := range claims {
		other[n] = v
	}
	other["exp"] = now.Add(24 * time.Hour).Unix()
	spliced := parts[0] + "." + b64(t, other) + "." + parts[2]
	// The genuine header on an unknown kid.
	unknownKID := b64(t, map[string]any{"alg": string(k.Alg), "typ": "at+jwt", "kid": "no-such-kid"}) + "." + parts[1] + "." + parts[2]

	// Twice over: the second time the genuine token is remembered as
	// verified, and nothing that shares its signature or kid may pass
	// for it.
	cases := []struct {
		name, token string
		want        mayfly.LedgerCheck
		claims      bool // the genuine claims are read
	}{
		{"genuine", genuine.AccessToken, mayfly.LedgerSigned, true},
		{"genuine, padded", padded(t, genuine.AccessToken), mayfly.LedgerSigned, true},
		{"stranger's key", strangers, mayfly.LedgerUnsigned, true},
		{"crit header", crit, mayfly.LedgerUnsigned, true},
		{"alg none", none, mayfly.LedgerUnsigned, true},
		{"HS256 with the public key", hs, mayfly.LedgerUnsigned, true},
		{"other claims, genuine signature", spliced, mayfly.LedgerUnsigned, false},
		{"unknown kid", unknownKID, mayfly.LedgerUnsigned, true},
		{"two parts", parts[0] + "." + parts[1], mayfly.LedgerUnsigned, false},
		{"payload not JSON", parts[0] + ".bm90IGpzb24." + parts[2], mayfly.LedgerUnsigned, false},
	}
	for i := range 2 * len(cases) {
		tc := cases[i%len(cases)]
		t.Run(fmt.Sprintf("%s/%d", tc.name, i/len(cases)+1), func(t *testing.T) {
			rs := []mayfly.LedgerReport{{Token: mayfly.LedgerRawToken(tc.token)}}
			env.App.TokenChecker.CheckTokens(rs)
			r := rs[0]
			if r.Check != tc.want || r.Token != "" {
				t.Fatalf("check %q, token kept %t; want %q, dropped", r.Check, r.Token != "", tc.want)
			}
			if got := r.JTI == genuine.JTI && r.ClientID == c.ID && r.Expires.Unix() == int64(claims["exp"].(float64)); got != tc.claims {
				t.Errorf("claims jti %q, client %q, exp %v: genuine %t; want %t", r.JTI, r.ClientID, r.Expires, got, tc.claims)
			}
		})
	}
	// The digest a report of a padded token gets is the issuance record's.
	recs, err := env.App.Store().Issuances(context.Background(), mayfly.IssuanceFilter{JTI: genuine.JTI})
	if err != nil || len(recs) != 1 {
		t.Fatalf("issuance record: %v, %d", err, len(recs))
	}
	d, err := canon.Digest(padded(t, genuine.AccessToken))
	if err != nil || d != recs[0].Digest {
		t.Errorf("digest of the padded token %q, %v; want %q", d, err, recs[0].Digest)
	}
}

// keyCounter counts the key lookups a TokenChecker makes.
type keyCounter struct {
	ledger.KeyFinder
	n int
}

func (k *keyCounter) Key(kid string) (*mayfly.Key, error) {
	k.n++
	return k.KeyFinder.Key(kid)
}

// TestCheckTokensRemembers: a token verified once is not verified again,
// in either spelling; a token that failed is checked each time.
func TestCheckTokensRemembers(t *testing.T) {
	env := apptest.New(t)
	c, _ := env.NewClient(identity.ClientSpec{Name: "remember-svc", Owner: env.Human("remember")})
	genuine := env.Issue(c).AccessToken
	keys := &keyCounter{KeyFinder: env.App.Keys}
	checker := ledger.NewTokenChecker(keys)
	parts := strings.Split(genuine, ".")
	unknown := b64(t, map[string]any{"alg": "ES256", "kid": "no-such-kid"}) + "." + parts[1] + "." + parts[2]
	for i, tc := range []struct {
		token   string
		want    mayfly.LedgerCheck
		lookups int // in all, after this check
	}{
		{genuine, mayfly.LedgerSigned, 1},
		{genuine, mayfly.LedgerSigned, 1},
		{padded(t, genuine), mayfly.LedgerSigned, 1},
		{unknown, mayfly.LedgerUnsigned, 2},
		{unknown, mayfly.LedgerUnsigned, 3},
	} {
		rs := []mayfly.LedgerReport{{Token: mayfly.LedgerRawToken(tc.token)}}
		checker.CheckTokens(rs)
		if rs[0].Check != tc.want || keys.n != tc.lookups {
			t.Errorf("check %d: %q after %d key lookups; want %q after %d", i, rs[0].Check, keys.n, tc.want, tc.lookups)
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(fmt.Errorf("%q: %w", s, err))
	}
	return b
}
