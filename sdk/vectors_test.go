package sdk_test

// The shared verification vectors (testdata/verify_vectors.json at the
// module root) against the SDK's Verifier. internal/token/vectors_test.go
// runs the same file against the server's Service.Verify; both assemble the
// tokens with internal/tokentest.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk"
	"github.com/mayflyhq/mayfly/sdk/sdktest"
)

const vectorsFile = "../testdata/verify_vectors.json"

// sdkReasons names the reasons a tokentest.Vector's sdk_reason may give.
var sdkReasons = map[string]sdk.Reason{
	"Malformed": sdk.Malformed, "BadAlgorithm": sdk.BadAlgorithm, "BadType": sdk.BadType,
	"UnknownKey": sdk.UnknownKey, "BadSignature": sdk.BadSignature, "WrongIssuer": sdk.WrongIssuer,
	"WrongAudience": sdk.WrongAudience, "MissingClaim": sdk.MissingClaim, "Expired": sdk.Expired,
	"NotYetValid": sdk.NotYetValid, "TooLong": sdk.TooLong, "Revoked": sdk.Revoked,
}

// TestVerifyVectors: the Verifier accepts and rejects the shared vectors'
// tokens, each rejection for the vector's reason. The fake issuer signs
// with its newest key only, so the tokens are made key by key: its first
// key signs the tokens that name the retired key; then an EdDSA key takes
// over and signs those that name it; then a new ES256 key takes over, the
// first leaves the key set, and the verifier starts.
func TestVerifyVectors(t *testing.T) {
	f := tokentest.Load(t, vectorsFile)
	e := newIssuerEnv(t)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ve := &tokentest.Env{
		Now: e.clock.Now(), Issuer: e.iss.URL, Audience: sdktest.DefaultAudience,
		JTI:  func() string { return sdktest.NewJTI(e.clock.Now()) },
		KIDs: map[string]string{"retired": e.iss.KeyID()},
	}
	ve.Sign = func(key string, header, payload []byte) string {
		if key == "stranger" {
			return tokentest.SignWith(t, stranger, header, payload)
		}
		if ve.KIDs[key] != e.iss.KeyID() {
			t.Fatalf("the %s key does not sign now", key)
		}
		return e.iss.SignRaw(header, payload)
	}

	tokens := map[string]string{}
	var vectors []tokentest.Vector
	for _, v := range f.Vectors {
		if v.Only == "server" {
			continue
		}
		if _, ok := sdkReasons[v.SDKReason]; v.Expect == "reject" && !ok {
			t.Fatalf("tokentest.Vector %q: sdk_reason %q is not one of sdk's reasons", v.Name, v.SDKReason)
		}
		vectors = append(vectors, v)
	}
	assemble := func(kid string) {
		for _, v := range vectors {
			if _, ok := tokens[v.Name]; !ok && (v.KID == kid || kid == "") {
				tokens[v.Name] = ve.Assemble(t, f, v)
			}
		}
	}
	assemble("retired")
	ve.KIDs["eddsa"] = e.iss.RotateKey("EdDSA")
	assemble("eddsa")
	ve.KIDs["current"] = e.iss.RotateKey("ES256")
	e.iss.Unpublish(ve.KIDs["retired"])
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(e.iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(ve.KIDs["current"])
	if len(keys) != 1 || len(set.Key(ve.KIDs["retired"])) != 0 || len(set.Key(ve.KIDs["eddsa"])) != 1 {
		t.Fatalf("control: key set %s", e.iss.JWKS())
	}
	if ve.PublicDER, err = x509.MarshalPKIXPublicKey(keys[0].Key); err != nil {
		t.Fatal(err)
	}
	assemble("")

	e.start(nil)
	e.ready()
	if len(vectors) == 0 {
		t.Fatal("no tokentest.Vector applies to the SDK")
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw := tokens[v.Name]
			c, err := e.verify(raw)
			switch {
			case v.Expect == "accept" && err != nil:
				t.Errorf("Verify: %v; want the token accepted\ntoken: %s", err, raw)
			case v.Expect == "accept" && c.ClientID != "mfc_vectors":
				t.Errorf("Verify: client_id %q; want mfc_vectors", c.ClientID)
			case v.Expect == "reject":
				wantReason(t, err, sdkReasons[v.SDKReason])
			}
		})
	}
}
