package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/mayflyhq/mayfly"
)

// PostLedgerReports posts one batch of ledger reports, as JSON Lines, to
// POST /v1/ledger/events, and returns how many lines the server accepted.
// A batch is taken whole or refused whole; a refusal comes back as a
// *mayfly.Error whose message names the batch's line at fault.
func (c *Client) PostLedgerReports(ctx context.Context, batch []byte) (int, error) {
	const path = "/v1/ledger/events"
	req, err := http.NewRequestWithContext(ctx, "POST", c.BaseURL+path, bytes.NewReader(batch))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, &mayfly.Error{Code: mayfly.Unavailable, Msg: fmt.Sprintf("cannot reach mayfly at %s", c.BaseURL), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode >= 300 {
		// The admin API's error shape, or OAuth's (error_description).
		var e struct {
			Error       string `json:"error"`
			Message     string `json:"message"`
			Description string `json:"error_description"`
			Field       string `json:"field"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return 0, &mayfly.Error{Code: mayfly.Internal, Msg: fmt.Sprintf("POST %s: unexpected response %s", path, resp.Status)}
		}
		code := mayfly.Code(e.Error)
		switch {
		case e.Error == "invalid_request" || resp.StatusCode == http.StatusBadRequest:
			code = mayfly.Invalid
		case resp.StatusCode == http.StatusRequestEntityTooLarge:
			code = mayfly.Invalid
		}
		msg := e.Message
		if msg == "" {
			msg = e.Description
		}
		if msg == "" {
			msg = fmt.Sprintf("POST %s: %s", path, resp.Status)
		}
		return 0, &mayfly.Error{Code: code, Msg: msg, Field: e.Field}
	}
	var out struct {
		Accepted *int `json:"accepted"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Accepted == nil {
		return 0, fmt.Errorf("POST %s: the answer does not say how many reports were accepted", path)
	}
	return *out.Accepted, nil
}
