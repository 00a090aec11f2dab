// Package refcache is how both stores find the integer references that
// issuance rows hold in place of their key's, client's and principal's IDs.
// A reference never changes once made, so a cached one cannot go stale.
package refcache

import (
	"context"
	"fmt"
	"sync"

	"github.com/mayflyhq/mayfly"
)

// Refs are the references of one issuance.
type Refs struct{ Key, Client, Principal int64 }

// Lookup reads the reference of the row of table whose column col is id.
type Lookup func(ctx context.Context, table, col, id string) (int64, error)

// Cache holds the references found so far. The zero Cache is empty and
// ready; it is safe for concurrent use.
type Cache struct {
	mu                        sync.Mutex
	keys, clients, principals map[string]int64 // by ID
}

// Resolve returns the references of recs, in order, reading those it does
// not hold with lookup. Its error names the ID that could not be resolved.
func (c *Cache) Resolve(ctx context.Context, recs []mayfly.Issuance, lookup Lookup) ([]Refs, error) {
	refs := make([]Refs, len(recs))
	for i, r := range recs {
		var err error
		if refs[i].Key, err = c.ref(ctx, lookup, &c.keys, "keys", "kid", r.KID); err != nil {
			return nil, fmt.Errorf("key %s: %w", r.KID, err)
		}
		if refs[i].Client, err = c.ref(ctx, lookup, &c.clients, "clients", "id", r.ClientID); err != nil {
			return nil, fmt.Errorf("client %s: %w", r.ClientID, err)
		}
		if refs[i].Principal, err = c.ref(ctx, lookup, &c.principals, "principals", "id", r.PrincipalID); err != nil {
			return nil, fmt.Errorf("principal %s: %w", r.PrincipalID, err)
		}
	}
	return refs, nil
}

// ref returns the reference of id in table, caching it in *cache.
func (c *Cache) ref(ctx context.Context, lookup Lookup, cache *map[string]int64, table, col, id string) (int64, error) {
	c.mu.Lock()
	ref, ok := (*cache)[id]
	c.mu.Unlock()
	if ok {
		return ref, nil
	}
	ref, err := lookup(ctx, table, col, id)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if *cache == nil {
		*cache = map[string]int64{}
	}
	(*cache)[id] = ref
	c.mu.Unlock()
	return ref, nil
}
