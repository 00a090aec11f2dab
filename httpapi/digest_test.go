package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestTokenDigest: a token issued over HTTP is found by the digest a
// service computes from it with canon.Digest, in GET /v1/tokens?digest=,
// through the client package, and in introspection; a re-encoding of it
// that introspection refuses still names it.
func TestTokenDigest(t *testing.T) {
	ctx := context.Background()
	env := servertest.New(t)
	cl, secret := env.NewClient(api.ClientRequest{Name: "orders-api", Owner: env.Human("orders")})
	tok := env.IssueToken(cl.ID, secret, nil)
	other := env.IssueToken(cl.ID, secret, nil)
	d, err := canon.Digest(tok)
	if err != nil {
		t.Fatal(err)
	}
	if od, _ := canon.Digest(other); od == d {
		t.Fatalf("two tokens with one digest %s", d)
	}

	intro := env.PostForm(api.IntrospectPath, url.Values{"token": {tok}}, cl.ID, secret)
	var in api.Introspection
	if err := json.Unmarshal(intro.Body, &in); err != nil || !in.Active || in.Digest != d {
		t.Fatalf("introspection: %d %s, %v; want active with digest %s", intro.Status, intro.Body, err, d)
	}

	listed := func(query string) []api.IssuanceView {
		t.Helper()
		r := rxCall(t, env, "GET", env.URL+"/v1/tokens?"+query, env.Token, nil)
		if r.Status != 200 {
			t.Fatalf("GET /v1/tokens?%s: %d %s", query, r.Status, r.Body)
		}
		var vs []api.IssuanceView
		if err := json.Unmarshal(r.Body, &vs); err != nil {
			t.Fatal(err)
		}
		return vs
	}
	got := listed("digest=" + d)
	if len(got) != 1 || got[0].JTI != in.JTI || got[0].Digest != d || got[0].ClientName != "orders-api" {
		t.Errorf("GET /v1/tokens?digest=%s: %+v; want the one record of %s", d, got, in.JTI)
	}
	all := listed("client=" + cl.ID)
	if len(all) != 2 || all[0].Digest == "" || all[1].Digest == "" {
		t.Errorf("GET /v1/tokens?client=: %+v; want both records, each with its digest", all)
	}
	if got, err := env.Admin.Tokens(ctx, mayfly.IssuanceFilter{Digest: d}); err != nil || len(got) != 1 || got[0].JTI != in.JTI {
		t.Errorf("client Tokens(digest %s): %+v, %v; want the record of %s", d, got, err, in.JTI)
	}

	// The token with stray bits in the last character of its header or
	// payload: not a spelling introspection accepts, but the same token by
	// its digest.
	parts := strings.Split(tok, ".")
	i := 0
	if len(parts[i])%4 == 0 {
		i = 1
	}
	p := parts[i]
	if len(p)%4 == 0 {
		t.Fatalf("header and payload of %d and %d characters: no stray bits to set", len(parts[0]), len(p))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	parts[i] = p[:len(p)-1] + string(alphabet[strings.IndexByte(alphabet, p[len(p)-1])|1])
	respelled := strings.Join(parts, ".")
	if respelled == tok {
		t.Fatal("control: the re-encoding is the token")
	}
	if env.Active(respelled, cl.ID, secret) {
		t.Errorf("introspection took a re-encoded token for active")
	}
	r := env.PostForm(api.IntrospectPath, url.Values{"token": {respelled}}, cl.ID, secret)
	if strings.Contains(string(r.Body), "digest") {
		t.Errorf("introspection of an inactive token: %s; want no digest", r.Body)
	}
	rd, err := canon.Digest(respelled)
	if err != nil || rd != d {
		t.Fatalf("Digest of the re-encoding: %q, %v; want %q", rd, err, d)
	}
	if got := listed("digest=" + rd); len(got) != 1 || got[0].JTI != in.JTI {
		t.Errorf("GET /v1/tokens by the re-encoding's digest: %+v; want the record of %s", got, in.JTI)
	}
}

// TestTokenDigestFilterRefused: a digest= that no token could have is
// refused with a clear error, not answered with an empty list.
func TestTokenDigestFilterRefused(t *testing.T) {
	env := servertest.New(t)
	for _, d := range []string{"short", strings.Repeat("A", 21) + "B", strings.Repeat("A", 23), strings.Repeat("+", 22)} {
		r := rxCall(t, env, "GET", env.URL+"/v1/tokens?digest="+url.QueryEscape(d), env.Token, nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), "not a token digest") {
			t.Errorf("GET /v1/tokens?digest=%s: %d %s; want 400, not a token digest", d, r.Status, r.Body)
		}
	}
}
