package seal_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/mayflyhq/mayfly/internal/seal"
)

// TestRotate: after Rotate, old blobs still open and new blobs use the new
// root key; after Retire, blobs sealed under the old root key do not open.
func TestRotate(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, seal.RootKeySize), bytes.Repeat([]byte{2}, seal.RootKeySize)
	s, err := seal.New(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("kid")
	oldBlob, err := s.Seal(rand.Reader, []byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(newKey); err != nil {
		t.Fatal(err)
	}
	if pt, err := s.Open(oldBlob, aad); err != nil || string(pt) != "secret" {
		t.Fatalf("old blob during rotation: %q, %v", pt, err)
	}
	newBlob, err := s.Seal(rand.Reader, []byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if s.Current(oldBlob) || !s.Current(newBlob) {
		t.Errorf("Current: old %v, new %v; want false, true", s.Current(oldBlob), s.Current(newBlob))
	}
	s.Retire()
	if _, err := s.Open(oldBlob, aad); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("old blob after Retire: %v; want ErrOpen", err)
	}
	if pt, err := s.Open(newBlob, aad); err != nil || string(pt) != "secret" {
		t.Errorf("new blob after Retire: %q, %v", pt, err)
	}
	only, _ := seal.New(oldKey)
	if _, err := only.Open(newBlob, aad); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("a blob sealed under the new root key opened under the old: %v", err)
	}
}
