package dpop_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk/dpop"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

// fuzzTime is the clock of the fuzz target, and the iat of its seeds.
var fuzzTime = time.Unix(1_800_000_000, 0)

// FuzzCheck: whatever the proof, Check returns a proof or a *dpop.Error,
// never panics, accepts only a proof for the request with a thumbprint,
// and accepts no proof twice.
func FuzzCheck(f *testing.F) {
	req := dpop.Request{Method: "POST", URL: "https://mayfly.example/oauth2/token"}
	f.Add(proofSeeds(f)[0])
	f.Fuzz(func(t *testing.T, proof string) {
		ch := dpop.New(dpop.Config{Clock: func() time.Time { return fuzzTime }})
		p, err := ch.Check(proof, req)
		if err != nil {
			var de *dpop.Error
			if !errors.As(err, &de) || de.Msg == "" {
				t.Fatalf("got %v (%T), want a *dpop.Error with a message", err, err)
			}
			return
		}
		if len(proof) > dpop.MaxProofSize || p.JKT == "" || p.ID == "" || p.IssuedAt.Before(fuzzTime.Add(-dpop.DefaultWindow)) {
			t.Fatalf("accepted %+v", p)
		}
		if _, err := ch.Check(proof, req); !errors.Is(err, dpop.ErrReplayed) {
			t.Fatalf("second use: got %v, want ErrReplayed", err)
		}
	})
}

// proofSeeds are proofs for the fuzz target's request: a good one first,
// then ones it must refuse.
func proofSeeds(t testing.TB) []string {
	k := tokentest.NewDPoPKey(t)
	c := tokentest.ProofClaims{Method: "POST", URL: "https://mayfly.example/oauth2/token", IssuedAt: fuzzTime}
	return []string{
		k.Proof(t, c),
		k.ProofNone(t, c),
		tokentest.ProofSymmetric(t, c),
		k.ProofWith(t, c, map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": k.PrivateJWK()}),
		k.ProofWith(t, c, map[jose.HeaderKey]any{"typ": "dpop+jwt", "kid": "k1"}),
		k.Proof(t, tokentest.ProofClaims{Method: "GET", URL: c.URL, IssuedAt: fuzzTime}),
		"eyJhbGciOiJFUzI1NiJ9..",
	}
}

// TestUpdateCorpus rewrites testdata/fuzz/FuzzCheck from proofSeeds.
func TestUpdateCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("use -update-corpus to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzCheck")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range proofSeeds(t) {
		body := "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
