package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Doctor runs the inventory and policy report. A zero maxSecretAge or
// idleDays leaves the server's default (90 days, 30 days).
func (c *Client) Doctor(ctx context.Context, maxSecretAge time.Duration, idleDays int) (*mayfly.DoctorReport, error) {
	q := url.Values{}
	if maxSecretAge != 0 {
		q.Set("max_secret_age", maxSecretAge.String())
	}
	if idleDays != 0 {
		q.Set("idle_days", strconv.Itoa(idleDays))
	}
	path := "/v1/doctor"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var rep mayfly.DoctorReport
	if err := c.do(ctx, "GET", path, nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
