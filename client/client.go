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
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bundle"
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
		var e api.ErrorBody
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
func (c *Client) CreatePrincipal(ctx context.Context, req api.PrincipalRequest) (*api.PrincipalView, error) {
	var p api.PrincipalView
	return &p, c.do(ctx, "POST", "/v1/principals", req, &p)
}

// Principals lists principals.
func (c *Client) Principals(ctx context.Context) ([]*api.PrincipalView, error) {
	var ps []*api.PrincipalView
	return ps, c.do(ctx, "GET", "/v1/principals", nil, &ps)
}

// Principal shows one principal by ID or name.
func (c *Client) Principal(ctx context.Context, ref string) (*api.PrincipalView, error) {
	var p api.PrincipalView
	return &p, c.do(ctx, "GET", "/v1/principals/"+esc(ref), nil, &p)
}

// CreateClient creates an OAuth2 client. The response holds its secret, once.
func (c *Client) CreateClient(ctx context.Context, req api.ClientRequest) (*api.CreatedClient, error) {
	out := &api.CreatedClient{Client: &mayfly.Client{}}
	return out, c.do(ctx, "POST", "/v1/clients", req, out)
}

// Clients lists clients.
func (c *Client) Clients(ctx context.Context) ([]*api.ClientView, error) {
	var cs []*api.ClientView
	return cs, c.do(ctx, "GET", "/v1/clients", nil, &cs)
}

// ClientByID shows one client.
func (c *Client) ClientByID(ctx context.Context, id string) (*api.ClientView, error) {
	var cl api.ClientView
	return &cl, c.do(ctx, "GET", "/v1/clients/"+esc(id), nil, &cl)
}

// RevokeClient revokes a client and every token it holds.
func (c *Client) RevokeClient(ctx context.Context, id, reason string) (*api.RevocationView, error) {
	var r api.RevocationView
	return &r, c.do(ctx, "POST", "/v1/clients/"+esc(id)+"/revoke", api.RevokeRequest{Reason: reason}, &r)
}

// CreateRing creates a key ring.
func (c *Client) CreateRing(ctx context.Context, req api.RingRequest) (*api.RingView, error) {
	var r api.RingView
	return &r, c.do(ctx, "POST", "/v1/rings", req, &r)
}

// Rings lists key rings with their keys.
func (c *Client) Rings(ctx context.Context) ([]api.RingView, error) {
	var rs []api.RingView
	return rs, c.do(ctx, "GET", "/v1/rings", nil, &rs)
}

// Rotate makes a ring's next key sign now.
func (c *Client) Rotate(ctx context.Context, ring string) (*api.RingView, error) {
	var r api.RingView
	return &r, c.do(ctx, "POST", "/v1/rings/"+esc(ring)+"/rotate", nil, &r)
}

// Keys lists keys, of one ring if ring is not empty.
func (c *Client) Keys(ctx context.Context, ring string) ([]api.KeyView, error) {
	var ks []api.KeyView
	path := "/v1/keys"
	if ring != "" {
		path += "?ring=" + url.QueryEscape(ring)
	}
	return ks, c.do(ctx, "GET", path, nil, &ks)
}

// RevokeKey revokes a signing key.
func (c *Client) RevokeKey(ctx context.Context, kid, reason string) (*api.RevocationView, error) {
	var r api.RevocationView
	return &r, c.do(ctx, "POST", "/v1/keys/"+esc(kid)+"/revoke", api.RevokeRequest{Reason: reason}, &r)
}

// Tokens lists issuance records.
func (c *Client) Tokens(ctx context.Context, f mayfly.IssuanceFilter) ([]api.IssuanceView, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("client", f.ClientID)
	set("kid", f.KID)
	set("jti", f.JTI)
	set("digest", f.Digest)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var recs []api.IssuanceView
	return recs, c.do(ctx, "GET", "/v1/tokens?"+q.Encode(), nil, &recs)
}

// RevokeToken revokes one token by its jti.
func (c *Client) RevokeToken(ctx context.Context, jti, reason string) (*api.RevocationView, error) {
	var r api.RevocationView
	return &r, c.do(ctx, "POST", "/v1/tokens/"+esc(jti)+"/revoke", api.RevokeRequest{Reason: reason}, &r)
}

// RevokeSubject logs one subject, such as customer:48213377, out
// everywhere: its tokens issued before now are rejected.
func (c *Client) RevokeSubject(ctx context.Context, subject, reason string) (*api.RevocationView, error) {
	var r api.RevocationView
	return &r, c.do(ctx, "POST", "/v1/subjects/"+esc(subject)+"/revoke", api.RevokeRequest{Reason: reason}, &r)
}

// RevokeNamespace logs every subject of a namespace out: their tokens
// issued before req.Before (now if zero) are rejected.
func (c *Client) RevokeNamespace(ctx context.Context, req api.NamespaceRevokeRequest) (*api.RevocationView, error) {
	var r api.RevocationView
	return &r, c.do(ctx, "POST", "/v1/subjects/revoke", req, &r)
}

// AuditSearch lists audit entries.
func (c *Client) AuditSearch(ctx context.Context, f mayfly.AuditFilter) ([]api.AuditItem, error) {
	q := url.Values{}
	for k, v := range map[string]string{"action": string(f.Action), "principal": f.Principal, "client": f.Client, "kid": f.KID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.From > 0 {
		q.Set("from", fmt.Sprint(f.From))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if f.Newest {
		q.Set("newest", "true")
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	var out []api.AuditItem
	return out, c.do(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &out)
}

// AuditEntry shows one audit entry.
func (c *Client) AuditEntry(ctx context.Context, index uint64) (*api.AuditItem, error) {
	var out api.AuditItem
	return &out, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/%d", index), nil, &out)
}

// AuditVerify has the server verify its stored log.
func (c *Client) AuditVerify(ctx context.Context) (*mayfly.AuditReport, error) {
	var out mayfly.AuditReport
	return &out, c.do(ctx, "POST", "/v1/audit/verify", nil, &out)
}

// AuditProof returns an entry's inclusion proof against the latest checkpoint.
func (c *Client) AuditProof(ctx context.Context, index uint64) (*api.InclusionProof, error) {
	var out api.InclusionProof
	return &out, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/proof/%d", index), nil, &out)
}

// AuditConsistency returns a consistency proof between two tree sizes.
func (c *Client) AuditConsistency(ctx context.Context, old, new uint64) (*api.ConsistencyProof, error) {
	var out api.ConsistencyProof
	return &out, c.do(ctx, "GET", fmt.Sprintf("/v1/audit/consistency?old=%d&new=%d", old, new), nil, &out)
}

// AuditExport returns a self-contained bundle of the entries made in [from, to).
func (c *Client) AuditExport(ctx context.Context, from, to time.Time) (*bundle.Bundle, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
	var out bundle.Bundle
	return &out, c.do(ctx, "GET", "/v1/audit/export?"+q.Encode(), nil, &out)
}

// AuditKey returns the audit log's public key.
func (c *Client) AuditKey(ctx context.Context) (*api.LogKey, error) {
	var out api.LogKey
	return &out, c.do(ctx, "GET", "/v1/audit/key", nil, &out)
}

// AuditRotateKey replaces the audit log's key and returns the new public key.
func (c *Client) AuditRotateKey(ctx context.Context) (*api.LogKey, error) {
	var out api.LogKey
	return &out, c.do(ctx, "POST", "/v1/audit/key/rotate", nil, &out)
}

// Suspend suspends a principal; Reactivate makes it active again.
func (c *Client) Suspend(ctx context.Context, ref, reason string) (*api.PrincipalView, error) {
	var p api.PrincipalView
	return &p, c.do(ctx, "POST", "/v1/principals/"+esc(ref)+"/suspend", api.RevokeRequest{Reason: reason}, &p)
}

// Reactivate makes a suspended principal active again.
func (c *Client) Reactivate(ctx context.Context, ref, reason string) (*api.PrincipalView, error) {
	var p api.PrincipalView
	return &p, c.do(ctx, "POST", "/v1/principals/"+esc(ref)+"/reactivate", api.RevokeRequest{Reason: reason}, &p)
}

// Offboard runs the offboarding workflow for a person and returns its report.
func (c *Client) Offboard(ctx context.Context, ref string, req api.OffboardRequest) (*api.OffboardingView, error) {
	var o api.OffboardingView
	return &o, c.do(ctx, "POST", "/v1/principals/"+esc(ref)+"/offboard", req, &o)
}

// Offboardings lists a principal's offboarding runs.
func (c *Client) Offboardings(ctx context.Context, ref string) ([]*api.OffboardingView, error) {
	var out []*api.OffboardingView
	return out, c.do(ctx, "GET", "/v1/principals/"+esc(ref)+"/offboardings", nil, &out)
}

// GrantCustody records custody by hand. Custody of the root key may wait
// for a second person: then only Pending is set.
func (c *Client) GrantCustody(ctx context.Context, req api.CustodyRequest) (*api.GrantedCustody, error) {
	var out api.GrantedCustody
	return &out, c.do(ctx, "POST", "/v1/custody", req, &out)
}

// Custody lists custody records: of a principal, of a ring, or both.
func (c *Client) Custody(ctx context.Context, principal, ring string) ([]*api.CustodyView, error) {
	q := url.Values{}
	if principal != "" {
		q.Set("principal", principal)
	}
	if ring != "" {
		q.Set("ring", ring)
	}
	var out []*api.CustodyView
	return out, c.do(ctx, "GET", "/v1/custody?"+q.Encode(), nil, &out)
}

// RotateSecret gives a client a new secret, returned once.
func (c *Client) RotateSecret(ctx context.Context, id, reason string) (*api.CreatedClient, error) {
	out := &api.CreatedClient{Client: &mayfly.Client{}}
	return out, c.do(ctx, "POST", "/v1/clients/"+esc(id)+"/rotate-secret", api.RevokeRequest{Reason: reason}, out)
}

// CreateCredential makes an admin or SCIM credential; the response holds its token, once.
func (c *Client) CreateCredential(ctx context.Context, req api.CredentialRequest) (*api.CreatedCredential, error) {
	out := &api.CreatedCredential{AdminCredential: &mayfly.AdminCredential{}}
	return out, c.do(ctx, "POST", "/v1/credentials", req, out)
}

// Credentials lists admin and SCIM credentials.
func (c *Client) Credentials(ctx context.Context) ([]*api.CredentialView, error) {
	var out []*api.CredentialView
	return out, c.do(ctx, "GET", "/v1/credentials", nil, &out)
}

// RevokeCredential withdraws an admin or SCIM credential.
func (c *Client) RevokeCredential(ctx context.Context, id, reason string) error {
	return c.do(ctx, "POST", "/v1/credentials/"+esc(id)+"/revoke", api.RevokeRequest{Reason: reason}, nil)
}

// SSFStreams lists every Shared Signals stream (an admin sees all).
func (c *Client) SSFStreams(ctx context.Context) ([]api.SSFStreamConfig, error) {
	var out []api.SSFStreamConfig
	return out, c.do(ctx, "GET", api.SSFConfigPath, nil, &out)
}

// SSFStream returns one stream's configuration.
func (c *Client) SSFStream(ctx context.Context, id string) (*api.SSFStreamConfig, error) {
	var out api.SSFStreamConfig
	return &out, c.do(ctx, "GET", api.SSFConfigPath+"?stream_id="+url.QueryEscape(id), nil, &out)
}

// SSFStatus returns a stream's status.
func (c *Client) SSFStatus(ctx context.Context, id string) (*api.SSFStatus, error) {
	var out api.SSFStatus
	return &out, c.do(ctx, "GET", api.SSFStatusPath+"?stream_id="+url.QueryEscape(id), nil, &out)
}

// SetSSFStatus enables, pauses or disables a stream.
func (c *Client) SetSSFStatus(ctx context.Context, st api.SSFStatus) (*api.SSFStatus, error) {
	var out api.SSFStatus
	return &out, c.do(ctx, "POST", api.SSFStatusPath, st, &out)
}

// DeleteSSFStream deletes a stream and what it has queued.
func (c *Client) DeleteSSFStream(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", api.SSFConfigPath+"?stream_id="+url.QueryEscape(id), nil, nil)
}

// PendingActions lists pending actions, oldest first; status, if not
// empty, selects those in it.
func (c *Client) PendingActions(ctx context.Context, status mayfly.PendingStatus) ([]*api.PendingView, error) {
	var out []*api.PendingView
	path := "/v1/pending"
	if status != "" {
		path += "?status=" + url.QueryEscape(string(status))
	}
	return out, c.do(ctx, "GET", path, nil, &out)
}

// PendingAction returns one pending action.
func (c *Client) PendingAction(ctx context.Context, id string) (*api.PendingView, error) {
	var out api.PendingView
	return &out, c.do(ctx, "GET", "/v1/pending/"+esc(id), nil, &out)
}

// Approve approves a pending action, which the server then carries out.
func (c *Client) Approve(ctx context.Context, id, reason string) (*api.PendingView, error) {
	var out api.PendingView
	return &out, c.do(ctx, "POST", "/v1/pending/"+esc(id)+"/approve", api.DecisionRequest{Reason: reason}, &out)
}

// Reject rejects a pending action.
func (c *Client) Reject(ctx context.Context, id, reason string) (*api.PendingView, error) {
	var out api.PendingView
	return &out, c.do(ctx, "POST", "/v1/pending/"+esc(id)+"/reject", api.DecisionRequest{Reason: reason}, &out)
}

// Alerts lists the alerts f selects (its Rule, State, Subject and Limit),
// newest last-seen first.
func (c *Client) Alerts(ctx context.Context, f mayfly.AlertFilter) ([]*api.AlertView, error) {
	q := url.Values{}
	for k, v := range map[string]string{"rule": string(f.Rule), "state": string(f.State), "subject": f.Subject} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := api.AlertsPath
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []*api.AlertView
	return out, c.do(ctx, "GET", path, nil, &out)
}

// Alert returns one alert.
func (c *Client) Alert(ctx context.Context, id string) (*api.AlertView, error) {
	var out api.AlertView
	return &out, c.do(ctx, "GET", api.AlertsPath+"/"+esc(id), nil, &out)
}

// AckAlert acknowledges an open alert, with an optional note.
func (c *Client) AckAlert(ctx context.Context, id, note string) (*api.AlertView, error) {
	var out api.AlertView
	return &out, c.do(ctx, "POST", api.AlertsPath+"/"+esc(id)+"/ack", api.AlertNote{Note: note}, &out)
}

// ResolveAlert resolves an alert, with an optional note.
func (c *Client) ResolveAlert(ctx context.Context, id, note string) (*api.AlertView, error) {
	var out api.AlertView
	return &out, c.do(ctx, "POST", api.AlertsPath+"/"+esc(id)+"/resolve", api.AlertNote{Note: note}, &out)
}
