package sdk_test

// The shared verification vectors (testdata/verify_vectors.json at the
// module root) against the SDK's Verifier. internal/token/vectors_test.go
// runs the same file against the server's Service.Verify; the two assemble
// tokens the same way, each with its own copy of the code, since these
// tests may import nothing of the server's.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

const vectorsFile = "../testdata/verify_vectors.json"

type vectorFile struct {
	Description []string `json:"description"`
	Base        struct {
		Header map[string]any `json:"header"`
		Claims map[string]any `json:"claims"`
	} `json:"base"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
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

// loadVectors reads the vectors and checks that each says what it needs to.
func loadVectors(t *testing.T) *vectorFile {
	t.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f vectorFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		switch {
		case v.Name == "" || seen[v.Name]:
			t.Fatalf("vector %q: names must be present and unique", v.Name)
		case v.Expect != "accept" && v.Expect != "reject":
			t.Fatalf("vector %q: expect %q, want accept or reject", v.Name, v.Expect)
		case v.Only != "" && v.Only != "server" && v.Only != "sdk":
			t.Fatalf("vector %q: only %q, want server or sdk", v.Name, v.Only)
		case v.Only != "" && v.Why == "":
			t.Fatalf("vector %q applies to one verifier and does not say why", v.Name)
		case v.Expect == "reject" && v.Only != "sdk" && v.ServerError == "":
			t.Fatalf("vector %q: a rejection needs server_error", v.Name)
		case v.Expect == "reject" && v.Only != "server" && v.SDKReason == "":
			t.Fatalf("vector %q: a rejection needs sdk_reason", v.Name)
		}
		seen[v.Name] = true
	}
	return &f
}

// vectorEnv is what a verifier's environment gives the assembly of tokens.
type vectorEnv struct {
	now      time.Time
	issuer   string
	audience string
	jti      func() string
	kids     map[string]string // kid choice (current, retired, next) to kid
	// sign makes a compact JWS of header and payload with the private key
	// of a kid choice, or of the stranger key.
	sign      func(key string, header map[string]any, payload []byte) string
	publicDER []byte // the current key's SubjectPublicKeyInfo
}

const unknownKID = "no-such-key"

// assemble makes the token v describes.
func (e *vectorEnv) assemble(t *testing.T, f *vectorFile, v vector) string {
	t.Helper()
	kid := cmpOr(v.KID, "current")
	key := "current" // the key the kid names, if there is one
	if _, ok := e.kids[kid]; ok {
		key = kid
	} else if kid != "unknown" {
		t.Fatalf("vector %q: no key %q in this environment", v.Name, kid)
	}
	header := e.resolve(t, f.Base.Header, v.Header, func(s string) any {
		switch s {
		case "$kid":
			if kid == "unknown" {
				return unknownKID
			}
			return e.kids[kid]
		case "$alg":
			return "ES256"
		}
		return s
	})
	claim := func(s string) any {
		if rest, ok := strings.CutPrefix(s, "now"); ok {
			n, err := strconv.ParseInt(cmpOr(rest, "0"), 10, 64)
			if err != nil {
				t.Fatalf("vector %q: time %q", v.Name, s)
			}
			return e.now.Unix() + n
		}
		if s == "$jti" {
			return e.jti()
		}
		return strings.NewReplacer("$issuer", e.issuer, "$audience", e.audience).Replace(s)
	}
	signed := e.resolve(t, f.Base.Claims, nil, claim)
	claims := e.resolve(t, signed, v.Claims, claim)
	if v.Tamper != "" && v.Tamper != "payload" {
		t.Fatalf("vector %q: tamper %q", v.Name, v.Tamper)
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
		t.Fatalf("vector %q: no padding makes the token %d bytes long", v.Name, v.MinBytes)
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
		t.Fatalf("vector %q: the token is longer than %d bytes even unpadded", v.Name, v.MaxBytes)
	}
	return token(0)
}

// resolve lays over on base (nil removes a field) and resolves every string
// value with fn.
func (e *vectorEnv) resolve(t *testing.T, base, over map[string]any, fn func(string) any) map[string]any {
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

// signed signs header and payload as the vector says.
func (e *vectorEnv) signed(t *testing.T, v vector, key string, header map[string]any, payload []byte) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(mustMarshal(t, header)) + "." + base64.RawURLEncoding.EncodeToString(payload)
	switch cmpOr(v.Sign, "key") {
	case "key":
		return e.sign(key, header, payload)
	case "stranger":
		return e.sign("stranger", header, payload)
	case "none":
		return input + "."
	case "hs256-public-key":
		m := hmac.New(sha256.New, e.publicDER)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	t.Fatalf("vector %q: sign %q", v.Name, v.Sign)
	return ""
}

// serialize puts a compact token into the vector's serialization.
func (e *vectorEnv) serialize(t *testing.T, v vector, raw string, header map[string]any, payload []byte) string {
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
		q := strings.Split(e.sign("stranger", h, payload), ".")
		return string(mustMarshal(t, map[string]any{"payload": p[1], "signatures": []map[string]string{
			{"protected": p[0], "signature": p[2]}, {"protected": q[0], "signature": q[2]}}}))
	}
	t.Fatalf("vector %q: serialization %q", v.Name, v.Serialization)
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

// es256Sign makes a compact JWS with an ECDSA P-256 key.
func es256Sign(t *testing.T, k *ecdsa.PrivateKey, header map[string]any, payload []byte) string {
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
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// sdkReasons names the reasons a vector's sdk_reason may give.
var sdkReasons = map[string]sdk.Reason{
	"Malformed": sdk.Malformed, "BadAlgorithm": sdk.BadAlgorithm, "BadType": sdk.BadType,
	"UnknownKey": sdk.UnknownKey, "BadSignature": sdk.BadSignature, "WrongIssuer": sdk.WrongIssuer,
	"WrongAudience": sdk.WrongAudience, "MissingClaim": sdk.MissingClaim, "Expired": sdk.Expired,
	"NotYetValid": sdk.NotYetValid, "TooLong": sdk.TooLong, "Revoked": sdk.Revoked,
}

// TestVerifyVectors: the Verifier accepts and rejects the shared vectors'
// tokens, each rejection for the vector's reason. The fake issuer's first
// key signs the tokens that name the retired key; then a new key takes
// over and the first leaves the key set, before the verifier starts.
func TestVerifyVectors(t *testing.T) {
	f := loadVectors(t)
	e := newIssuerEnv(t)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ve := &vectorEnv{
		now: e.clock.Now(), issuer: e.iss.URL, audience: sdktest.DefaultAudience,
		jti:  func() string { return sdktest.NewJTI(e.clock.Now()) },
		kids: map[string]string{"retired": e.iss.KeyID()},
	}
	ve.sign = func(key string, header map[string]any, payload []byte) string {
		if key == "stranger" {
			return es256Sign(t, stranger, header, payload)
		}
		if ve.kids[key] != e.iss.KeyID() {
			t.Fatalf("the %s key does not sign now", key)
		}
		// The fake issuer signs with its current key under its default
		// header (alg, kid, typ) with this header laid over it.
		h := map[string]any{"alg": nil, "kid": nil, "typ": nil}
		maps.Copy(h, header)
		return e.iss.Sign(h, payload)
	}

	tokens := map[string]string{}
	var vectors []vector
	for _, v := range f.Vectors {
		if v.Only == "server" {
			continue
		}
		if _, ok := sdkReasons[v.SDKReason]; v.Expect == "reject" && !ok {
			t.Fatalf("vector %q: sdk_reason %q is not one of sdk's reasons", v.Name, v.SDKReason)
		}
		vectors = append(vectors, v)
		if v.KID == "retired" {
			tokens[v.Name] = ve.assemble(t, f, v)
		}
	}
	ve.kids["current"] = e.iss.RotateKey("ES256")
	e.iss.Unpublish(ve.kids["retired"])
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(e.iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(ve.kids["current"])
	if len(keys) != 1 || len(set.Key(ve.kids["retired"])) != 0 {
		t.Fatalf("control: key set %s", e.iss.JWKS())
	}
	if ve.publicDER, err = x509.MarshalPKIXPublicKey(keys[0].Key); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		if _, ok := tokens[v.Name]; !ok {
			tokens[v.Name] = ve.assemble(t, f, v)
		}
	}

	e.start(nil)
	e.ready()
	if len(vectors) == 0 {
		t.Fatal("no vector applies to the SDK")
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw := tokens[v.Name]
			c, err := e.verify(raw)
			switch {
			case v.Expect == "accept" && err != nil:
				t.Errorf("Verify: %v; want the token accepted\ntoken: %s", err, raw)
			case v.Expect == "accept" && c.ClientID != "mfc_vectors":
				t.Errorf("Verify: client_id %q; want mfc_vectors", c.ClientID)
			case v.Expect == "reject":
				wantReason(t, err, sdkReasons[v.SDKReason])
			}
		})
	}
}
