package httpapi_test

import (
	"context"
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
	if len(got) != 2 || got[0].JTI != jtis[2] || got[1].JTI != jtis[0] || got[0].Subject != "customer:1" || got[0].Actor != c.ID || got[0].SessionID != "fam-customer:1" {
		t.Errorf("tokens of customer:1: %+v; want %s then %s, with their actor and session", got, jtis[2], jtis[0])
	}
}
