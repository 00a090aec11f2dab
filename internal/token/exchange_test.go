package token_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/token"
)

// An exchange for a client given refresh tokens begins their family for
// the subject, and the access token names the family; for any other
// client it begins none.
func TestExchangeBeginsRefresh(t *testing.T) {
	e := newFuzzEnv(t)
	ctx := t.Context()
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: e.jwtKey.Public(), KeyID: fuzzKID, Algorithm: string(jose.EdDSA), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := e.ids.CreateClient(ctx, identity.ClientSpec{Name: "login", Owner: e.owner, Scopes: []string{"read"}, Ring: "fuzz", JWKS: jwks,
		Exchange: []string{"customer"}, Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		a           *token.Authenticated
		sid, secret string
	}{
		{"refresh", admit(t, e, c.ID), "fam1", "rt1"},
		{"no refresh", e.exchanger, "", ""},
	} {
		var begun []string
		begin := func(_ context.Context, subject string) (string, string, error) {
			begun = append(begun, subject)
			return "fam1", "rt1", nil
		}
		x := e.exchange(t, map[string]any{"iss": tc.a.Client().ID, "jti": tc.name})
		tok, err := e.svc.Exchange(ctx, tc.a, x, token.Request{}, begin)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cl, err := e.svc.Verify(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken != tc.secret || cl.SID != tc.sid || (tc.sid != "" && (len(begun) != 1 || begun[0] != "customer:48213377")) || (tc.sid == "" && len(begun) != 0) {
			t.Errorf("%s: got refresh token %q, sid %q, families begun for %v; want %q, %q", tc.name, tok.RefreshToken, cl.SID, begun, tc.secret, tc.sid)
		}
		if cl.Subject != "customer:48213377" || cl.Act == nil || cl.Act.Subject != tc.a.Client().ID {
			t.Errorf("%s: got sub %q act %+v", tc.name, cl.Subject, cl.Act)
		}
	}
}

func admit(t *testing.T, e *fuzzEnv, id string) *token.Authenticated {
	t.Helper()
	c, err := e.ids.Client(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Admit(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
