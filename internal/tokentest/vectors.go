// Package tokentest builds the tokens of the shared verification vectors
// (testdata/verify_vectors.json at the module root). The server's verifier
// (internal/token) and the SDK's both run the vectors, from this one
// assembly of their tokens; each test supplies its own keys and clock.
package tokentest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/sdk/canon"
)

type File struct {
	Description []string `json:"description"`
	Base        struct {
		Header map[string]any `json:"header"`
		Claims map[string]any `json:"claims"`
	} `json:"base"`
	Vectors []Vector `json:"vectors"`
}

type Vector struct {
	Name          string         `json:"name"`
	Header        map[string]any `json:"header"`
	Claims        map[string]any `json:"claims"`
	KID           string         `json:"kid"`
	Sign          string         `json:"sign"`
	Serialization string         `json:"serialization"`
	Tamper        string         `json:"tamper"`
	MinBytes      int            `json:"min_bytes"`
	MaxBytes      int            `json:"max_bytes"`
	Expect        string         `json:"expect"`
	Only          string         `json:"only"`
	Why           string         `json:"why"`
	Note          string         `json:"note"`
	ServerError   string         `json:"server_error"`
	SDKReason     string         `json:"sdk_reason"`
}

// Load reads the vectors at path and checks that each says what it needs
// to.
func Load(t *testing.T, path string) *File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		switch {
		case v.Name == "" || seen[v.Name]:
			t.Fatalf("Vector %q: names must be present and unique", v.Name)
		case v.Expect != "accept" && v.Expect != "reject":
			t.Fatalf("Vector %q: expect %q, want accept or reject", v.Name, v.Expect)
		case v.Only != "" && v.Only != "server" && v.Only != "sdk":
			t.Fatalf("Vector %q: only %q, want server or sdk", v.Name, v.Only)
		case v.Only != "" && v.Why == "":
			t.Fatalf("Vector %q applies to one verifier and does not say why", v.Name)
		case v.Expect == "reject" && v.Only != "sdk" && v.ServerError == "":
			t.Fatalf("Vector %q: a rejection needs server_error", v.Name)
		case v.Expect == "reject" && v.Only != "server" && v.SDKReason == "":
			t.Fatalf("Vector %q: a rejection needs sdk_reason", v.Name)
		}
		seen[v.Name] = true
	}
	return &f
}

// Env is what a verifier's environment gives the assembly of tokens.
type Env struct {
	Now      time.Time
	Issuer   string
	Audience string
	JTI      func() string
	KIDs     map[string]string // kid choice (current, retired, next) to kid
	// Sign makes a compact JWS of header and payload with the private key
	// of a kid choice, or of the stranger key.
	Sign      func(key string, header map[string]any, payload []byte) string
	PublicDER []byte // the current key's SubjectPublicKeyInfo
}

const UnknownKID = "no-such-key"

// Assemble makes the token v describes.
func (e *Env) Assemble(t *testing.T, f *File, v Vector) string {
	t.Helper()
	kid := cmpOr(v.KID, "current")
	key := "current" // the key the kid names, if there is one
	if _, ok := e.KIDs[kid]; ok {
		key = kid
	} else if kid != "unknown" {
		t.Fatalf("Vector %q: no key %q in this environment", v.Name, kid)
	}
	header := e.resolve(t, f.Base.Header, v.Header, func(s string) any {
		switch s {
		case "$kid":
			if kid == "unknown" {
				return UnknownKID
			}
			return e.KIDs[kid]
		case "$alg":
			return "ES256"
		}
		return s
	})
	claim := func(s string) any {
		if rest, ok := strings.CutPrefix(s, "now"); ok {
			n, err := strconv.ParseInt(cmpOr(rest, "0"), 10, 64)
			if err != nil {
				t.Fatalf("Vector %q: time %q", v.Name, s)
			}
			return e.Now.Unix() + n
		}
		if s == "$jti" {
			return e.JTI()
		}
		return strings.NewReplacer("$issuer", e.Issuer, "$audience", e.Audience).Replace(s)
	}
	signed := e.resolve(t, f.Base.Claims, nil, claim)
	claims := e.resolve(t, signed, v.Claims, claim)
	if v.Tamper != "" && v.Tamper != "payload" {
		t.Fatalf("Vector %q: tamper %q", v.Name, v.Tamper)
	}
	if v.Tamper == "" {
		signed = claims
	}

	token := func(pad int) string {
		sc, c := signed, claims
		if pad > 0 {
			sc, c = maps.Clone(sc), maps.Clone(c)
			sc["pad"], c["pad"] = strings.Repeat("x", pad), strings.Repeat("x", pad)
		}
		raw := e.signed(t, v, key, header, mustMarshal(t, sc))
		if v.Tamper != "" {
			parts := strings.Split(raw, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString(mustMarshal(t, c))
			raw = strings.Join(parts, ".")
		}
		return e.serialize(t, v, raw, header, mustMarshal(t, sc))
	}
	switch {
	case v.MinBytes > 0: // the least padding that reaches MinBytes
		lo, hi := 0, v.MinBytes
		for lo < hi {
			if mid := (lo + hi) / 2; len(token(mid)) >= v.MinBytes {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		if raw := token(lo); len(raw) >= v.MinBytes {
			return raw
		}
		t.Fatalf("Vector %q: no padding makes the token %d bytes long", v.Name, v.MinBytes)
	case v.MaxBytes > 0: // the most padding that stays within MaxBytes
		lo, hi := 0, v.MaxBytes
		for lo < hi {
			if mid := (lo + hi + 1) / 2; len(token(mid)) <= v.MaxBytes {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		if raw := token(lo); len(raw) <= v.MaxBytes {
			return raw
		}
		t.Fatalf("Vector %q: the token is longer than %d bytes even unpadded", v.Name, v.MaxBytes)
	}
	return token(0)
}

// resolve lays over on base (nil removes a field) and resolves every string
// value with fn.
func (e *Env) resolve(t *testing.T, base, over map[string]any, fn func(string) any) map[string]any {
	t.Helper()
	out := maps.Clone(base)
	for k, v := range over {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	for k, v := range out {
		switch v := v.(type) {
		case string:
			out[k] = fn(v)
		case []any:
			l := make([]any, len(v))
			for i, x := range v {
				if s, ok := x.(string); ok {
					l[i] = fn(s)
				} else {
					l[i] = x
				}
			}
			out[k] = l
		}
	}
	return out
}

// signed signs header and payload as the Vector says.
func (e *Env) signed(t *testing.T, v Vector, key string, header map[string]any, payload []byte) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(mustMarshal(t, header)) + "." + base64.RawURLEncoding.EncodeToString(payload)
	switch cmpOr(v.Sign, "key") {
	case "key":
		return e.Sign(key, header, payload)
	case "stranger":
		return e.Sign("stranger", header, payload)
	case "none":
		return input + "."
	case "hs256-public-key":
		m := hmac.New(sha256.New, e.PublicDER)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	t.Fatalf("Vector %q: sign %q", v.Name, v.Sign)
	return ""
}

// serialize puts a compact token into the Vector's serialization.
func (e *Env) serialize(t *testing.T, v Vector, raw string, header map[string]any, payload []byte) string {
	t.Helper()
	p := strings.Split(raw, ".")
	switch cmpOr(v.Serialization, "compact") {
	case "compact":
		return raw
	case "compact-four-parts":
		return raw + "." + p[2]
	case "flattened-json":
		return string(mustMarshal(t, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]}))
	case "general-json-two-signatures":
		h := maps.Clone(header)
		h["kid"] = "stranger"
		q := strings.Split(e.Sign("stranger", h, payload), ".")
		return string(mustMarshal(t, map[string]any{"payload": p[1], "signatures": []map[string]string{
			{"protected": p[0], "signature": p[2]}, {"protected": q[0], "signature": q[2]}}}))
	}
	t.Fatalf("Vector %q: serialization %q", v.Name, v.Serialization)
	return ""
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ES256Sign makes a compact JWS with an ECDSA P-256 key, with a low S as
// Mayfly signs.
func ES256Sign(t *testing.T, k *ecdsa.PrivateKey, header map[string]any, payload []byte) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(mustMarshal(t, header)) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	canon.LowS(sig)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
