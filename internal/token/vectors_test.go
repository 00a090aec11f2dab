package token_test

// The shared verification vectors (testdata/verify_vectors.json at the
// module root) against Service.Verify. sdk/vectors_test.go runs the same
// file against the SDK's verifier; the two assemble tokens the same way,
// each with its own copy of the code, since the SDK's tests may import
// nothing of the server's.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/seal"
)

const vectorsFile = "../../testdata/verify_vectors.json"

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

// serverVectorEnv starts a Mayfly whose keys the test holds, as someone
// with the root key file and the database would: a ring whose first key
// is past its retirement, and a ring whose current key began signing 600 s
// ago, with its next key.
func serverVectorEnv(t *testing.T) (*apptest.Env, *vectorEnv) {
	t.Helper()
	ctx := context.Background()
	env := apptest.New(t)
	ks := env.App.Keys
	root, err := seal.ReadRootKey(filepath.Join(env.Dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	// held unseals the key of ring in state, as a holder of the root key can.
	held := func(ring string, state mayfly.KeyState) (string, *ecdsa.PrivateKey) {
		t.Helper()
		for _, k := range ks.Keys(ring) {
			if k.State(env.Clock.Now()) != state {
				continue
			}
			der, err := sealer.Open(k.Sealed, []byte("mayfly signing key "+k.KID))
			if err != nil {
				t.Fatalf("unseal %s: %v", k.KID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatal(err)
			}
			return k.KID, priv.(*ecdsa.PrivateKey)
		}
		t.Fatalf("ring %s has no %s key", ring, state)
		return "", nil
	}

	priv := map[string]*ecdsa.PrivateKey{}
	kids := map[string]string{}
	if _, err := ks.CreateRing(ctx, "vectors-old", mayfly.ES256, mayfly.MinKeyLifetime, nil); err != nil {
		t.Fatal(err)
	}
	kids["retired"], priv["retired"] = held("vectors-old", mayfly.KeyActive)
	env.Clock.Advance(mayfly.MinKeyLifetime + mayfly.MaxTokenTTL + time.Minute)
	if err := ks.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := ks.Key(kids["retired"]); err != nil || k.State(env.Clock.Now()) != mayfly.KeyRetired {
		t.Fatalf("control: key %s: %v, %v; want it retired", kids["retired"], k, err)
	}
	if _, err := ks.CreateRing(ctx, "vectors", mayfly.ES256, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	kids["current"], priv["current"] = held("vectors", mayfly.KeyActive)
	kids["next"], priv["next"] = held("vectors", mayfly.KeyNext)
	env.Clock.Advance(600 * time.Second)
	if err := ks.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := ks.Key(kids["current"]); err != nil || k.State(env.Clock.Now()) != mayfly.KeyActive {
		t.Fatalf("control: key %s: %v, %v; want it active", kids["current"], k, err)
	}

	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv["stranger"] = stranger
	spki, err := x509.MarshalPKIXPublicKey(priv["current"].Public())
	if err != nil {
		t.Fatal(err)
	}
	return env, &vectorEnv{
		now: env.Clock.Now(), issuer: apptest.Issuer, audience: "https://orders.example",
		jti: func() string {
			jti, err := mayfly.NewJTI(env.Clock.Now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return jti
		},
		kids: kids,
		sign: func(key string, header map[string]any, payload []byte) string {
			return es256Sign(t, priv[key], header, payload)
		},
		publicDER: spki,
	}
}

// TestVerifyVectors: Service.Verify accepts and rejects the shared vectors'
// tokens, each rejection for the vector's reason.
func TestVerifyVectors(t *testing.T) {
	f := loadVectors(t)
	env, ve := serverVectorEnv(t)
	ran := 0
	for _, v := range f.Vectors {
		if v.Only == "sdk" {
			continue
		}
		ran++
		t.Run(v.Name, func(t *testing.T) {
			raw := ve.assemble(t, f, v)
			cl, err := env.App.Token.Verify(raw)
			switch {
			case v.Expect == "accept" && err != nil:
				t.Errorf("Verify: %v; want the token accepted\ntoken: %s", err, raw)
			case v.Expect == "accept" && cl.ClientID != "mfc_vectors":
				t.Errorf("Verify: client_id %q; want mfc_vectors", cl.ClientID)
			case v.Expect == "reject" && err == nil:
				t.Errorf("Verify accepted %+v; want it rejected (%s)\ntoken: %s", *cl, v.ServerError, raw)
			case v.Expect == "reject" && (!errors.Is(err, mayfly.ErrInvalid) || !strings.Contains(err.Error(), v.ServerError)):
				t.Errorf("Verify: %v; want an invalid-token error saying %q", err, v.ServerError)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no vector applies to the server")
	}
}
