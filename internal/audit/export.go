package audit

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
)

// Export bundles the entries made in [from, to) with a fresh checkpoint,
// for anyone to verify offline with bundle.Verify and the log's public key.
func (l *Log) Export(ctx context.Context, from, to time.Time) (*bundle.Bundle, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{Format: bundle.Format, Origin: l.cfg.Origin, Entries: []bundle.Entry{}}
	if cp == nil {
		return nil, mayfly.Errorf(mayfly.NotFound, "the audit log is empty")
	}
	b.Checkpoint = cp.Note
	recs, err := l.cfg.Store.AuditEntries(ctx, mayfly.AuditFilter{Since: from, Until: to, To: cp.Size})
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		p, err := l.Inclusion(ctx, r.Index, cp.Size)
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, bundle.Entry{Entry: r.Entry, Proof: p})
	}
	return b, nil
}
