package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bench/internal/benchkit"
	"github.com/mayflyhq/mayfly/client"
)

// exchanger is a login service for the run: a client that may exchange
// in namespace customer, with a key of its own registered as its JWKS.
// Each request carries a subject token it signed, and a client assertion
// too unless it authenticates with a secret (-exchange-auth secret);
// they are signed before the run, so that the load tool's signing does
// not take the server's CPU (the machine is shared) and the figures are
// the server's.
type exchanger struct {
	id, issuer string
	secret     string // with -exchange-auth secret: client_secret_basic
	alg        string // the subject tokens' signature algorithm
	signer     jose.Signer
	bodies     []string
	next       atomic.Int64
	n          atomic.Int64 // subject tokens signed: numbers jtis and customers
}

// setupExchange makes a login service on ring, signing with alg (ES256 or
// EdDSA) and authenticating with auth (private_key_jwt or secret), and
// signs n request bodies.
func setupExchange(ctx context.Context, base, admin, ring, alg, auth string, n int) (*exchanger, error) {
	method := ""
	switch auth {
	case "private_key_jwt":
	case "secret":
		method = "client_secret_basic"
	default:
		return nil, fmt.Errorf("-exchange-auth is private_key_jwt or secret, not %q", auth)
	}
	var pub, priv any
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		pub, priv = &k.PublicKey, k
	case "EdDSA":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		pub, priv = p, k
	default:
		return nil, fmt.Errorf("-subject-alg is ES256 or EdDSA, not %q", alg)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "login-1", Algorithm: alg, Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	c := client.New(base, admin)
	cc, err := benchkit.NewClient(ctx, c, api.ClientRequest{Name: "bench-login", Scopes: []string{"bench"}, Ring: ring, JWKS: jwks,
		TokenEndpointAuthMethod: method, Exchange: []string{"customer"}})
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: priv.(crypto.Signer), KeyID: "login-1"}}, nil)
	if err != nil {
		return nil, err
	}
	iss, err := issuer(ctx, base)
	if err != nil {
		return nil, err
	}
	x := &exchanger{id: cc.ID, issuer: iss, secret: cc.Secret, alg: alg, signer: signer, bodies: make([]string, n)}
	var wg sync.WaitGroup
	var failed atomic.Value
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				b, err := x.body()
				if err != nil {
					failed.Store(err)
					return
				}
				x.bodies[i] = b
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return nil, err
	}
	return x, nil
}

// Body returns the next request body: one signed before the run, or,
// once they are used up, one signed now.
func (x *exchanger) Body() string {
	if i := x.next.Add(1) - 1; i < int64(len(x.bodies)) {
		b := x.bodies[i]
		x.bodies[i] = ""
		return b
	}
	b, _ := x.body()
	return b
}

// body signs a subject token for a customer of its own and, without a
// secret, a client assertion, each valid for four minutes.
func (x *exchanger) body() (string, error) {
	i := x.n.Add(1)
	now := time.Now()
	sign := func(sub, aud string) (string, error) {
		return jwt.Signed(x.signer).Claims(jwt.Claims{Issuer: x.id, Subject: sub, Audience: jwt.Audience{aud}, ID: fmt.Sprint("bench-", sub, "-", i),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute))}).Serialize()
	}
	st, err := sign(fmt.Sprint("customer:", i), x.issuer)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {api.GrantTokenExchange}, "subject_token": {st}, "subject_token_type": {api.TokenTypeJWT}}
	if x.secret != "" {
		return form.Encode(), nil
	}
	ca, err := sign(x.id, x.issuer+api.TokenPath)
	if err != nil {
		return "", err
	}
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", ca)
	return form.Encode(), nil
}

// issuer reads the issuer from the server's discovery document: a
// subject token's aud.
func issuer(ctx context.Context, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var md api.Metadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || md.Issuer == "" {
		return "", fmt.Errorf("discovery: status %d, %v", resp.StatusCode, err)
	}
	return md.Issuer, nil
}
