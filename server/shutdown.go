package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// shutdownWait bounds how long requests under way may take to finish.
const shutdownWait = 10 * time.Second

// shutdown drains the server once ctx, which Run serves under, has ended:
// it stops taking requests, ends revocation streams and long polls, waits
// for the requests under way, lets the Shared Signals pushes under way
// finish, writes the last issuance records and audit entries, and closes
// the store. It logs a line as it starts, with what it will wait for, and
// one when it is done, with what it finished and how long it took.
func (s *Server) shutdown(ctx context.Context, hs *http.Server, log *slog.Logger) error {
	start := time.Now()
	open := s.api.Open()
	issued, audited := s.Token.Recorded(), s.Audit.Size()
	requests := open.Requests - open.Streams - open.Polls
	log.Info("shutting down", append(cause(ctx), "requests", requests, "streams", open.Streams, "polls", open.Polls)...)

	wait, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	err := hs.Shutdown(wait) // ends streams and polls first (RegisterOnShutdown)
	served := time.Since(start)
	left := s.api.Open().Requests
	drained, closeErr := s.Shutdown(context.Background())

	attrs := []any{"took", time.Since(start).Round(time.Millisecond), "http_took", served.Round(time.Millisecond),
		"requests_finished", max(requests-left, 0), "streams_closed", open.Streams, "polls_ended", open.Polls,
		"issuance_records_flushed", s.Token.Recorded() - issued, "audit_entries_flushed", s.Audit.Size() - audited,
		"ssf_pushes_finished", drained.Pushes}
	if drained.Queued >= 0 {
		attrs = append(attrs, "ssf_events_queued", drained.Queued)
	}
	if err != nil {
		// The wait ran out: what was still being served was cut off.
		log.Warn("shut down; requests were cut off", append(attrs, "requests_cut_off", left, "err", err)...)
		return err
	}
	if closeErr != nil {
		log.Error("shut down; closing the store failed", append(attrs, "err", closeErr)...)
		return closeErr
	}
	log.Info("shut down", attrs...)
	return nil
}

// cause says what ended ctx, for the log: the signal main was told of
// (os/signal.NotifyContext's cause, "terminated signal received"), or
// whatever else cancelled it.
func cause(ctx context.Context) []any {
	c := context.Cause(ctx)
	if c == nil {
		return nil
	}
	name, ok := strings.CutSuffix(c.Error(), " signal received")
	if !ok {
		return []any{"cause", c.Error()}
	}
	switch name {
	case "terminated":
		name = "SIGTERM"
	case "interrupt":
		name = "SIGINT"
	}
	return []any{"signal", name}
}
