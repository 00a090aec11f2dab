package seal_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/internal/seal"
)

// seededRand is a deterministic random source, so that sealed seeds are the
// same bytes in every process.
func seededRand(seed string) io.Reader {
	var s [32]byte
	copy(s[:], seed)
	return mrand.NewChaCha8(s)
}

func rootKey(seed string) []byte {
	k := make([]byte, seal.RootKeySize)
	io.ReadFull(seededRand("root "+seed), k)
	return k
}

func newSealer(tb testing.TB, seed string) *seal.Sealer {
	tb.Helper()
	s, err := seal.New(rootKey(seed))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustSeal(tb testing.TB, s *seal.Sealer, rand io.Reader, pt, aad []byte) []byte {
	tb.Helper()
	blob, err := s.Seal(rand, pt, aad)
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, "a")
	for _, tc := range []struct {
		name    string
		pt, aad []byte
	}{
		{"empty", nil, nil},
		{"empty with aad", []byte{}, []byte("aad")},
		{"short", []byte("x"), []byte("mayfly signing key k1")},
		{"key sized", bytes.Repeat([]byte{0xAB}, 138), []byte("mayfly signing key k2")},
		{"large", bytes.Repeat([]byte("0123456789"), 10000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := mustSeal(t, s, seededRand(tc.name), tc.pt, tc.aad)
			if bytes.Contains(blob, tc.pt) && len(tc.pt) > 0 {
				t.Errorf("got the plaintext inside the sealed blob")
			}
			got, err := s.Open(blob, tc.aad)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !bytes.Equal(got, tc.pt) {
				t.Errorf("got %x, want %x", got, tc.pt)
			}
			// A second sealer on the same root key opens it too.
			got, err = newSealer(t, "a").Open(blob, tc.aad)
			if err != nil || !bytes.Equal(got, tc.pt) {
				t.Errorf("got %x, %v from a second sealer, want %x", got, err, tc.pt)
			}
		})
	}
	// Fresh keys and nonces: the same plaintext never seals the same way.
	a := mustSeal(t, s, seededRand("x"), []byte("same"), nil)
	b := mustSeal(t, s, seededRand("y"), []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Errorf("got identical blobs for two seals, want different")
	}
}

func TestOpenRefuses(t *testing.T) {
	s := newSealer(t, "a")
	pt := []byte("-----BEGIN PRIVATE KEY----- not really")
	aad := []byte("mayfly signing key kid-1")
	blob := mustSeal(t, s, seededRand("blob"), pt, aad)
	other := mustSeal(t, s, seededRand("other"), pt, []byte("mayfly signing key kid-2"))

	tests := []struct {
		name   string
		sealer *seal.Sealer
		blob   []byte
		aad    []byte
	}{
		{"wrong aad", s, blob, []byte("mayfly signing key kid-2")},
		{"aad prefix", s, blob, aad[:len(aad)-1]},
		{"aad extended", s, blob, append(bytes.Clone(aad), 'x')},
		{"no aad", s, blob, nil},
		{"wrong root key", newSealer(t, "b"), blob, aad},
		{"root key differs in one bit", func() *seal.Sealer {
			k := rootKey("a")
			k[31] ^= 1
			s, err := seal.New(k)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), blob, aad},
		{"another record's blob", s, other, aad},
		{"empty", s, nil, aad},
		{"version only", s, []byte("MFS1"), aad},
		{"truncated header", s, blob[:40], aad},
		{"header only", s, blob[:len(blob)-len(pt)-16], aad},
		{"tag removed", s, blob[:len(blob)-16], aad},
		{"one byte short", s, blob[:len(blob)-1], aad},
		{"one byte long", s, append(bytes.Clone(blob), 0), aad},
		{"wrong version", s, append([]byte("MFS2"), blob[4:]...), aad},
		{"spliced data key", s, append(bytes.Clone(blob[:72]), other[72:]...), aad},
		{"spliced payload", s, append(bytes.Clone(other[:72]), blob[72:]...), aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.Open(tc.blob, tc.aad)
			if !errors.Is(err, seal.ErrOpen) {
				t.Errorf("got error %v, want seal.ErrOpen", err)
			}
			if got != nil {
				t.Errorf("got plaintext %q, want none", got)
			}
		})
	}

	t.Run("every single-byte change", func(t *testing.T) {
		for i := range blob {
			for _, mask := range []byte{0x01, 0x80, 0xFF} {
				b := bytes.Clone(blob)
				b[i] ^= mask
				if got, err := s.Open(b, aad); !errors.Is(err, seal.ErrOpen) || got != nil {
					t.Fatalf("byte %d ^ %#x: got %q, %v; want seal.ErrOpen", i, mask, got, err)
				}
			}
		}
	})
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(blob) {
			if got, err := s.Open(blob[:n], aad); !errors.Is(err, seal.ErrOpen) || got != nil {
				t.Fatalf("first %d bytes: got %q, %v; want seal.ErrOpen", n, got, err)
			}
		}
	})
	t.Run("control", func(t *testing.T) {
		if got, err := s.Open(blob, aad); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("got %q, %v; want %q", got, err, pt)
		}
	})
}

type failingReader struct{}

var errNoEntropy = errors.New("no entropy")

func (failingReader) Read([]byte) (int, error) { return 0, errNoEntropy }

func TestSealFailures(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := seal.New(make([]byte, n)); err == nil {
			t.Errorf("New with a %d-byte root key: got no error, want one", n)
		}
	}
	s := newSealer(t, "a")
	blob, err := s.Seal(failingReader{}, []byte("x"), nil)
	if !errors.Is(err, errNoEntropy) {
		t.Errorf("got error %v, want one wrapping the reader's", err)
	}
	if blob != nil {
		t.Errorf("got blob %x, want none", blob)
	}
	short := io.LimitReader(seededRand("short"), 40) // less than a data key and two nonces
	if _, err := s.Seal(short, []byte("x"), nil); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Errorf("got error %v from a short reader, want an EOF", err)
	}
}

func TestLoadOrCreateRootKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub", "dir")
	path := filepath.Join(dir, "root.key")
	key, created, err := seal.LoadOrCreateRootKey(path, seededRand("k"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !created {
		t.Errorf("got created false for a new file, want true")
	}
	if len(key) != seal.RootKeySize {
		t.Errorf("got a %d-byte key, want %d", len(key), seal.RootKeySize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("got mode %v, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got&0o077 != 0 {
		t.Errorf("got directory mode %v, want no access for group or others", got)
	}

	again, created, err := seal.LoadOrCreateRootKey(path, failingReader{})
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if created {
		t.Errorf("got created true on reload, want false")
	}
	if !bytes.Equal(again, key) {
		t.Errorf("got key %x on reload, want %x", again, key)
	}
	// A blob sealed under the created key opens under the reloaded one.
	s1, _ := seal.New(key)
	s2, _ := seal.New(again)
	if pt, err := s2.Open(mustSeal(t, s1, seededRand("x"), []byte("pt"), nil), nil); err != nil || string(pt) != "pt" {
		t.Errorf("got %q, %v; want pt", pt, err)
	}
	if s1.ID() != s2.ID() {
		t.Errorf("got root key ID %s, want %s", s2.ID(), s1.ID())
	}

	t.Run("entropy failure creates nothing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "root.key")
		if _, _, err := seal.LoadOrCreateRootKey(p, failingReader{}); !errors.Is(err, errNoEntropy) {
			t.Errorf("got error %v, want one wrapping the reader's", err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got stat error %v, want the file not to exist", err)
		}
	})
}

func TestLoadOrCreateRootKeyRejectsMalformedFiles(t *testing.T) {
	valid := base64.StdEncoding.EncodeToString(rootKey("a"))
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"whitespace", " \n\t\n"},
		{"not base64", "this is not a key!!\n"},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n"},
		{"one byte short", base64.StdEncoding.EncodeToString(make([]byte, 31))},
		{"one byte long", base64.StdEncoding.EncodeToString(make([]byte, 33))},
		{"twice", valid + "\n" + valid + "\n"},
		{"url encoding", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFB}, 32)))},
		{"raw bytes", string(rootKey("a"))},
		{"hex", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			key, created, err := seal.LoadOrCreateRootKey(path, seededRand("k"))
			if err == nil {
				t.Fatalf("got key %x, want an error", key)
			}
			if key != nil || created {
				t.Errorf("got key %x, created %v; want neither", key, created)
			}
			// The malformed file is left alone, not replaced by a fresh key
			// that would orphan everything sealed under the old one.
			if b, err := os.ReadFile(path); err != nil || string(b) != tc.content {
				t.Errorf("got file %q, %v; want it unchanged", b, err)
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		path := t.TempDir()
		if key, _, err := seal.LoadOrCreateRootKey(path, seededRand("k")); err == nil {
			t.Errorf("got key %x for a directory, want an error", key)
		}
	})
	t.Run("control: trailing newline and spaces", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "root.key")
		if err := os.WriteFile(path, []byte("  "+valid+"\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		key, _, err := seal.LoadOrCreateRootKey(path, nil)
		if err != nil || !bytes.Equal(key, rootKey("a")) {
			t.Errorf("got %x, %v; want %x", key, err, rootKey("a"))
		}
	})
}

// FuzzOpen: no blob opens unless it is one this sealer made, with the
// associated data it was made with; nothing opens under another root key;
// nothing panics.
func FuzzOpen(f *testing.F) {
	s := newSealer(f, "fuzz")
	other := newSealer(f, "other") // seals nothing, so opens nothing
	type sealed struct{ pt, aad []byte }
	known := map[string]sealed{}
	add := func(pt, aad []byte, rand string) []byte {
		blob := mustSeal(f, s, seededRand(rand), pt, aad)
		known[string(blob)] = sealed{pt, aad}
		return blob
	}
	b1 := add([]byte("private key material"), []byte("mayfly signing key kid-1"), "one")
	b2 := add(nil, nil, "two")
	b3 := add(bytes.Repeat([]byte{7}, 300), []byte("aad"), "three")

	f.Add(b1, []byte("mayfly signing key kid-1"))
	f.Add(b1, []byte("mayfly signing key kid-2"))
	f.Add(b2, []byte{})
	f.Add(b3, []byte("aad"))
	f.Add(b1[:len(b1)-1], []byte("mayfly signing key kid-1"))
	f.Add(append(bytes.Clone(b1[:72]), b3[72:]...), []byte("aad"))
	f.Add(mustSeal(f, newSealer(f, "third"), seededRand("o"), []byte("x"), nil), []byte{}) // another root key
	f.Add([]byte("MFS1"), []byte{})
	f.Add([]byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{0}, 100), []byte{})

	f.Fuzz(func(t *testing.T, blob, aad []byte) {
		pt, err := s.Open(blob, aad)
		if err != nil {
			if pt != nil {
				t.Fatalf("got plaintext %q with error %v", pt, err)
			}
			if !errors.Is(err, seal.ErrOpen) {
				t.Fatalf("got error %v, want seal.ErrOpen", err)
			}
		} else {
			want, ok := known[string(blob)]
			if !ok {
				t.Fatalf("opened %x, which this sealer never made, to %q", blob, pt)
			}
			if !bytes.Equal(aad, want.aad) {
				t.Fatalf("opened a blob sealed with aad %q under aad %q", want.aad, aad)
			}
			if !bytes.Equal(pt, want.pt) {
				t.Fatalf("got plaintext %q, want %q", pt, want.pt)
			}
		}
		if pt, err := other.Open(blob, aad); err == nil || pt != nil {
			t.Fatalf("opened %x under another root key to %q", blob, pt)
		}
	})
}
