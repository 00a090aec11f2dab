// Package tokentest builds the tokens of the shared verification vectors
// (testdata/verify_vectors.json at the module root). The server's verifier
// (internal/token) and the SDK's both run the vectors, from this one
// assembly of their tokens; each test supplies its own keys and clock.
package tokentest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"os"
	"slices"
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

	// HeaderMembers and ClaimsMembers are members written after the
	// header's or the claims' own, each a name and a value kept as the file
	// spells them, so that a name may repeat one before it, differ from it
	// only in case, or hold an escape. A string value is resolved as the
	// header's or the claims' strings are.
	HeaderMembers [][2]json.RawMessage `json:"header_members"`
	ClaimsMembers [][2]json.RawMessage `json:"claims_members"`
	// Indent writes the header's or the claims' JSON indented, one member
	// a line, before it is signed: "header" or "claims".
	Indent string `json:"indent"`
	// Edit changes the text of the finished token.
	Edit *Edit `json:"edit"`
}

// Edit is a change to a signed compact token's text, such as anyone who
// holds the token can make without the key.
type Edit struct {
	// Op is one of
	//   - high-s: the ES256 signature (R, S) becomes (R, n-S) if S is low,
	//     the other signature of the same token that verifies;
	//   - ed25519-s-plus-l: the EdDSA signature's S becomes S + L, L the
	//     group order: the same value modulo L, not canonical (RFC 8032);
	//   - pad: "=" padding on Part, as base64url with padding writes it;
	//   - stray-bits: the bits of Part's last character beyond its bytes,
	//     zero in canonical base64url, set;
	//   - insert: Text inserted in the middle of Part, or before or after
	//     the token (Part start or end).
	Op   string `json:"op"`
	Part string `json:"part"` // header, payload or signature; start or end for insert
	Text string `json:"text"`
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
		case v.Indent != "" && v.Indent != "header" && v.Indent != "claims":
			t.Fatalf("Vector %q: indent %q, want header or claims", v.Name, v.Indent)
		case v.Edit != nil && cmpOr(v.Serialization, "compact") != "compact":
			t.Fatalf("Vector %q: an edit applies to the compact serialization only", v.Name)
		case v.Edit != nil && !validEdit(*v.Edit):
			t.Fatalf("Vector %q: edit %+v", v.Name, *v.Edit)
		}
		seen[v.Name] = true
	}
	return &f
}

func validEdit(e Edit) bool {
	part := slices.Contains([]string{"header", "payload", "signature"}, e.Part)
	switch e.Op {
	case "high-s", "ed25519-s-plus-l":
		return e.Part == "" && e.Text == ""
	case "pad", "stray-bits":
		return part && e.Text == ""
	case "insert":
		return (part || e.Part == "start" || e.Part == "end") && e.Text != ""
	}
	return false
}

// Env is what a verifier's environment gives the assembly of tokens.
type Env struct {
	Now      time.Time
	Issuer   string
	Audience string
	JTI      func() string
	KIDs     map[string]string // kid choice (current, retired, next, eddsa) to kid
	// Sign makes a compact JWS of header and payload, the JSON exactly as
	// given, with the private key of a kid choice, or of the stranger key.
	Sign      func(key string, header, payload []byte) string
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
	headerFn := func(s string) any {
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
	}
	header := e.resolve(t, f.Base.Header, v.Header, headerFn)
	claim := func(s string) any {
		if rest, ok := strings.CutPrefix(s, "now"); ok {
			if n, err := strconv.ParseInt(cmpOr(rest, "0"), 10, 64); err == nil {
				return e.Now.Unix() + n
			}
			f, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("Vector %q: time %q", v.Name, s)
			}
			return float64(e.Now.Unix()) + f
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
	// plain is the token before any edit, its claims padded with a pad
	// claim of claimsPad characters, its header with a pad member of
	// headerPad.
	plain := func(claimsPad, headerPad int) string {
		h := e.object(t, v, header, headerPad, v.HeaderMembers, v.Indent == "header", headerFn)
		sc := e.object(t, v, signed, claimsPad, v.ClaimsMembers, v.Indent == "claims", claim)
		raw := e.signed(t, v, key, h, sc)
		if v.Tamper != "" {
			parts := strings.Split(raw, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString(e.object(t, v, claims, claimsPad, v.ClaimsMembers, v.Indent == "claims", claim))
			raw = strings.Join(parts, ".")
		}
		return e.serialize(t, v, raw, header, h, sc)
	}
	// An edit to a part's last character needs a part whose length is not
	// a multiple of 3 bytes; a pad member of one character makes one.
	headerPad, claimsPad := 0, 0
	if ed := v.Edit; ed != nil && (ed.Op == "pad" || ed.Op == "stray-bits") && ed.Part != "signature" {
		i := map[string]int{"header": 0, "payload": 1}[ed.Part]
		aligned := func() bool { return len(strings.Split(plain(claimsPad, headerPad), ".")[i])%4 == 0 }
		if aligned() && i == 0 {
			headerPad = 1
		} else if aligned() {
			claimsPad = 1
		}
		if aligned() || (claimsPad > 0 && (v.MinBytes > 0 || v.MaxBytes > 0)) {
			t.Fatalf("Vector %q: cannot give the %s a last character to edit", v.Name, ed.Part)
		}
	}
	token := func(pad int) string { return e.edit(t, v, plain(max(pad, claimsPad), headerPad)) }
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

// object writes a header or claims as JSON: obj, then a pad member of pad
// characters if pad > 0, then the vector's members, indented if asked.
func (e *Env) object(t *testing.T, v Vector, obj map[string]any, pad int, members [][2]json.RawMessage, indent bool, fn func(string) any) []byte {
	t.Helper()
	if pad > 0 {
		obj = maps.Clone(obj)
		obj["pad"] = strings.Repeat("x", pad)
	}
	b := mustMarshal(t, obj)
	for _, m := range members {
		value := m[1]
		var s string
		if json.Unmarshal(value, &s) == nil {
			value = mustMarshal(t, fn(s))
		}
		if !json.Valid(m[0]) || m[0][0] != '"' || !json.Valid(value) {
			t.Fatalf("Vector %q: member %s: %s is not a JSON name and value", v.Name, m[0], m[1])
		}
		b = b[:len(b)-1]
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(append(append(append(b, m[0]...), ':'), value...), '}')
	}
	if indent {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		b = out.Bytes()
	}
	return b
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

// signed signs header and payload, JSON as written, as the Vector says.
func (e *Env) signed(t *testing.T, v Vector, key string, header, payload []byte) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
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

// serialize puts a compact token into the Vector's serialization; header
// is the header resolved, headerJSON and payload the bytes signed.
func (e *Env) serialize(t *testing.T, v Vector, raw string, header map[string]any, headerJSON, payload []byte) string {
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
		q := strings.Split(e.Sign("stranger", mustMarshal(t, h), payload), ".")
		return string(mustMarshal(t, map[string]any{"payload": p[1], "signatures": []map[string]string{
			{"protected": p[0], "signature": p[2]}, {"protected": q[0], "signature": q[2]}}}))
	}
	t.Fatalf("Vector %q: serialization %q", v.Name, v.Serialization)
	return ""
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var (
	// p256N is the order of P-256; ed25519L, of Ed25519's group.
	p256N    = elliptic.P256().Params().N
	ed25519L = func() *big.Int {
		l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
		return l
	}()
)

// edit makes the Vector's edit to a compact token.
func (e *Env) edit(t *testing.T, v Vector, raw string) string {
	t.Helper()
	ed := v.Edit
	if ed == nil {
		return raw
	}
	p := strings.Split(raw, ".")
	i := slices.Index([]string{"header", "payload", "signature"}, ed.Part)
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil {
		t.Fatal(err)
	}
	switch ed.Op {
	case "high-s":
		if len(sig) != 64 {
			t.Fatalf("Vector %q: high-s: a signature of %d bytes is not ES256", v.Name, len(sig))
		}
		s := new(big.Int).SetBytes(sig[32:])
		if s.Cmp(new(big.Int).Rsh(p256N, 1)) <= 0 {
			s.Sub(p256N, s).FillBytes(sig[32:])
		}
		p[2] = base64.RawURLEncoding.EncodeToString(sig)
	case "ed25519-s-plus-l":
		if len(sig) != 64 {
			t.Fatalf("Vector %q: ed25519-s-plus-l: a signature of %d bytes is not EdDSA", v.Name, len(sig))
		}
		le := slices.Clone(sig[32:]) // S is little-endian
		slices.Reverse(le)
		s := new(big.Int).Add(new(big.Int).SetBytes(le), ed25519L)
		s.FillBytes(le)
		slices.Reverse(le)
		copy(sig[32:], le)
		p[2] = base64.RawURLEncoding.EncodeToString(sig)
	case "pad":
		for len(p[i])%4 != 0 {
			p[i] += "="
		}
	case "stray-bits":
		last := strings.IndexByte(alphabet, p[i][len(p[i])-1])
		p[i] = p[i][:len(p[i])-1] + string(alphabet[last|1])
	case "insert":
		switch ed.Part {
		case "start":
			return ed.Text + raw
		case "end":
			return raw + ed.Text
		}
		p[i] = p[i][:len(p[i])/2] + ed.Text + p[i][len(p[i])/2:]
	}
	out := strings.Join(p, ".")
	if out == raw {
		t.Fatalf("Vector %q: the edit changed nothing", v.Name)
	}
	return out
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

// SignWith makes a compact JWS of header and payload, JSON as written,
// with an ECDSA P-256 key (ES256, with a low S as Mayfly signs) or an
// Ed25519 key (EdDSA).
func SignWith(t *testing.T, k crypto.Signer, header, payload []byte) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	var sig []byte
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		canon.LowS(sig)
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	default:
		t.Fatalf("tokentest: cannot sign with a %T", k)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
