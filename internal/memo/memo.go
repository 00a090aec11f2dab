// Package memo remembers what verifying a token found, by the SHA-256 of
// the token's exact string: a service meets the same token again and
// again in its life, and a signature check is most of what verifying it
// costs. Only what cannot change for the same string belongs here (that
// its signature verified, under which key, its claims); what can change
// is the caller's to check each time.
package memo

import (
	"crypto/sha256"
	"sync"
)

// Memory holds up to two generations of max entries each: when the
// current one is full it becomes the old one and the old one is dropped,
// so the tokens in use stay and memory is bounded.
type Memory[V any] struct {
	max      int
	mu       sync.Mutex
	cur, old map[[sha256.Size]byte]V
}

// New returns an empty Memory of at most 2 x max entries.
func New[V any](max int) *Memory[V] {
	return &Memory[V]{max: max, cur: make(map[[sha256.Size]byte]V)}
}

// Sum is the key of a token's entry.
func Sum(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// Get returns the entry of sum, if there is one.
func (m *Memory[V]) Get(sum [sha256.Size]byte) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cur[sum]
	if !ok {
		v, ok = m.old[sum]
	}
	return v, ok
}

// Put remembers v for sum.
func (m *Memory[V]) Put(sum [sha256.Size]byte, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cur) >= m.max {
		m.old, m.cur = m.cur, make(map[[sha256.Size]byte]V, m.max)
	}
	m.cur[sum] = v
}

// Forget drops every entry.
func (m *Memory[V]) Forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.old, m.cur = nil, make(map[[sha256.Size]byte]V)
}
