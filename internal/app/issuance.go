package app

import (
	"context"

	"github.com/mayflyhq/mayfly/internal/token"
)

// startIssuanceRetention assembles the retention of issuance records,
// which the background schedule runs.
func (s *App) startIssuanceRetention() error {
	var err error
	s.issuanceRetention, err = token.NewRetention(token.RetentionConfig{Store: s.store, Audit: s.Audit, Keep: s.cfg.IssuanceRetention,
		Clock: s.cfg.Clock, Log: s.cfg.Log})
	return err
}

// pruneIssuances deletes the issuance records past retention.
func (s *App) pruneIssuances(ctx context.Context) error {
	_, err := s.issuanceRetention.Maintain(ctx)
	return err
}
