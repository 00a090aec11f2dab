package canon_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/sdk/canon"
)

var b64 = base64.RawURLEncoding

// compact joins a header and a payload, as JSON text, with a signature.
func compact(header, payload string, sig []byte) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(sig)
}

const (
	header  = `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`
	payload = `{"iss":"https://mayfly.example","client_id":"mfc_a","aud":["https://a.example"],"exp":1767000000}`
)

var sig = func() []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}()

// part replaces part i of a compact token.
func part(tok string, i int, with string) string {
	p := strings.Split(tok, ".")
	p[i] = with
	return strings.Join(p, ".")
}

// strayBits sets the unused low bits of the last character of part i.
func strayBits(t *testing.T, tok string, i int) string {
	t.Helper()
	p := strings.Split(tok, ".")
	s := p[i]
	unused := map[int]int{2: 4, 3: 2}[len(s)%4]
	if unused == 0 {
		t.Fatalf("part %d (%d characters) has no unused bits", i, len(s))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	p[i] = s[:len(s)-1] + string(alphabet[last|1])
	if p[i] == s {
		t.Fatalf("part %d: stray bits changed nothing", i)
	}
	return strings.Join(p, ".")
}

func TestCheck(t *testing.T) {
	good := compact(header, payload, sig)
	// For the stray-bit cases, every part must leave bits unused: a length
	// that is not a multiple of 3. Whitespace after the JSON makes it so.
	unaligned := func(s string) string {
		for len(s)%3 == 0 {
			s += " "
		}
		return s
	}
	withBits := compact(unaligned(header), unaligned(payload), sig)
	if err := canon.Check(withBits); err != nil {
		t.Fatalf("control: %v", err)
	}
	mid := func(s string) int { return len(s) / 2 }
	p := strings.Split(good, ".")

	tests := []struct {
		name, tok string
		ok        bool
	}{
		{"a token", good, true},
		{"whitespace inside the JSON", compact("{ \"alg\" : \"ES256\",\n\"kid\":\"k1\" }", payload, sig), true},
		{"an empty signature", compact(header, payload, nil), true},
		{"a nested object and arrays", compact(header, `{"a":{"b":[{"c":1},{"c":2}],"B2":{"b":1}},"b":[[{"x":1}]]}`, sig), true},
		{"the same name in different objects", compact(header, `{"a":{"a":{"a":1}},"b":[{"a":1},{"a":1}]}`, sig), true},
		{"a huge number", compact(header, `{"n":1e99999}`, sig), true},
		{"names alike but for a letter", compact(header, `{"client_id":1,"client_ix":2}`, sig), true},
		// ı (U+0131) is a letter of its own to case folding, not an i.
		{"a dotless i", compact(header, `{"client_id":"a","client_ıd":"b"}`, sig), true},

		{"no dots", strings.ReplaceAll(good, ".", ""), false},
		{"one dot", p[0] + "." + p[1], false},
		{"three dots", good + "." + p[2], false},
		{"empty", "", false},
		{"two dots only", "..", false},
		{"padding on the header", part(good, 0, b64Std(header)), false},
		{"padding on the payload", part(good, 1, b64Std(payload)), false},
		{"padding on the signature", part(good, 2, b64Std(string(sig))), false},
		{"stray bits in the header", strayBits(t, withBits, 0), false},
		{"stray bits in the payload", strayBits(t, withBits, 1), false},
		{"stray bits in the signature", strayBits(t, withBits, 2), false},
		{"a line feed in the header", part(good, 0, p[0][:mid(p[0])]+"\n"+p[0][mid(p[0]):]), false},
		{"a line feed in the payload", part(good, 1, p[1][:mid(p[1])]+"\n"+p[1][mid(p[1]):]), false},
		{"a CR LF in the signature", part(good, 2, p[2][:mid(p[2])]+"\r\n"+p[2][mid(p[2]):]), false},
		{"a trailing line feed", good + "\n", false},
		{"a leading space", " " + good, false},
		{"a tab", part(good, 1, p[1][:4]+"\t"+p[1][4:]), false},
		{"standard base64 characters", part(good, 2, base64.RawStdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xbf})), false},
		{"a NUL", good[:10] + "\x00" + good[10:], false},
		{"a character of more than one byte", good[:10] + "é" + good[10:], false},
		{"a part of impossible length", part(good, 2, "AAAAA"), false},

		{"a header that is not JSON", compact(`{"alg":`, payload, sig), false},
		{"a header that is an array", compact(`["alg","ES256"]`, payload, sig), false},
		{"a payload that is a string", compact(header, `"claims"`, sig), false},
		{"a payload that is null", compact(header, `null`, sig), false},
		{"an empty payload", compact(header, ``, sig), false},
		{"two objects", compact(header, payload+`{}`, sig), false},
		{"an object and garbage", compact(header, payload+`x`, sig), false},

		{"a duplicate in the header", compact(`{"alg":"ES256","kid":"k1","kid":"k2","typ":"at+jwt"}`, payload, sig), false},
		{"a duplicate alg", compact(`{"alg":"none","kid":"k1","typ":"at+jwt","alg":"ES256"}`, payload, sig), false},
		{"a case variant in the header", compact(`{"alg":"ES256","kid":"k1","typ":"at+jwt","KID":"k2"}`, payload, sig), false},
		{"a duplicate claim", compact(header, `{"client_id":"a","exp":1,"client_id":"b"}`, sig), false},
		{"a case variant claim", compact(header, `{"client_id":"a","Client_ID":"b"}`, sig), false},
		{"an escaped duplicate", compact(header, `{"client_id":"a","\u0063lient_id":"b"}`, sig), false},
		{"a long s", compact(header, `{"scope":"a","ſcope":"b"}`, sig), false},
		{"a Kelvin sign", compact(`{"alg":"ES256","kid":"k1","\u212aid":"k2"}`, payload, sig), false},
		{"invalid UTF-8 twice", compact(header, "{\"\xff\":1,\"\xfe\":2}", sig), false},
		{"a duplicate in a nested object", compact(header, `{"cnf":{"jkt":"a","jkt":"b"}}`, sig), false},
		{"a duplicate in an object in an array", compact(header, `{"x":[1,{"a":1,"A":2}]}`, sig), false},
		{"a duplicate deep down", compact(header, `{"a":{"b":{"c":{"d":[{"e":{"f":1,"f":1}}]}}}}`, sig), false},
		{"a duplicate in the header's jwk", compact(`{"alg":"ES256","kid":"k1","jwk":{"kty":"EC","kty":"RSA"}}`, payload, sig), false},
		{"crit", compact(`{"alg":"ES256","kid":"k1","crit":["exp"]}`, payload, sig), false},
		{"crit empty", compact(`{"alg":"ES256","kid":"k1","crit":[]}`, payload, sig), false},
		{"crit null", compact(`{"alg":"ES256","kid":"k1","crit":null}`, payload, sig), false},
		{"b64 false", compact(`{"alg":"ES256","kid":"k1","b64":false}`, payload, sig), false},
		{"b64 null", compact(`{"alg":"ES256","kid":"k1","b64":null}`, payload, sig), false},
		{"b64 true", compact(`{"alg":"ES256","kid":"k1","b64":true}`, payload, sig), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := canon.Check(tt.tok)
			switch {
			case tt.ok && err != nil:
				t.Errorf("Check: %v; want nil\ntoken: %q", err, tt.tok)
			case !tt.ok && err == nil:
				t.Errorf("Check: nil; want a refusal\ntoken: %q", tt.tok)
			case !tt.ok && !errors.Is(err, canon.ErrForm):
				t.Errorf("Check: %v; want an error matching ErrForm", err)
			}
		})
	}
}

func b64Std(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }

// TestCheckMembersInOtherObjects: crit and b64 are refused as header
// members only: deeper in the header, and in the payload, they are names
// like any other.
func TestCheckMembersInOtherObjects(t *testing.T) {
	for _, tok := range []string{
		compact(`{"alg":"ES256","ext":{"crit":[],"b64":false}}`, payload, sig),
		compact(header, `{"crit":["exp"],"b64":false}`, sig),
	} {
		if err := canon.Check(tok); err != nil {
			t.Errorf("Check: %v; want nil", err)
		}
	}
}

var (
	n     = elliptic.P256().Params().N
	halfN = new(big.Int).Rsh(n, 1)
)

func withS(s *big.Int) []byte {
	out := make([]byte, 64)
	out[31] = 1
	s.FillBytes(out[32:])
	return out
}

func TestCheckSignature(t *testing.T) {
	one := big.NewInt(1)
	tests := []struct {
		name, alg string
		sig       []byte
		ok        bool
	}{
		{"S = 1", "ES256", withS(one), true},
		{"S = n/2", "ES256", withS(halfN), true},
		{"S = n/2 + 1", "ES256", withS(new(big.Int).Add(halfN, one)), false},
		{"S = n - 1", "ES256", withS(new(big.Int).Sub(n, one)), false},
		{"63 bytes", "ES256", make([]byte, 63), false},
		{"65 bytes", "ES256", make([]byte, 65), false},
		{"EdDSA", "EdDSA", withS(new(big.Int).Sub(n, one)), true},
		{"RS256", "RS256", make([]byte, 256), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := canon.CheckSignature(tt.alg, tt.sig)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, canon.ErrForm)) {
				t.Errorf("CheckSignature: %v; want ok %v", err, tt.ok)
			}
		})
	}
}

// TestLowS: of many signatures by crypto/ecdsa, which picks S either side
// of n/2, LowS leaves every one verifying and low, changes exactly the
// high ones, and leaves a low one as it is.
func TestLowS(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	const count = 200
	for i := range count {
		sum := sha256.Sum256([]byte{byte(i)})
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		high := canon.CheckSignature("ES256", sig) != nil
		canon.LowS(sig)
		if err := canon.CheckSignature("ES256", sig); err != nil {
			t.Fatalf("after LowS: %v", err)
		}
		s2 := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&k.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), s2) {
			t.Fatalf("after LowS the signature does not verify")
		}
		if high {
			changed++
			if want := new(big.Int).Sub(n, s); s2.Cmp(want) != 0 {
				t.Fatalf("LowS made S %x; want n - S = %x", s2, want)
			}
		} else if s2.Cmp(s) != 0 {
			t.Fatalf("LowS changed a low S %x to %x", s, s2)
		}
	}
	// Each signature is high with probability 1/2: all low or all high in
	// 200 would mean the test signs with something other than crypto/ecdsa.
	if changed == 0 || changed == count {
		t.Fatalf("control: %d of %d signatures were high", changed, count)
	}
}

func BenchmarkCheck(b *testing.B) {
	claims := `{"aud":"https://orders.example","client_id":"mfc_01JQ8ZK1M6V1N7Q3R4S5T6V7W8","exp":1767000300,"iat":1767000000,` +
		`"iss":"https://auth.example.com","jti":"01JQ8ZK1M6V1N7Q3R4S5T6V7W8XYZ","nbf":1767000000,"principal":"prn_01JQ8ZK1M6V1N7Q3R4S5T6V7W8",` +
		`"scope":"orders.read orders.write","sub":"mfc_01JQ8ZK1M6V1N7Q3R4S5T6V7W8"}`
	tok := compact(`{"alg":"ES256","kid":"default-01JQ8ZK1M6V1N7Q3R4S5T6V7W8","typ":"at+jwt"}`, claims, sig)
	if err := canon.Check(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := canon.Check(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCheck: whatever Check accepts has parts that are the one encoding of
// their bytes, and a header and payload that are JSON objects whose outer
// members have distinct names, even as encoding/json folds them.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		compact(header, payload, sig),
		compact(header, `{"a":{"b":[{"c":1}]},"A ":1}`, sig),
		compact(header, `{"client_id":"a","Client_ID":"b"}`, sig),
		compact(`{"alg":"ES256","crit":[]}`, payload, sig),
		compact(header, `{"x":"\u0078","\u0078":1}`, sig),
		"..", "e30.e30.", "e30.e30.\n", "e30=.e30.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if canon.Check(tok) != nil {
			return
		}
		p := strings.Split(tok, ".")
		for i, s := range p {
			b, err := b64.DecodeString(s)
			if err != nil || b64.EncodeToString(b) != s {
				t.Fatalf("part %d %q accepted, decoding to %q (%v)", i, s, b, err)
			}
			if i == 2 {
				break
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil || m == nil {
				t.Fatalf("part %d %q accepted, not a JSON object: %v", i, b, err)
			}
			for a := range m {
				for b := range m {
					if a != b && strings.EqualFold(a, b) {
						t.Fatalf("part %d accepted with names %q and %q", i, a, b)
					}
				}
			}
			if _, ok := m["crit"]; ok && i == 0 {
				t.Fatalf("header %q accepted with crit", b)
			}
		}
	})
}
