package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// token list --subject finds a customer's exchanged tokens, and the table
// shows subjects where a record has one.
func TestTokenListSubject(t *testing.T) {
	srv := servertest.New(t)
	env := map[string]string{"MAYFLY_ADDR": srv.URL, "MAYFLY_TOKEN": srv.Token}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	owner := srv.Human("alice")
	login, _ := srv.NewClient(api.ClientRequest{Name: "login", Owner: owner, JWKS: jwks, Exchange: []string{"customer"}})
	svc, svcSecret := srv.NewClient(api.ClientRequest{Name: "billing", Owner: owner})
	srv.IssueToken(svc.ID, svcSecret, nil)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sign := func(sub, aud string) string {
		n++
		now := srv.Clock.Now()
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: login.ID, Subject: sub, Audience: jwt.Audience{aud}, ID: fmt.Sprint("j", n),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, sub := range []string{"customer:48213377", "customer:1", "customer:48213377"} {
		r := srv.PostForm(api.TokenPath, url.Values{"grant_type": {api.GrantTokenExchange}, "subject_token": {sign(sub, srv.URL)},
			"subject_token_type": {api.TokenTypeJWT}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {sign(login.ID, srv.URL+api.TokenPath)}}, "", "")
		if r.Status != 200 {
			t.Fatalf("exchange for %s: status %d: %s", sub, r.Status, r.Body)
		}
	}

	r := run(env, "token", "list", "--subject", "customer:48213377")
	row := regexp.MustCompile(`(?m)^[0-9a-v]{26} +customer:48213377 +login \(` + login.ID + `\) +alice \(prn_[a-z0-9]+\) +`)
	if r.code != 0 || !regexp.MustCompile(`(?m)^JTI +SUBJECT +CLIENT +PRINCIPAL +KID +ISSUED +EXPIRES +SOURCE$`).MatchString(r.stdout) ||
		len(row.FindAllString(r.stdout, -1)) != 2 || strings.Contains(r.stdout, "customer:1 ") {
		t.Errorf("token list --subject: exit %d, stdout:\n%s\nstderr %s; want the header with SUBJECT and the customer's two tokens", r.code, r.stdout, r.stderr)
	}
	var recs []map[string]any
	r = run(env, "token", "list", "--subject", "customer:1", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 1 || recs[0]["sub"] != "customer:1" || recs[0]["act"] != login.ID {
		t.Errorf("token list --subject --json: %v, %s; want one record with sub customer:1 and act %s", err, r.stdout, login.ID)
	}
	// A client's own token has no subject of its own: "-" beside others',
	// and no column where no record has one.
	if r := run(env, "token", "list"); !regexp.MustCompile(`(?m)^[0-9a-v]{26} +- +billing \(`).MatchString(r.stdout) {
		t.Errorf("token list: stdout:\n%s\nwant the client's token with subject -", r.stdout)
	}
	if r := run(env, "token", "list", "--client", svc.ID); strings.Contains(r.stdout, "SUBJECT") || !strings.Contains(r.stdout, svc.ID) {
		t.Errorf("token list --client: stdout:\n%s\nwant the client's token, no SUBJECT column", r.stdout)
	}
}
