package canon_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/sdk/canon"
)

// digestVectors are the shared digest vectors, which the server checks too.
type digestVectors struct {
	Valid []struct {
		Name, Token, Digest string
	}
	Invalid []struct {
		Name, Token string
	}
}

func readDigestVectors(t testing.TB) digestVectors {
	t.Helper()
	b, err := os.ReadFile("../../testdata/digest_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v digestVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Valid) == 0 || len(v.Invalid) == 0 {
		t.Fatalf("digest vectors: %d valid, %d invalid; want some of each", len(v.Valid), len(v.Invalid))
	}
	return v
}

func TestDigestVectors(t *testing.T) {
	v := readDigestVectors(t)
	for _, tt := range v.Valid {
		got, err := canon.Digest(tt.Token)
		if err != nil || got != tt.Digest {
			t.Errorf("%s: Digest(%q) = %q, %v; want %q", tt.Name, tt.Token, got, err, tt.Digest)
		}
	}
	for _, tt := range v.Invalid {
		got, err := canon.Digest(tt.Token)
		if !errors.Is(err, canon.ErrDigest) {
			t.Errorf("%s: Digest(%q) = %q, %v; want an error wrapping ErrDigest", tt.Name, tt.Token, got, err)
		}
	}
}

// TestDigestParts: the digest of decoded parts is the vectors' digest of
// the token they make, long ones included.
func TestDigestParts(t *testing.T) {
	long := strings.Repeat("x", 3000)
	if got, want := canon.DigestParts([]byte(header), []byte(long)), mustDigest(t, compact(header, long, sig)); got != want {
		t.Errorf("DigestParts of a long payload = %q; Digest = %q", got, want)
	}
	for _, tt := range readDigestVectors(t).Valid {
		parts := strings.Split(tt.Token, ".")
		h, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "="))
		p, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
		if err1 != nil || err2 != nil {
			continue // a vector with stray bits: Digest's own tests cover it
		}
		if got := canon.DigestParts(h, p); got != tt.Digest {
			t.Errorf("%s: DigestParts = %q; want %q", tt.Name, got, tt.Digest)
		}
	}
}

func mustDigest(t *testing.T, tok string) string {
	t.Helper()
	d, err := canon.Digest(tok)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDigestOfReencoding: a spelling of a token that Check refuses, as a
// verifier would, still has the genuine token's digest.
func TestDigestOfReencoding(t *testing.T) {
	tok := compact(header, payload, sig)
	want, err := canon.Digest(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != canon.DigestLen {
		t.Errorf("Digest = %q, %d characters; want %d", want, len(want), canon.DigestLen)
	}
	for name, other := range map[string]string{
		"stray bits in the header":  strayBits(t, tok, 0),
		"stray bits in the payload": strayBits(t, tok, 1),
		"another signature":         compact(header, payload, make([]byte, 64)),
	} {
		if canon.Check(other) == nil && name != "another signature" {
			t.Errorf("%s: Check accepted %q; the test wants a spelling it refuses", name, other)
		}
		if got, err := canon.Digest(other); err != nil || got != want {
			t.Errorf("%s: Digest = %q, %v; want the genuine token's %q", name, got, err, want)
		}
	}
}

// TestDigestCoversEveryByte: changing any one byte of the decoded header
// or payload changes the digest, and so does moving the boundary between
// them.
func TestDigestCoversEveryByte(t *testing.T) {
	want, err := canon.Digest(compact(header, payload, sig))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{want: "the original"}
	for part, text := range []string{header, payload} {
		for i := range len(text) {
			b := []byte(text)
			b[i] ^= 0x01
			h, p := header, payload
			if part == 0 {
				h = string(b)
			} else {
				p = string(b)
			}
			got, err := canon.Digest(compact(h, p, sig))
			if err != nil {
				t.Fatalf("part %d byte %d: %v", part, i, err)
			}
			if prev, ok := seen[got]; ok {
				t.Errorf("part %d byte %d flipped: digest %q, the same as %s", part, i, got, prev)
			}
			seen[got] = "another change"
		}
	}
	joined := header + payload
	for cut := 1; cut < len(joined); cut++ {
		got, err := canon.Digest(compact(joined[:cut], joined[cut:], sig))
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if prev, ok := seen[got]; ok && cut != len(header) {
			t.Errorf("header and payload cut at %d: digest %q, the same as %s", cut, got, prev)
		}
		seen[got] = "another cut"
	}
}

// TestDigestConstruction: the digest is the construction the README
// documents, written out here with the standard library.
func TestDigestConstruction(t *testing.T) {
	h, p := []byte(header), []byte(payload)
	in := binary.BigEndian.AppendUint32(nil, uint32(len(h)))
	sum := sha256.Sum256(append(append(in, h...), p...))
	want := b64.EncodeToString(sum[:16])
	if got, err := canon.Digest(compact(header, payload, sig)); err != nil || got != want {
		t.Errorf("Digest = %q, %v; want %q", got, err, want)
	}
}

// TestDigestLongToken: a token longer than the stack buffer is digested
// the same way.
func TestDigestLongToken(t *testing.T) {
	long := `{"x":"` + strings.Repeat("y", 5000) + `"}`
	h := []byte(header)
	in := binary.BigEndian.AppendUint32(nil, uint32(len(h)))
	sum := sha256.Sum256(append(append(in, h...), long...))
	if got, err := canon.Digest(compact(header, long, sig)); err != nil || got != b64.EncodeToString(sum[:16]) {
		t.Errorf("Digest = %q, %v; want %q", got, err, b64.EncodeToString(sum[:16]))
	}
}

func BenchmarkDigest(b *testing.B) {
	v := readDigestVectors(b)
	tok := v.Valid[0].Token
	b.ReportAllocs()
	for b.Loop() {
		if _, err := canon.Digest(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDigest: Digest never panics; what it digests has three parts whose
// first two decode, as base64url with padding removed, to the bytes the
// digest is made of, and what it refuses wraps ErrDigest.
func FuzzDigest(f *testing.F) {
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := canon.Digest(tok)
		if err != nil {
			if !errors.Is(err, canon.ErrDigest) {
				t.Fatalf("Digest(%q): %v, not wrapping ErrDigest", tok, err)
			}
			return
		}
		p := strings.Split(tok, ".")
		if len(p) != 3 {
			t.Fatalf("Digest(%q) = %q with %d parts", tok, got, len(p))
		}
		var dec [2][]byte
		for i := range 2 {
			if strings.ContainsAny(p[i], "\r\n") {
				t.Fatalf("Digest(%q) accepted a line break", tok)
			}
			if dec[i], err = b64.DecodeString(strings.TrimRight(p[i], "=")); err != nil || len(dec[i]) == 0 {
				t.Fatalf("Digest(%q) accepted part %d, which decodes to %q, %v", tok, i, dec[i], err)
			}
		}
		in := binary.BigEndian.AppendUint32(nil, uint32(len(dec[0])))
		sum := sha256.Sum256(append(append(in, dec[0]...), dec[1]...))
		if want := b64.EncodeToString(sum[:16]); got != want {
			t.Fatalf("Digest(%q) = %q, want %q", tok, got, want)
		}
		// Spelled canonically, the same bytes have the same digest.
		again, err := canon.Digest(b64.EncodeToString(dec[0]) + "." + b64.EncodeToString(dec[1]) + ".")
		if err != nil || again != got {
			t.Fatalf("Digest of %q re-encoded = %q, %v; want %q", tok, again, err, got)
		}
	})
}
