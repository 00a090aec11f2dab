package token

import (
	"sync"

	"github.com/mayflyhq/mayfly"
)

// verifiedCacheSize bounds the tokens remembered as verified: about 1 KB
// each for tokens of the usual size, so about 65 MB when full.
const verifiedCacheSize = 1 << 16

// verified is what is remembered of a token whose form and signature
// checked: the kid that signed it and its claims. Neither can change for
// the same string: a kid names one key, and the claims are signed.
type verified struct {
	kid    string
	claims Claims
}

// verifiedCache remembers verified tokens by the SHA-256 of their exact
// string until they expire. Resource servers introspect the same token on
// every request it comes with; the signature need not be checked each
// time. Only a token that verified is remembered, so a flood of garbage
// costs what it costs today and evicts nothing.
type verifiedCache struct {
	max   int
	clock mayfly.Clock
	mu    sync.RWMutex
	m     map[[32]byte]verifiedEntry
}

type verifiedEntry struct {
	v   *verified
	exp int64 // Unix seconds: the token's exp
}

func newVerifiedCache(max int, clock mayfly.Clock) *verifiedCache {
	return &verifiedCache{max: max, clock: clock, m: make(map[[32]byte]verifiedEntry)}
}

func (c *verifiedCache) get(id [32]byte) (*verified, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || c.clock.Now().Unix() >= e.exp {
		return nil, false // an expired token: refused by the full path, which says why
	}
	return e.v, true
}

func (c *verifiedCache) put(id [32]byte, v verified, exp int64) {
	if c.clock.Now().Unix() >= exp {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.evict()
	}
	c.m[id] = verifiedEntry{v: &v, exp: exp}
}

// evict drops the expired entries, or if none has expired an eighth of
// the entries, whichever the map's random order gives first.
func (c *verifiedCache) evict() {
	now := c.clock.Now().Unix()
	for id, e := range c.m {
		if now >= e.exp {
			delete(c.m, id)
		}
	}
	n := c.max / 8
	for id := range c.m {
		if len(c.m) < c.max-n {
			return
		}
		delete(c.m, id)
	}
}
