package token_test

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/mayflyhq/mayfly"
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
		// A family is begun only if its subject token's jti was spent in
		// the commit, before the families are written.
		type family struct {
			subject string
			spent   func() bool
		}
		var begun []string
		families := &mayfly.Batch[family]{Order: mayfly.OrderSession, Write: func(_ mayfly.Tx, fs []family) error {
			for _, f := range fs {
				if f.spent() {
					begun = append(begun, f.subject)
				}
			}
			return nil
		}}
		begin := func(subject string, spent func() bool) (string, string, mayfly.BatchItem, error) {
			return "fam1", "rt1", families.Item(family{subject, spent}), nil
		}
		x := e.exchange(t, map[string]any{"iss": tc.a.Client().ID, "jti": tc.name})
		tok, err := e.svc.Exchange(ctx, tc.a, x, token.Request{}, begin)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// The same subject token again: refused, and nothing begun.
		if _, err := e.svc.Exchange(ctx, tc.a, x, token.Request{}, begin); mayfly.ErrorCode(err) != mayfly.Invalid {
			t.Errorf("%s: the subject token again: got %v, want it refused", tc.name, err)
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
