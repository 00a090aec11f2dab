// Package benchkit holds what the benchmark programs share: the guard that
// keeps load on this machine, the run's client, getting a token over HTTP,
// and percentiles.
package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/client"
)

// Loopback refuses any target off this machine.
func Loopback(bases ...string) error {
	for _, base := range bases {
		u, err := url.Parse(base)
		if err != nil {
			return err
		}
		host := u.Hostname()
		if host == "localhost" {
			continue
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			continue
		}
		return fmt.Errorf("refusing to load %s: benchmarks target loopback only", host)
	}
	return nil
}

// NewClient creates, through adm, the client req describes, owned by a
// new person named after it with a suffix unique to the run.
func NewClient(ctx context.Context, adm *client.Client, req api.ClientRequest) (*api.CreatedClient, error) {
	p, err := adm.CreatePrincipal(ctx, api.PrincipalRequest{Name: fmt.Sprint(req.Name, "-", time.Now().UnixNano()), Kind: mayfly.Human})
	if err != nil {
		return nil, fmt.Errorf("create principal: %w", err)
	}
	req.Owner = p.ID
	cc, err := adm.CreateClient(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return cc, nil
}

// Token gets an access token with client_secret_basic.
func Token(hc *http.Client, base, id, secret string) (string, error) {
	req, _ := http.NewRequest("POST", base+api.TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body api.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("token: status %d (%v)", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

// Percentile returns the p-quantile (p from 0 to 1) of sorted, rounded to
// the microsecond; 0 when sorted is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))].Round(time.Microsecond)
}
