package detect_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/internal/tokentest"
)

// customerToken is a token of subject sub, as a login service that may
// exchange for customers would get.
func (w *world) customerToken(c *mayfly.Client, sub string) issued {
	w.t.Helper()
	ctx := context.Background()
	a, err := w.env.App.Token.Admit(ctx, c)
	if err != nil {
		w.t.Fatal(err)
	}
	tok, err := w.env.App.Token.Issue(ctx, a, token.Request{SourceIP: "127.0.0.1", Subject: sub, Actor: c.ID})
	if err != nil {
		w.t.Fatal(err)
	}
	recs, err := w.tokens.Issuances(ctx, mayfly.IssuanceFilter{JTI: tok.JTI})
	if err != nil || len(recs) != 1 {
		w.t.Fatalf("issuance record of %s: %v, %d", tok.JTI, err, len(recs))
	}
	return issued{raw: tok.AccessToken, client: c, rec: recs[0]}
}

// TestRevokedInUseSubject: a customer's token reported in use after the
// customer, or the customer's namespace, was logged out, and issued
// before the mark, fires revoked-in-use for the subject; reported within
// the grace of the revocation, or issued after the mark, it does not.
// A namespace mark set in the past counts from when it was made.
func TestRevokedInUseSubject(t *testing.T) {
	grace := 5 * time.Second
	for _, tc := range []struct {
		name   string
		revoke func(w *world, before time.Time)
	}{
		{"subject", func(w *world, _ time.Time) {
			if _, err := w.env.App.Identity.RevokeSubject(w.env.Admin(), "customer:1", "password changed"); err != nil {
				t.Fatal(err)
			}
		}},
		{"namespace", func(w *world, before time.Time) {
			if _, err := w.env.App.Identity.RevokeNamespace(w.env.Admin(), "customer", before, "breach"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, detect.Config{RevocationGrace: grace, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
			c, _ := w.env.NewClient(identity.ClientSpec{Name: "login", Owner: w.env.Human("lena"), Exchange: []string{"customer"},
				JWKS: []byte(tokentest.LoginJWKS)})
			tok := w.customerToken(c, "customer:1")
			w.env.Clock.Advance(time.Minute)
			mark := w.env.Clock.Now()
			w.env.Clock.Advance(time.Minute)
			after := w.customerToken(c, "customer:1") // issued after a namespace's mark, before its revocation
			other := w.customerToken(c, "partner:1")
			w.env.Clock.Advance(time.Minute)
			tc.revoke(w, mark)
			if tc.name == "subject" {
				mark = w.env.Clock.Now()
			}
			report := func(tok issued, d time.Duration) mayfly.LedgerReport {
				r := w.report(tok, "10.1.2.3", 1)
				r.Subject = tok.rec.Subject
				r.Time = r.Time.Add(d)
				return r
			}
			w.detect(report(tok, grace-time.Second)) // the revocation may not have reached the verifier
			quiet(t, w.raiser)
			w.detect(report(other, grace+time.Second), report(after, grace+time.Second))
			if tc.name == "namespace" {
				quiet(t, w.raiser) // another namespace; issued after the mark
			}
			w.detect(report(tok, grace+time.Second))
			want(t, w.raiser, mayfly.RuleRevokedInUse, "sub:customer:1")
			a := w.raiser.alert(mayfly.RuleRevokedInUse, "sub:customer:1")
			if a == nil || len(a.Evidence) == 0 {
				t.Fatalf("no alert or evidence kept: %+v", a)
			}
			if got, want := a.Evidence[len(a.Evidence)-1].Detail, fmt.Sprintf("%s was logged out since %s", map[string]string{"subject": "subject customer:1", "namespace": "namespace customer"}[tc.name], mark.UTC().Format(time.RFC3339)); !strings.Contains(got, want) {
				t.Errorf("evidence detail %q lacks %q", got, want)
			}
		})
	}
}
