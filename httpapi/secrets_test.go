package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestNoSecretsInResponsesOrLogs walks every endpoint after exercising every
// kind of key and credential, and searches all responses and the log for
// private key material and for secrets past their one-time display.
func TestNoSecretsInResponsesOrLogs(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	for _, alg := range []string{"RS256", "EdDSA"} {
		if _, err := env.Admin.CreateRing(ctx, api.RingRequest{Name: strings.ToLower(alg), Alg: mayflyAlg(alg)}); err != nil {
			t.Fatal(err)
		}
	}
	owner := env.Human("alice")
	c, secret := env.NewClient(api.ClientRequest{Owner: owner, Scopes: []string{"a"}})
	rsaClient, rsaSecret := env.NewClient(api.ClientRequest{Owner: owner, Ring: "rs256"})

	var seen []string // every response after the secrets' one-time display
	record := func(r *servertest.Response) {
		var hdr strings.Builder
		r.Header.Write(&hdr)
		seen = append(seen, hdr.String()+string(r.Body))
	}
	get := func(path string) {
		req, _ := http.NewRequest("GET", env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+env.Token)
		record(env.Do(req))
	}
	post := func(path string) {
		req, _ := http.NewRequest("POST", env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+env.Token)
		record(env.Do(req))
	}
	tok := env.IssueToken(c.ID, secret, nil)
	env.IssueToken(rsaClient.ID, rsaSecret, nil)
	cc := url.Values{"grant_type": {"client_credentials"}}
	record(env.PostForm(api.TokenPath, cc, c.ID, secret))
	record(env.PostForm(api.TokenPath, cc, c.ID, secret+"x"))
	record(env.PostForm(api.TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {"wrong"}}, "", ""))
	record(env.PostForm(api.IntrospectPath, url.Values{"token": {tok}}, c.ID, secret))
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", api.JWKSPath,
		"/.well-known/jwks.json", "/healthz", "/metrics", "/v1/principals", "/v1/principals/" + owner, "/v1/clients",
		"/v1/clients/" + c.ID, "/v1/rings", "/v1/rings/default", "/v1/rings/rs256", "/v1/rings/eddsa", "/v1/keys", "/v1/tokens"} {
		get(p)
	}
	ks, err := env.Admin.Keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		get("/v1/keys/" + k.KID)
	}
	post("/v1/rings/default/rotate")
	post("/v1/rings/eddsa/rotate")
	record(env.PostForm(api.RevokePath, url.Values{"token": {tok}}, c.ID, secret))
	post("/v1/keys/" + ks[0].KID + "/revoke")
	post("/v1/clients/" + c.ID + "/revoke")
	record(env.PostForm(api.TokenPath, cc, c.ID, secret))

	// The needles: every private key in the store, in every encoding it
	// could leak in, and the secrets.
	needles := map[string]string{
		"client secret":            secret,
		"rsa client secret":        rsaSecret,
		"client secret hash (hex)": hex.EncodeToString(sha256Sum(secret)),
		"client secret hash (b64)": base64.StdEncoding.EncodeToString(sha256Sum(secret)),
	}
	for name, v := range privateMaterial(t, env) {
		needles[name] = v
	}
	if len(needles) < 10 {
		t.Fatalf("only %d needles: the test would prove nothing", len(needles))
	}
	logs := env.Log.String()
	for name, n := range needles {
		for i, s := range seen {
			if strings.Contains(s, n) {
				t.Errorf("%s appears in response %d:\n%s", name, i, s)
			}
		}
		if strings.Contains(logs, n) {
			t.Errorf("%s appears in the log", name)
		}
	}
	if strings.Contains(logs, env.Token) {
		t.Errorf("the admin credential appears in the log")
	}
}

func sha256Sum(s string) []byte {
	h := sha256New()
	h.Write([]byte(s))
	return h.Sum(nil)
}

// privateMaterial opens every sealed key with the root key and returns its
// private parts in raw-hex, base64 and base64url form.
func privateMaterial(t *testing.T, env *servertest.Env) map[string]string {
	t.Helper()
	rootB64, err := os.ReadFile(filepath.Join(env.Dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(rootB64)))
	sealer, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := env.Server.Store().Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{"root key": strings.TrimSpace(string(rootB64))}
	add := func(name string, b []byte) {
		out[name+" hex"] = hex.EncodeToString(b)
		out[name+" b64"] = base64.StdEncoding.EncodeToString(b)[:20]
		out[name+" b64url"] = base64.RawURLEncoding.EncodeToString(b)[:20]
	}
	for _, k := range keys {
		if len(k.Sealed) == 0 {
			continue // destroyed: nothing left to leak
		}
		der, err := sealer.Open(k.Sealed, []byte("mayfly signing key "+k.KID))
		if err != nil {
			t.Fatal(err)
		}
		add(k.KID+" pkcs8", der)
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		switch p := priv.(type) {
		case *ecdsa.PrivateKey:
			d, _ := p.Bytes()
			add(k.KID+" ec d", d)
		case *rsa.PrivateKey:
			add(k.KID+" rsa d", p.D.Bytes())
			add(k.KID+" rsa p", p.Primes[0].Bytes())
		case ed25519.PrivateKey:
			add(k.KID+" ed25519 seed", p.Seed())
		}
	}
	return out
}
