package app

import "github.com/mayflyhq/mayfly/internal/ledger"

// detector is what the ledger's ingest hands reports to; nil detects
// nothing.
func (s *App) detector() ledger.Detector { return nil }
