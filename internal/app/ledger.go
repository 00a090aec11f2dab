package app

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly/internal/ledger"
)

// ledgerRecoverEvery is how often a replica looks for journal batches
// that a replica that died left behind.
const ledgerRecoverEvery = time.Minute

// startLedger assembles the ledger's policy and its ingest, and starts
// the ingest: what the journal holds from before is recovered first.
func (s *App) startLedger(ctx context.Context, replicated bool) error {
	var err error
	lc := ledger.Config{Store: s.store, Retention: s.cfg.LedgerRetention, Clock: s.cfg.Clock, Log: s.cfg.Log}
	if s.cfg.LedgerByToken {
		lc.ByCredential = -1
	}
	s.Ledger, err = ledger.New(lc)
	if err != nil {
		return err
	}
	det := s.detector()
	if s.cfg.WrapDetector != nil {
		det = s.cfg.WrapDetector(det)
	}
	cfg := ledger.IngestConfig{Store: s.store, Audit: s.Audit, Detector: det, Clock: s.cfg.Clock, Log: s.cfg.Log}
	if replicated {
		cfg.RecoverEvery = ledgerRecoverEvery
	}
	if s.Ingest, err = ledger.NewIngest(cfg); err != nil {
		return err
	}
	s.TokenChecker = ledger.NewTokenChecker(s.Keys)
	return s.Ingest.Start(ctx)
}
