package identity

import (
	"context"

	"github.com/mayflyhq/mayfly"
)

// Names returns the names of the principals, clients and admin
// credentials among ids, keyed by ID, from one lookup however many IDs
// there are. Empty and repeated IDs are passed over; an ID of nothing the
// store holds is left out, and its reader shows the ID alone.
func (s *Service) Names(ctx context.Context, ids ...string) (map[string]string, error) {
	seen := make(map[string]bool, len(ids))
	var ask []string
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			ask = append(ask, id)
		}
	}
	if len(ask) == 0 {
		return map[string]string{}, nil
	}
	names, err := s.cfg.Store.Names(ctx, ask)
	if err != nil {
		return nil, mayfly.E("identity.Names", err)
	}
	return names, nil
}
