package detect_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/detect"
)

// audited returns the reason of the one audit entry of action, failing
// the test if there is not exactly one.
func audited(t *testing.T, w *world, action mayfly.Action) string {
	t.Helper()
	recs, err := w.env.App.Store().AuditEntries(context.Background(), mayfly.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d %s entries; want 1", len(recs), action)
	}
	return recs[0].Entry.Details["reason"]
}

func TestContainForgedTokenRevokesKey(t *testing.T) {
	cfg := detect.Config{Contain: detect.Containment{}}
	if err := cfg.Contain.Set("forged-token=revoke-key"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	tok := w.issue("")
	forged := w.report(tok, "10.1.2.3", 1)
	forged.Expires = forged.Expires.Add(time.Hour)
	w.detect(forged)
	a := w.raiser.alert(mayfly.RuleForgedToken, "kid:"+tok.rec.KID)
	if a == nil {
		t.Fatal("no forged-token alert")
	}
	k, err := w.env.App.Keys.Key(tok.rec.KID)
	if err != nil || k.RevokedAt.IsZero() {
		t.Fatalf("key %s: %v, revoked at %v; want it revoked", tok.rec.KID, err, k.RevokedAt)
	}
	// Every token the key signed dies, the genuine one too.
	if _, err := w.env.App.Token.Verify(tok.raw); err == nil {
		t.Error("a token the revoked key signed is still accepted")
	}
	if reason := audited(t, w, mayfly.ActionKeyRevoked); !strings.Contains(reason, a.ID) {
		t.Errorf("key revocation's reason %q; want it to name alert %s", reason, a.ID)
	}
	if got, want := w.raiser.contained[a.ID], "revoke-key "+tok.rec.KID; len(got) != 1 || got[0] != want {
		t.Errorf("recorded on the alert: %q; want [%q]", got, want)
	}
	// It fires again; the key is revoked once.
	w.env.Clock.Advance(2 * time.Second)
	w.detect(forged)
	if n := len(w.raiser.fired(mayfly.RuleForgedToken)); n != 2 {
		t.Errorf("fired %d times; want 2", n)
	}
	if got := w.raiser.contained[a.ID]; len(got) != 1 {
		t.Errorf("contained %q; want once", got)
	}
}

func TestContainOffByDefault(t *testing.T) {
	w := newWorld(t, detect.Config{BulkFloor: 5, BulkCeiling: 5})
	tok := w.issue("")
	forged := w.report(tok, "10.1.2.3", 1, 2, 3, 4, 5, 6)
	forged.Expires = forged.Expires.Add(time.Hour)
	w.detect(forged)
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+tok.rec.KID)
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)
	if k, _ := w.env.App.Keys.Key(tok.rec.KID); !k.RevokedAt.IsZero() {
		t.Error("the key was revoked without containment configured")
	}
	if p, _ := w.env.App.Identity.Principal(context.Background(), tok.principal); p.Status != mayfly.Active {
		t.Errorf("principal %s; want active", p.Status)
	}
}

func TestContainBulkReadSuspendsPrincipal(t *testing.T) {
	cfg := detect.Config{BulkFloor: 5, BulkCeiling: 5, Disable: detect.RuleSet{mayfly.RuleForgedToken}}
	if err := cfg.Contain.Set("bulk-read=suspend-principal"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	tok := w.issue("")
	w.detect(w.report(tok, "10.1.2.3", 1, 2, 3, 4, 5, 6))
	p, err := w.env.App.Identity.Principal(context.Background(), tok.principal)
	if err != nil || p.Status != mayfly.Suspended {
		t.Fatalf("principal: %v, %v; want suspended", err, p.Status)
	}
	a := w.raiser.alert(mayfly.RuleBulkRead, "principal:"+tok.principal)
	if reason := audited(t, w, mayfly.ActionPrincipalSuspended); !strings.Contains(reason, "alert alr_") {
		t.Errorf("suspension's reason %q; want it to name the alert", reason)
	}
	// One suspension, recorded on the first alert that asked for it.
	var recorded int
	for _, actions := range w.raiser.contained {
		recorded += len(actions)
	}
	if recorded != 1 || a == nil {
		t.Errorf("recorded %d actions (%v); want 1", recorded, w.raiser.contained)
	}
}

func TestContainRevokedInUseRevokesClient(t *testing.T) {
	cfg := detect.Config{RevocationGrace: time.Second, Disable: detect.RuleSet{mayfly.RuleForgedToken}}
	if err := cfg.Contain.Set("revoked-in-use=revoke-client"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	tok := w.issue("")
	if _, err := w.env.App.Token.RevokeJTI(w.env.Admin(), tok.rec.JTI, "leaked"); err != nil {
		t.Fatal(err)
	}
	w.env.Clock.Advance(time.Minute)
	w.detect(w.report(tok, "10.1.2.3", 1))
	a := w.raiser.alert(mayfly.RuleRevokedInUse, "jti:"+tok.rec.JTI)
	if a == nil {
		t.Fatalf("no revoked-in-use alert: %+v", w.raiser.signals)
	}
	if !w.env.App.Revoker.Revoked(mayfly.RevokeClient, tok.client.ID) {
		t.Fatal("client not revoked")
	}
	if reason := audited(t, w, mayfly.ActionClientRevoked); !strings.Contains(reason, a.ID) {
		t.Errorf("client revocation's reason %q; want it to name alert %s", reason, a.ID)
	}
}

func TestContainmentFlag(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"forged-token=revoke-key", "forged-token=revoke-key", ""},
		{"forged-token=revoke-key, bulk-read=suspend-principal,revoked-in-use=revoke-client", "forged-token=revoke-key,revoked-in-use=revoke-client,bulk-read=suspend-principal", ""},
		{"forged-token=revoke-key,forged-token=alert", "", ""},
		{"", "", ""},
		{"forged-token", "", "not RULE=ACTION"},
		{"forged=revoke-key", "", `"forged" is not a rule`},
		{"forged-token=suspend-principal", "", "forged-token cannot \"suspend-principal\": it may revoke-key, or alert"},
		{"new-network=revoke-client", "", "new-network only alerts"},
	} {
		var c detect.Containment
		err := c.Set(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Set(%q): %v; want an error saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || c.String() != tc.want {
			t.Errorf("Set(%q): %q, %v; want %q", tc.in, c.String(), err, tc.want)
		}
	}
	var rs detect.RuleSet
	if err := rs.Set("bulk-read, new-network"); err != nil || rs.String() != "bulk-read,new-network" {
		t.Errorf("rules %q, %v", rs.String(), err)
	}
	if err := rs.Set("bulk"); err == nil {
		t.Error("an unknown rule was taken")
	}
}

// TestContainOnlyGenuine: a forger names whose client its token is for.
// Containment of revoked-in-use and bulk-read acts on that client and its
// owner, so it must not act for a token Mayfly did not issue: the alerts
// fire, and the person the forger named stays active.
func TestContainOnlyGenuine(t *testing.T) {
	cfg := detect.Config{RevocationGrace: time.Second, BulkFloor: 5, BulkCeiling: 5}
	if err := cfg.Contain.Set("revoked-in-use=suspend-principal,bulk-read=suspend-principal"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	victim := w.issue("")
	copied := w.issue("") // its key is the one revoked as copied
	if _, err := w.env.App.Keys.Revoke(w.env.Admin(), copied.rec.KID, "copied"); err != nil {
		t.Fatal(err)
	}
	w.env.Clock.Advance(time.Minute)
	for _, tc := range []struct {
		name  string
		forge func(r *mayfly.LedgerReport)
	}{
		{"never issued", func(r *mayfly.LedgerReport) {
			r.JTI, _ = mayfly.NewJTI(w.env.Clock.Now(), strings.NewReader(strings.Repeat("y", 32)))
		}},
		{"unsigned", func(r *mayfly.LedgerReport) { r.Check = mayfly.LedgerUnsigned }},
		{"other claims", func(r *mayfly.LedgerReport) { r.Expires = r.Expires.Add(time.Hour) }},
	} {
		// The victim's token, as a forger with the copied key spells it.
		r := w.report(victim, "10.1.2.3", 1, 2, 3, 4, 5, 6)
		r.KID = copied.rec.KID
		if tc.name != "other claims" {
			r.Digest = ""
		}
		tc.forge(&r)
		w.env.Clock.Advance(2 * time.Second)
		w.detect(r)
	}
	w.env.Clock.Advance(time.Second)
	w.tick() // the token never issued is due
	want(t, w.raiser, mayfly.RuleRevokedInUse, "kid:"+copied.rec.KID)
	want(t, w.raiser, mayfly.RuleBulkRead, "principal:"+victim.principal)
	if p, err := w.env.App.Identity.Principal(context.Background(), victim.principal); err != nil || p.Status != mayfly.Active {
		t.Errorf("the principal the forger named: %v, %v; want active", err, p.Status)
	}
	if len(w.raiser.contained) != 0 {
		t.Errorf("contained %v; want nothing", w.raiser.contained)
	}
}

// revoked reports whether kid is revoked.
func revoked(t *testing.T, w *world, kid string) bool {
	t.Helper()
	k, err := w.env.App.Keys.Key(kid)
	if err != nil {
		t.Fatal(err)
	}
	return !k.RevokedAt.IsZero()
}

// TestContainNotHeldBackByUnsigned: a rule fires at most once a second
// for a subject, but an unsigned report naming a key (which may not
// revoke it) does not hold back the signed forgery that does.
func TestContainNotHeldBackByUnsigned(t *testing.T) {
	cfg := detect.Config{}
	if err := cfg.Contain.Set("forged-token=revoke-key"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	tok := w.issue("")
	unsigned := w.report(tok, "10.1.2.3", 1)
	unsigned.Check = mayfly.LedgerUnsigned
	w.detect(unsigned)
	if revoked(t, w, tok.rec.KID) {
		t.Fatal("an unsigned token revoked the key it names")
	}
	forged := w.report(tok, "10.1.2.3", 1)
	forged.Expires = forged.Expires.Add(time.Hour)
	w.detect(forged) // within the same second
	if !revoked(t, w, tok.rec.KID) {
		t.Error("the signed forgery right after an unsigned report did not revoke the key")
	}
}

// TestContainWaitsWhenFlooded: with more unknown tokens at once than can
// wait out the issuance grace, the ones beyond alert at once but do not
// revoke: a lagging replica may not see a genuine token's record yet. The
// held ones revoke when their grace has passed.
func TestContainWaitsWhenFlooded(t *testing.T) {
	cfg := detect.Config{}
	if err := cfg.Contain.Set("forged-token=revoke-key"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	tok := w.issue("")
	reports := make([]mayfly.LedgerReport, detect.MaxPending+1)
	for i := range reports {
		r := w.report(tok, "10.1.2.3")
		jti, err := mayfly.NewJTI(w.env.Clock.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		r.JTI, r.Digest = jti, ""
		reports[i] = r
	}
	w.detect(reports...)
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+tok.rec.KID)
	if revoked(t, w, tok.rec.KID) {
		t.Fatal("a token judged without the grace revoked its key")
	}
	w.env.Clock.Advance(time.Second)
	w.tick()
	if !revoked(t, w, tok.rec.KID) {
		t.Error("the held tokens, never issued, did not revoke the key after the grace")
	}
}
