package httpapi_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestSourceIPBehindProxies: X-Forwarded-For counts only when the peer is
// a trusted proxy, and then only up to the first untrusted hop.
func TestSourceIPBehindProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		xff     []string
		want    string
	}{
		{"no proxies trusted: header ignored", nil, []string{"203.0.113.9"}, "127.0.0.1"},
		{"trusted peer", []string{"127.0.0.0/8"}, []string{"203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", []string{"127.0.0.0/8", "10.0.0.0/8"}, []string{"203.0.113.9, 10.1.1.1", "10.2.2.2"}, "203.0.113.9"},
		{"spoofed hop before an untrusted one", []string{"127.0.0.0/8"}, []string{"198.51.100.7, 203.0.113.9"}, "203.0.113.9"},
		{"malformed hop", []string{"127.0.0.0/8"}, []string{"203.0.113.9, bogus"}, "127.0.0.1"},
		{"trusted peer, no header", []string{"127.0.0.0/8"}, nil, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := servertest.New(t, func(c *serverConfig) {
				for _, p := range tt.trusted {
					c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
				}
			})
			c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
			req, _ := http.NewRequest("POST", env.URL+api.TokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(c.ID, secret)
			for _, h := range tt.xff {
				req.Header.Add("X-Forwarded-For", h)
			}
			if r := env.Do(req); r.Status != 200 {
				t.Fatalf("token: %d %s", r.Status, r.Body)
			}
			recs, err := env.Admin.Tokens(context.Background(), mayfly.IssuanceFilter{ClientID: c.ID})
			if err != nil || len(recs) != 1 {
				t.Fatalf("records: %v %v", recs, err)
			}
			if recs[0].SourceIP != tt.want {
				t.Errorf("source IP %q, want %q", recs[0].SourceIP, tt.want)
			}
		})
	}
}
