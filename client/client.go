// Package client is a typed client for Mayfly's admin API. The CLI is built
// on it; so can anything else that manages Mayfly.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/httpapi"
)

// Client calls one Mayfly server with one admin credential.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a Client for the server at baseURL.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a JSON request and decodes a JSON response into out. API errors
// come back as *mayfly.Error with the server's code and message.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &mayfly.Error{Code: mayfly.Unavailable, Msg: fmt.Sprintf("cannot reach mayfly at %s", c.BaseURL), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e httpapi.ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return &mayfly.Error{Code: mayfly.Internal, Msg: fmt.Sprintf("%s %s: unexpected response %s", method, path, resp.Status)}
		}
		return &mayfly.Error{Code: e.Error, Msg: e.Message, Field: e.Field}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding response: %w", method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// CreatePrincipal creates a principal.
func (c *Client) CreatePrincipal(ctx context.Context, req httpapi.PrincipalRequest) (*mayfly.Principal, error) {
	var p mayfly.Principal
	return &p, c.do(ctx, "POST", "/v1/principals", req, &p)
}

// Principals lists principals.
func (c *Client) Principals(ctx context.Context) ([]*mayfly.Principal, error) {
	var ps []*mayfly.Principal
	return ps, c.do(ctx, "GET", "/v1/principals", nil, &ps)
}

// Principal shows one principal by ID or name.
func (c *Client) Principal(ctx context.Context, ref string) (*mayfly.Principal, error) {
	var p mayfly.Principal
	return &p, c.do(ctx, "GET", "/v1/principals/"+esc(ref), nil, &p)
}

// CreateClient creates an OAuth2 client. The response holds its secret, once.
func (c *Client) CreateClient(ctx context.Context, req httpapi.ClientRequest) (*httpapi.CreatedClient, error) {
	out := &httpapi.CreatedClient{Client: &mayfly.Client{}}
	return out, c.do(ctx, "POST", "/v1/clients", req, out)
}

// Clients lists clients.
func (c *Client) Clients(ctx context.Context) ([]*mayfly.Client, error) {
	var cs []*mayfly.Client
	return cs, c.do(ctx, "GET", "/v1/clients", nil, &cs)
}

// ClientByID shows one client.
func (c *Client) ClientByID(ctx context.Context, id string) (*mayfly.Client, error) {
	var cl mayfly.Client
	return &cl, c.do(ctx, "GET", "/v1/clients/"+esc(id), nil, &cl)
}

// RevokeClient revokes a client and every token it holds.
func (c *Client) RevokeClient(ctx context.Context, id, reason string) (*mayfly.Revocation, error) {
	var r mayfly.Revocation
	return &r, c.do(ctx, "POST", "/v1/clients/"+esc(id)+"/revoke", httpapi.RevokeRequest{Reason: reason}, &r)
}

// CreateRing creates a key ring.
func (c *Client) CreateRing(ctx context.Context, req httpapi.RingRequest) (*httpapi.RingView, error) {
	var r httpapi.RingView
	return &r, c.do(ctx, "POST", "/v1/rings", req, &r)
}

// Rings lists key rings with their keys.
func (c *Client) Rings(ctx context.Context) ([]httpapi.RingView, error) {
	var rs []httpapi.RingView
	return rs, c.do(ctx, "GET", "/v1/rings", nil, &rs)
}

// Rotate makes a ring's next key sign now.
func (c *Client) Rotate(ctx context.Context, ring string) (*httpapi.RingView, error) {
	var r httpapi.RingView
	return &r, c.do(ctx, "POST", "/v1/rings/"+esc(ring)+"/rotate", nil, &r)
}

// Keys lists keys, of one ring if ring is not empty.
func (c *Client) Keys(ctx context.Context, ring string) ([]httpapi.KeyView, error) {
	var ks []httpapi.KeyView
	path := "/v1/keys"
	if ring != "" {
		path += "?ring=" + url.QueryEscape(ring)
	}
	return ks, c.do(ctx, "GET", path, nil, &ks)
}

// RevokeKey revokes a signing key.
func (c *Client) RevokeKey(ctx context.Context, kid, reason string) (*mayfly.Revocation, error) {
	var r mayfly.Revocation
	return &r, c.do(ctx, "POST", "/v1/keys/"+esc(kid)+"/revoke", httpapi.RevokeRequest{Reason: reason}, &r)
}

// Tokens lists issuance records.
func (c *Client) Tokens(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("client", f.ClientID)
	set("kid", f.KID)
	set("jti", f.JTI)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var recs []mayfly.Issuance
	return recs, c.do(ctx, "GET", "/v1/tokens?"+q.Encode(), nil, &recs)
}

// RevokeToken revokes one token by its jti.
func (c *Client) RevokeToken(ctx context.Context, jti, reason string) (*mayfly.Revocation, error) {
	var r mayfly.Revocation
	return &r, c.do(ctx, "POST", "/v1/tokens/"+esc(jti)+"/revoke", httpapi.RevokeRequest{Reason: reason}, &r)
}
