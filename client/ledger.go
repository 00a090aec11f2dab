package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

// LedgerBuckets lists the access ledger's buckets that f selects.
func (c *Client) LedgerBuckets(ctx context.Context, f mayfly.LedgerFilter) ([]api.LedgerBucketView, error) {
	q := url.Values{}
	for k, v := range map[string]string{"jti": f.JTI, "digest": f.Digest, "namespace": f.Namespace,
		"kid": f.KID, "client_id": f.ClientID, "principal_id": f.PrincipalID, "sub": f.Subject} {
		if v != "" {
			q.Set(k, v)
		}
	}
	setTime(q, "from", f.From)
	setTime(q, "to", f.To)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []api.LedgerBucketView
	return out, c.do(ctx, "GET", api.LedgerPath+query(q), nil, &out)
}

// LedgerGaps lists the reports services dropped that overlap [from, to).
func (c *Client) LedgerGaps(ctx context.Context, from, to time.Time) ([]*mayfly.LedgerGap, error) {
	q := url.Values{}
	setTime(q, "from", from)
	setTime(q, "to", to)
	var out []*mayfly.LedgerGap
	return out, c.do(ctx, "GET", api.LedgerGapsPath+query(q), nil, &out)
}

func setTime(q url.Values, k string, t time.Time) {
	if !t.IsZero() {
		q.Set(k, t.UTC().Format(time.RFC3339Nano))
	}
}

func query(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
