package app

import (
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/ledger"
)

// detector builds the detection engine the ingest hands reports to; nil,
// detecting nothing, without an alert service to raise through.
func (s *App) detector() ledger.Detector {
	r := s.raiser()
	if r == nil {
		return nil
	}
	e, err := detect.New(s.cfg.Detect, detect.Deps{Raiser: r, Tokens: s.store, Identity: s.Identity, Keys: s.Keys,
		Revoker: s.Revoker, Clock: s.cfg.Clock, Log: s.cfg.Log.With("part", "detect")})
	if err != nil {
		// Config.Defaults refused bad settings already.
		s.cfg.Log.Error("detection is off", "err", err)
		return nil
	}
	s.detect = e
	return e
}

// raiser is the alert service the rules raise through, nil while there is
// none. A nil *alert.Service in the interface would not be nil.
func (s *App) raiser() detect.Raiser {
	if s.Alerts == nil {
		return nil
	}
	return s.Alerts
}
