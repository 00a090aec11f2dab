package token_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// TestDigestVectors: the digest the server records, canon.Digest, gives
// the shared vectors' digests (testdata/digest_vectors.json), which the
// SDK's test checks too.
func TestDigestVectors(t *testing.T) {
	b, err := os.ReadFile("../../testdata/digest_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Valid   []struct{ Name, Token, Digest string }
		Invalid []struct{ Name, Token string }
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Valid) == 0 || len(v.Invalid) == 0 {
		t.Fatalf("digest vectors: %d valid, %d invalid; want some of each", len(v.Valid), len(v.Invalid))
	}
	for _, tt := range v.Valid {
		if got, err := canon.Digest(tt.Token); err != nil || got != tt.Digest {
			t.Errorf("%s: Digest = %q, %v; want %q", tt.Name, got, err, tt.Digest)
		}
	}
	for _, tt := range v.Invalid {
		if got, err := canon.Digest(tt.Token); err == nil {
			t.Errorf("%s: Digest(%q) = %q; want an error", tt.Name, tt.Token, got)
		}
	}
}

// TestIssuanceDigest: a token's issuance record holds the digest of the
// exact string handed out, finds it by that digest, and the batch's
// tokens.issued audit entry covers it.
func TestIssuanceDigest(t *testing.T) {
	ctx := context.Background()
	env := apptest.New(t)
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("digest")})
	tok := env.Issue(c)
	want, err := canon.Digest(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := env.App.Token.Issuances(ctx, mayfly.IssuanceFilter{Digest: want})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].JTI != tok.JTI || recs[0].Digest != want {
		t.Fatalf("Issuances(digest %s): got %+v, want the record of %s with that digest", want, recs, tok.JTI)
	}

	entries, err := env.App.Store().AuditEntries(ctx, mayfly.AuditFilter{Action: mayfly.ActionTokensIssued})
	if err != nil {
		t.Fatal(err)
	}
	var entry *mayfly.AuditEntry
	for i := range entries {
		if entries[i].Entry.Details["first_jti"] == tok.JTI {
			entry = &entries[i].Entry
		}
	}
	if entry == nil || entry.Details["count"] != "1" {
		t.Fatalf("tokens.issued entries %+v; want one for the batch of %s alone", entries, tok.JTI)
	}
	// The README's line, written out here.
	line := func(r mayfly.Issuance, digest string) []byte {
		s := r.JTI + "\t" + r.KID + "\t" + r.ClientID + "\t" + r.PrincipalID + "\t" + r.SourceIP + "\t" +
			strconv.FormatInt(r.IssuedAt.Unix(), 10) + "\t" + strconv.FormatInt(r.ExpiresAt.Unix(), 10) + "\t" +
			strconv.Quote(r.UserAgent) + "\t" + digest + "\n"
		sum := sha256.Sum256([]byte(s))
		return sum[:]
	}
	if got, want := entry.Details["sha256"], hex.EncodeToString(line(recs[0], recs[0].Digest)); got != want {
		t.Errorf("tokens.issued sha256 %s; want %s, over the record with its digest", got, want)
	}
	if got, other := entry.Details["sha256"], hex.EncodeToString(line(recs[0], "AAAAAAAAAAAAAAAAAAAAAA")); got == other {
		t.Errorf("tokens.issued sha256 %s is the same with another digest in the record", got)
	}
}
