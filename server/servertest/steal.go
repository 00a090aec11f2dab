package servertest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// Stolen is a copy of a ring's signing key, taken as someone with the root
// key file and a copy of the database could: for tests of what a leaked
// key can and cannot still do.
type Stolen struct {
	KID string
	Key crypto.Signer
	env *Env
}

// Steal unseals ring's active signing key.
func (e *Env) Steal(ring string) *Stolen {
	e.t.Helper()
	kid, key, err := StealKey(context.Background(), e.Dir, e.Server.Store(), ring, e.Clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return &Stolen{KID: kid, Key: key, env: e}
}

// StealKey is Steal for a program, such as a benchmark, that runs Mayfly
// on data directory dir and store st itself: it unseals the key of ring
// active at now, and returns its kid and the key.
func StealKey(ctx context.Context, dir string, st mayfly.Store, ring string, now time.Time) (string, crypto.Signer, error) {
	b, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		return "", nil, err
	}
	root, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return "", nil, err
	}
	s, err := seal.New(root)
	if err != nil {
		return "", nil, err
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, k := range keys {
		if k.Ring == ring && k.State(now) == mayfly.KeyActive {
			der, err := s.Open(k.Sealed, []byte("mayfly signing key "+k.KID))
			if err != nil {
				return "", nil, err
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return "", nil, err
			}
			return k.KID, priv.(crypto.Signer), nil
		}
	}
	return "", nil, fmt.Errorf("no active key in ring %q", ring)
}

// Forge mints, offline and now by the test clock, a token such as Mayfly
// would issue to client, whose owner is principal, for aud.
func (s *Stolen) Forge(client, principal, aud string) string {
	e := s.env
	e.t.Helper()
	now := e.Clock.Now()
	jti, err := mayfly.NewJTI(now, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	claims := map[string]any{
		"iss": e.URL, "sub": client, "aud": aud, "client_id": client, "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	if principal != "" {
		claims["principal"] = principal
	}
	return s.Sign(claims)
}

// Sign signs claims, whatever they are, as Mayfly signs a token: in
// canonical form, its signature's S made low as Mayfly makes it. It is
// for forgeries Forge does not make, such as a real jti with a later
// expiry.
func (s *Stolen) Sign(claims map[string]any) string {
	e := s.env
	e.t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: s.Key, KeyID: s.KID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	cut := strings.LastIndexByte(tok, '.') + 1
	sigBytes, err := base64.RawURLEncoding.DecodeString(tok[cut:])
	if err != nil {
		e.t.Fatal(err)
	}
	canon.LowS(sigBytes)
	return tok[:cut] + base64.RawURLEncoding.EncodeToString(sigBytes)
}
