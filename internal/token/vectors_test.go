package token_test

// The shared verification vectors (testdata/verify_vectors.json at the
// module root) against Service.Verify. sdk/vectors_test.go runs the same
// file against the SDK's verifier; both assemble the tokens with
// internal/tokentest.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/tokentest"
)

const vectorsFile = "../../testdata/verify_vectors.json"

// serverVectorEnv starts a Mayfly whose keys the test holds, as someone
// with the root key file and the database would: a ring whose first key
// is past its retirement, a ring whose current key began signing 600 s
// ago, with its next key, and an EdDSA ring.
func serverVectorEnv(t *testing.T) (*apptest.Env, *tokentest.Env) {
	t.Helper()
	ctx := context.Background()
	env := apptest.New(t)
	ks := env.App.Keys
	root, err := seal.ReadRootKey(filepath.Join(env.Dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	// held unseals the key of ring in state, as a holder of the root key can.
	held := func(ring string, state mayfly.KeyState) (string, crypto.Signer) {
		t.Helper()
		for _, k := range ks.Keys(ring) {
			if k.State(env.Clock.Now()) != state {
				continue
			}
			der, err := sealer.Open(k.Sealed, []byte("mayfly signing key "+k.KID))
			if err != nil {
				t.Fatalf("unseal %s: %v", k.KID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatal(err)
			}
			return k.KID, priv.(crypto.Signer)
		}
		t.Fatalf("ring %s has no %s key", ring, state)
		return "", nil
	}

	priv := map[string]crypto.Signer{}
	kids := map[string]string{}
	if _, err := ks.CreateRing(ctx, "vectors-old", mayfly.ES256, mayfly.MinKeyLifetime, nil); err != nil {
		t.Fatal(err)
	}
	kids["retired"], priv["retired"] = held("vectors-old", mayfly.KeyActive)
	env.Clock.Advance(mayfly.MinKeyLifetime + mayfly.MaxTokenTTL + time.Minute)
	if err := ks.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := ks.Key(kids["retired"]); err != nil || k.State(env.Clock.Now()) != mayfly.KeyRetired {
		t.Fatalf("control: key %s: %v, %v; want it retired", kids["retired"], k, err)
	}
	if _, err := ks.CreateRing(ctx, "vectors", mayfly.ES256, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	kids["current"], priv["current"] = held("vectors", mayfly.KeyActive)
	kids["next"], priv["next"] = held("vectors", mayfly.KeyNext)
	if _, err := ks.CreateRing(ctx, "vectors-ed", mayfly.EdDSA, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	kids["eddsa"], priv["eddsa"] = held("vectors-ed", mayfly.KeyActive)
	env.Clock.Advance(600 * time.Second)
	if err := ks.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := ks.Key(kids["current"]); err != nil || k.State(env.Clock.Now()) != mayfly.KeyActive {
		t.Fatalf("control: key %s: %v, %v; want it active", kids["current"], k, err)
	}

	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv["stranger"] = stranger
	spki, err := x509.MarshalPKIXPublicKey(priv["current"].Public())
	if err != nil {
		t.Fatal(err)
	}
	return env, &tokentest.Env{
		Now: env.Clock.Now(), Issuer: apptest.Issuer, Audience: "https://orders.example",
		JTI: func() string {
			jti, err := mayfly.NewJTI(env.Clock.Now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return jti
		},
		KIDs: kids,
		Sign: func(key string, header, payload []byte) string {
			return tokentest.SignWith(t, priv[key], header, payload)
		},
		PublicDER: spki,
	}
}

// TestVerifyVectors: Service.Verify accepts and rejects the shared vectors'
// tokens, each rejection for the vector's reason.
func TestVerifyVectors(t *testing.T) {
	f := tokentest.Load(t, vectorsFile)
	env, ve := serverVectorEnv(t)
	ran := 0
	for _, v := range f.Vectors {
		if v.Only == "sdk" {
			continue
		}
		ran++
		t.Run(v.Name, func(t *testing.T) {
			raw := ve.Assemble(t, f, v)
			cl, err := env.App.Token.Verify(raw)
			switch {
			case v.Expect == "accept" && err != nil:
				t.Errorf("Verify: %v; want the token accepted\ntoken: %s", err, raw)
			case v.Expect == "accept" && cl.ClientID != "mfc_vectors":
				t.Errorf("Verify: client_id %q; want mfc_vectors", cl.ClientID)
			case v.Expect == "reject" && err == nil:
				t.Errorf("Verify accepted %+v; want it rejected (%s)\ntoken: %s", *cl, v.ServerError, raw)
			case v.Expect == "reject" && (!errors.Is(err, mayfly.ErrInvalid) || !strings.Contains(err.Error(), v.ServerError)):
				t.Errorf("Verify: %v; want an invalid-token error saying %q", err, v.ServerError)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no tokentest.Vector applies to the server")
	}
}
