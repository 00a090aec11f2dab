// Package seal encrypts key material at rest with an AES-256-GCM envelope:
// each blob gets its own data key, and the data key is encrypted under the
// root key.
//
// # Invariants
//
// A blob opens only under the root key that sealed it and only with the
// associated data it was sealed with, so a sealed key cannot be moved to
// another record. Plaintext never leaves this package except to its caller.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

const (
	version   = "MFS1"
	idLen     = 8
	nonceLen  = 12
	dekLen    = 32
	overhead  = 16
	headerLen = len(version) + idLen + nonceLen + dekLen + overhead + nonceLen
)

// RootKeySize is the root key's length in bytes.
const RootKeySize = 32

// ErrOpen is returned for any blob that does not open: wrong root key,
// wrong associated data, or tampering. It says nothing more on purpose.
var ErrOpen = errors.New("seal: cannot open sealed data")

// Sealer seals blobs under its current root key and opens blobs sealed
// under any root key it holds. It holds more than one only while the root
// key is being replaced: Rotate adds the new one, Retire drops the rest.
type Sealer struct {
	roots atomic.Pointer[[]*root] // the current one first
}

type root struct {
	kek cipher.AEAD
	id  [idLen]byte
}

// New returns a Sealer for a 32-byte root key.
func New(key []byte) (*Sealer, error) {
	r, err := newRoot(key)
	if err != nil {
		return nil, err
	}
	s := &Sealer{}
	s.roots.Store(&[]*root{r})
	return s, nil
}

func newRoot(key []byte) (*root, error) {
	if len(key) != RootKeySize {
		return nil, fmt.Errorf("seal: root key is %d bytes, want %d", len(key), RootKeySize)
	}
	kek, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	r := &root{kek: kek}
	sum := sha256.Sum256(append([]byte("mayfly root key id\x00"), key...))
	copy(r.id[:], sum[:])
	return r, nil
}

// Rotate makes key the root key new blobs are sealed under; blobs sealed
// under the others still open until Retire.
func (s *Sealer) Rotate(key []byte) error {
	r, err := newRoot(key)
	if err != nil {
		return err
	}
	old := *s.roots.Load()
	roots := append([]*root{r}, old...)
	s.roots.Store(&roots)
	return nil
}

// Retire forgets every root key but the current one.
func (s *Sealer) Retire() {
	s.roots.Store(&[]*root{(*s.roots.Load())[0]})
}

// Current reports whether blob is sealed under the current root key.
func (s *Sealer) Current(blob []byte) bool {
	id := (*s.roots.Load())[0].id
	return len(blob) > len(version)+idLen && bytes.Equal(blob[len(version):len(version)+idLen], id[:])
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ID names the current root key without revealing it.
func (s *Sealer) ID() string {
	id := (*s.roots.Load())[0].id
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// Seal encrypts plaintext bound to aad, drawing keys and nonces from rand.
func (s *Sealer) Seal(rand io.Reader, plaintext, aad []byte) ([]byte, error) {
	r := (*s.roots.Load())[0]
	var dek [dekLen]byte
	buf := make([]byte, 0, headerLen+len(plaintext)+overhead)
	buf = append(buf, version...)
	buf = append(buf, r.id[:]...)
	wrapNonce := make([]byte, nonceLen)
	nonce := make([]byte, nonceLen)
	for _, b := range [][]byte{dek[:], wrapNonce, nonce} {
		if _, err := io.ReadFull(rand, b); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
	}
	buf = append(buf, wrapNonce...)
	buf = r.kek.Seal(buf, wrapNonce, dek[:], r.id[:])
	buf = append(buf, nonce...)
	data, err := newGCM(dek[:])
	if err != nil {
		return nil, err
	}
	clear(dek[:])
	return data.Seal(buf, nonce, plaintext, aad), nil
}

// Open decrypts a blob sealed with aad under one of the root keys held.
func (s *Sealer) Open(blob, aad []byte) ([]byte, error) {
	if len(blob) < headerLen+overhead || string(blob[:len(version)]) != version {
		return nil, ErrOpen
	}
	p := blob[len(version):]
	var r *root
	for _, k := range *s.roots.Load() {
		if bytes.Equal(p[:idLen], k.id[:]) {
			r = k
		}
	}
	if r == nil {
		return nil, ErrOpen
	}
	p = p[idLen:]
	dek, err := r.kek.Open(nil, p[:nonceLen], p[nonceLen:nonceLen+dekLen+overhead], r.id[:])
	if err != nil {
		return nil, ErrOpen
	}
	p = p[nonceLen+dekLen+overhead:]
	data, err := newGCM(dek)
	clear(dek)
	if err != nil {
		return nil, ErrOpen
	}
	pt, err := data.Open(nil, p[:nonceLen], p[nonceLen:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// ReadRootKey reads a root key file.
func ReadRootKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeRootKey(path, b)
}

// decodeRootKey decodes the contents b of the root key file at path.
func decodeRootKey(path string, b []byte) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != RootKeySize {
		return nil, fmt.Errorf("root key: %s does not hold a base64 %d-byte key", path, RootKeySize)
	}
	return key, nil
}

// WriteRootKey writes key to path, mode 0600, replacing any file there
// only once the new one is durable.
func WriteRootKey(path string, key []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".root.key-*")
	if err != nil {
		return fmt.Errorf("root key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("root key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("root key: %w", err)
	}
	return nil
}

// LoadOrCreateRootKey reads the root key file at path, creating it with a
// fresh key (mode 0600) if it does not exist. created reports which.
func LoadOrCreateRootKey(path string, rand io.Reader) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, RootKeySize)
		if _, err := io.ReadFull(rand, key); err != nil {
			return nil, false, fmt.Errorf("root key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("root key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("root key: %w", err)
		}
		_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
			return nil, false, fmt.Errorf("root key: write %s: %w", path, err)
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("root key: %w", err)
	}
	defer clear(b)
	key, err = decodeRootKey(path, b)
	return key, false, err
}
