package sdk

import (
	"sync"
	"time"
)

// entry is a token whose signature and claims were verified once. What can
// change after that (the time, the key set, revocations, the feed's
// freshness) is checked again on every use.
type entry struct {
	claims Claims
	key    *key      // the key that verified it: still published?
	issued time.Time // for not-before marks: see issueTime
	// digest is canon.Digest of the token, computed once, for reports.
	digest string
}

// cache holds verified tokens by their raw text, at most size of them.
type cache struct {
	mu   sync.RWMutex
	size int
	m    map[string]*entry
}

func newCache(size int) *cache {
	if size <= 0 {
		return nil
	}
	return &cache{size: size, m: make(map[string]*entry, min(size, 1024))}
}

func (c *cache) get(raw string) *entry {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e := c.m[raw]
	c.mu.RUnlock()
	return e
}

// put adds e. When the cache is full it first drops an eighth of it,
// whichever entries the map's iteration order offers; expired entries leave
// when they are next looked up.
func (c *cache) put(raw string, e *entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		drop := max(c.size/8, 1)
		for k := range c.m {
			delete(c.m, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.m[raw] = e
}

func (c *cache) remove(raw string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, raw)
	c.mu.Unlock()
}
