package client

import (
	"context"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// Scope answers q: the exact records its tokens read. With q.Minus, the
// records read under q but not under q.Minus.
func (c *Client) Scope(ctx context.Context, q mayfly.ScopeQuery) (*mayfly.Scope, error) {
	var out mayfly.Scope
	if err := c.do(ctx, "POST", api.ScopePath, q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ScopeReport answers q as evidence: signed by the audit log's key, and
// recorded in the log.
func (c *Client) ScopeReport(ctx context.Context, q mayfly.ScopeQuery) (*mayfly.SignedScopeReport, error) {
	var out mayfly.SignedScopeReport
	if err := c.do(ctx, "POST", api.ScopeReportPath, q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
