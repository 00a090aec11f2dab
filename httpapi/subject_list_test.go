package httpapi_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// TestTokensBySubject: GET /v1/tokens?sub= lists the tokens issued for one
// subject, newest first, with their actor and session.
func TestTokensBySubject(t *testing.T) {
	env := servertest.New(t)
	ctx := context.Background()
	c, secret := env.NewClient(api.ClientRequest{Owner: env.Human("alice")})
	adm, err := env.Server.Token.Admit(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var jtis []string
	for _, sub := range []string{"customer:1", "customer:2", "customer:1"} {
		tok, err := env.Server.Token.Issue(ctx, adm, token.Request{Subject: sub, Actor: c.ID, SID: "fam-" + sub})
		if err != nil {
			t.Fatal(err)
		}
		jtis = append(jtis, tok.JTI)
	}
	env.IssueToken(c.ID, secret, nil) // the client's own token: no subject
	got, err := env.Admin.Tokens(ctx, mayfly.IssuanceFilter{Subject: "customer:1"})
	if err != nil {
		t.Fatal(err)
	}
	var gotJTIs []string
	for _, r := range got {
		gotJTIs = append(gotJTIs, r.JTI)
		if r.Subject != "customer:1" || r.Actor != c.ID || r.SessionID != "fam-customer:1" {
			t.Errorf("record %+v: want subject customer:1, actor %s, session fam-customer:1", r, c.ID)
		}
	}
	want := []string{jtis[0], jtis[2]}
	slices.Sort(want)
	slices.Reverse(want) // newest first: the jti begins with the issue time
	if !slices.Equal(gotJTIs, want) {
		t.Errorf("tokens of customer:1: %v, want %v", gotJTIs, want)
	}
}
