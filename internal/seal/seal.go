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

// Sealer seals and opens blobs under one root key.
type Sealer struct {
	kek cipher.AEAD
	id  [idLen]byte
}

// New returns a Sealer for a 32-byte root key.
func New(root []byte) (*Sealer, error) {
	if len(root) != RootKeySize {
		return nil, fmt.Errorf("seal: root key is %d bytes, want %d", len(root), RootKeySize)
	}
	kek, err := newGCM(root)
	if err != nil {
		return nil, err
	}
	s := &Sealer{kek: kek}
	sum := sha256.Sum256(append([]byte("mayfly root key id\x00"), root...))
	copy(s.id[:], sum[:])
	return s, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ID names the root key without revealing it.
func (s *Sealer) ID() string { return base64.RawURLEncoding.EncodeToString(s.id[:]) }

// Seal encrypts plaintext bound to aad, drawing keys and nonces from rand.
func (s *Sealer) Seal(rand io.Reader, plaintext, aad []byte) ([]byte, error) {
	var dek [dekLen]byte
	buf := make([]byte, 0, headerLen+len(plaintext)+overhead)
	buf = append(buf, version...)
	buf = append(buf, s.id[:]...)
	wrapNonce := make([]byte, nonceLen)
	nonce := make([]byte, nonceLen)
	for _, b := range [][]byte{dek[:], wrapNonce, nonce} {
		if _, err := io.ReadFull(rand, b); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
	}
	buf = append(buf, wrapNonce...)
	buf = s.kek.Seal(buf, wrapNonce, dek[:], s.id[:])
	buf = append(buf, nonce...)
	data, err := newGCM(dek[:])
	if err != nil {
		return nil, err
	}
	clear(dek[:])
	return data.Seal(buf, nonce, plaintext, aad), nil
}

// Open decrypts a blob sealed with aad under this root key.
func (s *Sealer) Open(blob, aad []byte) ([]byte, error) {
	if len(blob) < headerLen+overhead || string(blob[:len(version)]) != version {
		return nil, ErrOpen
	}
	p := blob[len(version):]
	if !bytes.Equal(p[:idLen], s.id[:]) {
		return nil, ErrOpen
	}
	p = p[idLen:]
	dek, err := s.kek.Open(nil, p[:nonceLen], p[nonceLen:nonceLen+dekLen+overhead], s.id[:])
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
	key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != RootKeySize {
		return nil, false, fmt.Errorf("root key: %s does not hold a base64 %d-byte key", path, RootKeySize)
	}
	return key, false, nil
}
