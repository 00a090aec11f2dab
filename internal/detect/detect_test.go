package detect_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/token"
	"github.com/mayflyhq/mayfly/internal/tokentest"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

// raiser is the alert service as the engine sees it: one alert per rule
// and subject, its signals and the actions recorded on it.
type raiser struct {
	mu        sync.Mutex
	alerts    map[string]*mayfly.Alert // rule and subject -> alert
	signals   []mayfly.AlertSignal
	contained map[string][]string // alert ID -> actions
}

func newRaiser() *raiser {
	return &raiser{alerts: map[string]*mayfly.Alert{}, contained: map[string][]string{}}
}

func (r *raiser) Raise(tx mayfly.Tx, sigs []mayfly.AlertSignal) ([]*mayfly.Alert, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*mayfly.Alert
	for _, s := range sigs {
		k := string(s.Rule) + " " + s.Subject
		a := r.alerts[k]
		if a == nil {
			a = &mayfly.Alert{ID: fmt.Sprintf("alr_%d", len(r.alerts)+1), Rule: s.Rule, Subject: s.Subject, State: mayfly.AlertOpen}
			r.alerts[k] = a
		}
		a.Count++
		a.Evidence = append(a.Evidence, s.Evidence)
		r.signals = append(r.signals, s)
		cp := *a
		out = append(out, &cp)
	}
	return out, nil
}

func (r *raiser) Contained(ctx context.Context, id, action string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.contained[id] = append(r.contained[id], action)
	for _, a := range r.alerts {
		if a.ID == id {
			a.Actions = append(a.Actions, action)
		}
	}
	return nil
}

// fired returns the signals of rule, as "subject" strings.
func (r *raiser) fired(rule mayfly.Rule) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.signals {
		if s.Rule == rule {
			out = append(out, s.Subject)
		}
	}
	return out
}

func (r *raiser) alert(rule mayfly.Rule, subject string) *mayfly.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alerts[string(rule)+" "+subject]
}

// world is a running Mayfly with a detection engine over a fake raiser.
type world struct {
	t      *testing.T
	env    *apptest.Env
	raiser *raiser
	engine *detect.Engine
	tokens mayfly.TokenStore
}

func newWorld(t *testing.T, cfg detect.Config) *world {
	t.Helper()
	env := apptest.New(t)
	w := &world{t: t, env: env, raiser: newRaiser(), tokens: env.App.Store()}
	w.start(cfg)
	return w
}

func (w *world) start(cfg detect.Config) {
	w.t.Helper()
	a := w.env.App
	e, err := detect.New(cfg, detect.Deps{Raiser: w.raiser, Tokens: w.tokens, Identity: a.Identity, Keys: a.Keys,
		Revoker: a.Revoker, Clock: w.env.Clock})
	if err != nil {
		w.t.Fatal(err)
	}
	w.engine = e
	w.t.Cleanup(e.Close)
}

func (w *world) detect(reports ...mayfly.LedgerReport) {
	w.t.Helper()
	err := w.env.App.Audit.Update(context.Background(), func(tx mayfly.Tx) error {
		return w.engine.Detect(context.Background(), tx, reports)
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.engine.Close() // containment under way finishes
}

// until moves Mayfly's clock on to t, if it is behind.
func (w *world) until(t time.Time) {
	if d := t.Sub(w.env.Clock.Now()); d > 0 {
		w.env.Clock.Advance(d)
	}
}

func (w *world) tick() {
	w.t.Helper()
	err := w.env.App.Audit.Update(context.Background(), func(tx mayfly.Tx) error {
		return w.engine.Tick(context.Background(), tx, w.env.Clock.Now())
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.engine.Close()
}

func (w *world) heartbeat(hb mayfly.LedgerHeartbeat) {
	w.t.Helper()
	err := w.env.App.Audit.Update(context.Background(), func(tx mayfly.Tx) error {
		return w.engine.Heartbeat(context.Background(), tx, hb)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// issued is a token Mayfly minted, with its client and owner.
type issued struct {
	raw       string
	client    *mayfly.Client
	principal string
	rec       mayfly.Issuance
}

func (w *world) issue(owner string) issued {
	w.t.Helper()
	if owner == "" {
		owner = w.env.Human(fmt.Sprintf("person-%d", time.Now().UnixNano()))
	}
	c, _ := w.env.NewClient(identity.ClientSpec{Name: fmt.Sprintf("client-%d", time.Now().UnixNano()), Owner: owner})
	tok := w.env.Issue(c)
	recs, err := w.tokens.Issuances(context.Background(), mayfly.IssuanceFilter{JTI: tok.JTI})
	if err != nil || len(recs) != 1 {
		w.t.Fatalf("issuance record of %s: %v, %d", tok.JTI, err, len(recs))
	}
	return issued{raw: tok.AccessToken, client: c, principal: owner, rec: recs[0]}
}

// report is what a service reports of a request with tok.
func (w *world) report(tok issued, ip string, ids ...uint64) mayfly.LedgerReport {
	r := mayfly.LedgerReport{Time: w.env.Clock.Now(), Service: "orders", SourceIP: netip.MustParseAddr(ip), Method: "GET", Route: "/orders/{id}",
		JTI: tok.rec.JTI, KID: tok.rec.KID, ClientID: tok.rec.ClientID, Subject: tok.rec.ClientID, Issuer: apptest.Issuer,
		IssuedAt: tok.rec.IssuedAt, Expires: tok.rec.ExpiresAt, Digest: tok.rec.Digest}
	if len(ids) > 0 {
		r.Records = map[string][]uint64{"customer": ids}
	}
	return r
}

func quiet(t *testing.T, r *raiser) {
	t.Helper()
	if len(r.signals) > 0 {
		t.Fatalf("fired %+v; want nothing", r.signals)
	}
}

func want(t *testing.T, r *raiser, rule mayfly.Rule, subject string) {
	t.Helper()
	got := r.fired(rule)
	for _, s := range got {
		if s == subject {
			return
		}
	}
	t.Fatalf("%s fired for %q; want %q among them (all: %+v)", rule, got, subject, r.signals)
}

// reencode spells tok's header and payload in padded base64url: the same
// token to its digest, another string.
func reencode(t *testing.T, raw string) string {
	parts := strings.Split(raw, ".")
	for i := range 2 {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = base64.URLEncoding.EncodeToString(b)
	}
	out := strings.Join(parts, ".")
	if out == raw {
		t.Fatal("neither part of the token takes padding: no other spelling to test")
	}
	return out
}

func TestForgedTokenQuietOnGenuine(t *testing.T) {
	w := newWorld(t, detect.Config{})
	tok := w.issue("")
	r := w.report(tok, "10.1.2.3", 1, 2, 3)
	// A service that computed the digest of a re-encoding of the token
	// (padded, where a part's length allows) names the same token.
	d, err := canon.Digest(reencode(t, tok.raw))
	if err != nil || d != tok.rec.Digest {
		t.Fatalf("digest of the re-encoded token %q, %v; want the record's %q", d, err, tok.rec.Digest)
	}
	r.Digest = d
	signed := r
	signed.Check = mayfly.LedgerSigned
	w.detect(r, signed)
	// A report without the claims a service did not send.
	bare := w.report(tok, "10.1.2.3")
	bare.Digest, bare.KID, bare.IssuedAt, bare.Expires = "", "", time.Time{}, time.Time{}
	w.detect(bare)
	w.env.Clock.Advance(time.Second)
	w.tick()
	quiet(t, w.raiser)
}

// A customer's token, exchanged by a login service, has a sub that is not
// its client: its reports are quiet, and one naming another customer
// under its jti fires.
func TestForgedTokenExchanged(t *testing.T) {
	w := newWorld(t, detect.Config{})
	c, _ := w.env.NewClient(identity.ClientSpec{Name: "login", Owner: w.env.Human("login-owner"), Exchange: []string{"customer"},
		JWKS: []byte(tokentest.LoginJWKS)})
	a, err := w.env.App.Token.Admit(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	// Issued as an exchange issues it, once the subject token checked out.
	tok, err := w.env.App.Token.Issue(t.Context(), a, token.Request{Subject: "customer:48213377", Actor: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := w.tokens.Issuances(t.Context(), mayfly.IssuanceFilter{Subject: "customer:48213377"})
	if err != nil || len(recs) != 1 || recs[0].JTI != tok.JTI || recs[0].Actor != c.ID {
		t.Fatalf("records for the customer: %+v, %v; want the token's, with actor %s", recs, err, c.ID)
	}
	genuine := issued{raw: tok.AccessToken, client: c, rec: recs[0]}
	r := w.report(genuine, "10.1.2.3", 7)
	r.Subject = "customer:48213377"
	w.detect(r)
	w.env.Clock.Advance(time.Second)
	w.tick()
	quiet(t, w.raiser)

	other := r
	other.Subject, other.Digest = "customer:1", ""
	w.detect(other)
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+r.KID)
}

func TestForgedTokenSameJTIOtherClaims(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *mayfly.LedgerReport)
	}{
		{"digest", func(r *mayfly.LedgerReport) { r.Digest = strings.Repeat("A", canon.DigestLen) }},
		{"exp", func(r *mayfly.LedgerReport) { r.Expires = r.Expires.Add(24 * time.Hour) }},
		{"iat", func(r *mayfly.LedgerReport) { r.IssuedAt = r.IssuedAt.Add(-time.Hour) }},
		{"client", func(r *mayfly.LedgerReport) { r.ClientID = "cli_someone_else" }},
		{"kid", func(r *mayfly.LedgerReport) { r.KID = "another-kid" }},
		{"sub", func(r *mayfly.LedgerReport) { r.Subject = "customer:48213377" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, detect.Config{})
			tok := w.issue("")
			r := w.report(tok, "10.1.2.3", 7)
			tc.change(&r)
			w.detect(r)
			// A kid that is not Mayfly's makes the alert the accepting
			// service's: see TestForgedTokenKIDNotMayflys.
			subject := "kid:" + r.KID
			if tc.name == "kid" {
				subject = "service:" + r.Service
			}
			want(t, w.raiser, mayfly.RuleForgedToken, subject)
			ev := w.raiser.signals[0].Evidence
			if ev.JTI != tok.rec.JTI || !strings.Contains(ev.Detail, tc.name) {
				t.Errorf("evidence %+v; want the jti and %q in its detail", ev, tc.name)
			}
		})
	}
}

// tokens wraps the token store to hide issuance records, as a replica's
// read can trail a commit it has not seen yet.
type tokens struct {
	mayfly.TokenStore
	mu     sync.Mutex
	hidden map[string]bool
}

func (s *tokens) Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error) {
	s.mu.Lock()
	h := s.hidden[f.JTI]
	s.mu.Unlock()
	if h {
		return nil, nil
	}
	return s.TokenStore.Issuances(ctx, f)
}

func (s *tokens) show(jti string) {
	s.mu.Lock()
	delete(s.hidden, jti)
	s.mu.Unlock()
}

func TestForgedTokenIssuanceLag(t *testing.T) {
	env := apptest.New(t)
	ts := &tokens{TokenStore: env.App.Store(), hidden: map[string]bool{}}
	w := &world{t: t, env: env, raiser: newRaiser(), tokens: ts}
	w.start(detect.Config{IssuanceGrace: 2 * time.Second})
	tok := w.issue("")
	ts.hidden[tok.rec.JTI] = true
	w.detect(w.report(tok, "10.1.2.3", 1))
	w.detect(w.report(tok, "10.1.2.3", 2))
	w.tick()
	quiet(t, w.raiser)
	// The record shows up within the grace: it was never a forgery.
	ts.show(tok.rec.JTI)
	w.env.Clock.Advance(3 * time.Second)
	w.tick()
	w.detect(w.report(tok, "10.1.2.3", 3))
	quiet(t, w.raiser)
}

// TestForgedTokenSpellingsWhileHeld: while a token waits for its record,
// another token under the same jti (a forger's, with a later expiry) is
// held too and compared when due, not passed over for the first.
func TestForgedTokenSpellingsWhileHeld(t *testing.T) {
	env := apptest.New(t)
	ts := &tokens{TokenStore: env.App.Store(), hidden: map[string]bool{}}
	w := &world{t: t, env: env, raiser: newRaiser(), tokens: ts}
	w.start(detect.Config{IssuanceGrace: 2 * time.Second})
	tok := w.issue("")
	ts.hidden[tok.rec.JTI] = true
	forged := w.report(tok, "10.1.2.3", 2)
	forged.Expires, forged.Digest = forged.Expires.Add(30*24*time.Hour), ""
	w.detect(w.report(tok, "10.1.2.3", 1), forged)
	w.tick()
	quiet(t, w.raiser)
	ts.show(tok.rec.JTI)
	w.env.Clock.Advance(3 * time.Second)
	w.tick()
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+tok.rec.KID)
	if n, d := len(w.raiser.signals), w.raiser.signals[0].Evidence.Detail; n != 1 || !strings.Contains(d, "exp") {
		t.Errorf("%d firings, the first for %q; want one, for its exp", n, d)
	}
}

// TestForgedTokenKIDNotMayflys: a token under a kid Mayfly never had is
// the accepting service's alert, one however many kids a reporter makes
// up, and contains nothing.
func TestForgedTokenKIDNotMayflys(t *testing.T) {
	cfg := detect.Config{}
	if err := cfg.Contain.Set("forged-token=revoke-key"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, cfg)
	tok := w.issue("")
	for i := range 3 {
		r := w.report(tok, "10.1.2.3", 1)
		r.KID, r.JTI = fmt.Sprintf("made-up-%d", i), fmt.Sprintf("made-up-jti-%d", i)
		r.Check = mayfly.LedgerUnsigned
		w.env.Clock.Advance(2 * time.Second)
		w.detect(r)
	}
	if got := w.raiser.fired(mayfly.RuleForgedToken); len(got) != 3 || got[0] != "service:orders" || got[2] != "service:orders" {
		t.Errorf("forged-token fired for %q; want service:orders three times", got)
	}
	if len(w.raiser.contained) != 0 {
		t.Errorf("contained %v; want nothing", w.raiser.contained)
	}
}

func TestForgedTokenNeverIssued(t *testing.T) {
	w := newWorld(t, detect.Config{IssuanceGrace: 2 * time.Second})
	tok := w.issue("")
	r := w.report(tok, "10.1.2.3", 1)
	r.JTI, _ = mayfly.NewJTI(w.env.Clock.Now(), strings.NewReader(strings.Repeat("x", 32)))
	if due := w.engine.Due(); !due.IsZero() {
		t.Errorf("Due before any report: %v; want zero", due)
	}
	w.detect(r)
	w.tick()
	quiet(t, w.raiser) // not yet: its record may be on its way
	// Due tells the ingest when to tick: the grace after the report.
	if due, at := w.engine.Due(), w.env.Clock.Now().Add(2*time.Second); !due.Equal(at) {
		t.Errorf("Due with a token waiting: %v; want %v", due, at)
	}
	w.env.Clock.Advance(2 * time.Second)
	w.tick()
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+r.KID)
	if due := w.engine.Due(); !due.IsZero() {
		t.Errorf("Due once the token fired: %v; want zero", due)
	}
	if ev := w.raiser.signals[0].Evidence; ev.JTI != r.JTI || ev.Detail != "Mayfly never issued its jti" {
		t.Errorf("evidence %+v", ev)
	}
	// Known from now on: the next report of it fires at once.
	w.env.Clock.Advance(2 * time.Second)
	w.detect(r)
	if n := len(w.raiser.fired(mayfly.RuleForgedToken)); n != 2 {
		t.Errorf("fired %d times; want 2", n)
	}
}

func TestForgedTokenUnsigned(t *testing.T) {
	w := newWorld(t, detect.Config{Contain: detect.Containment{mayfly.RuleForgedToken: detect.RevokeKey}})
	tok := w.issue("")
	r := w.report(tok, "10.1.2.3", 1)
	r.Check = mayfly.LedgerUnsigned
	w.detect(r)
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+r.KID)
	// Mayfly's key did not sign it: revoking the key would let anyone who
	// names a kid revoke it.
	if k, err := w.env.App.Keys.Key(r.KID); err != nil || !k.RevokedAt.IsZero() {
		t.Errorf("key %s: %v, revoked at %v; want it untouched", r.KID, err, k.RevokedAt)
	}
	if _, err := w.env.App.Token.Verify(tok.raw); err != nil {
		t.Errorf("the key's genuine tokens: %v; want them still accepted", err)
	}
}

func TestForgedTokenOldRecordWithoutDigest(t *testing.T) {
	env := apptest.New(t)
	ts := &undigested{TokenStore: env.App.Store()}
	w := &world{t: t, env: env, raiser: newRaiser(), tokens: ts}
	w.start(detect.Config{})
	tok := w.issue("")
	w.detect(w.report(tok, "10.1.2.3", 1))
	quiet(t, w.raiser)
}

// undigested serves issuance records as made before they kept digests.
type undigested struct{ mayfly.TokenStore }

func (s *undigested) Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error) {
	recs, err := s.TokenStore.Issuances(ctx, f)
	for i := range recs {
		recs[i].Digest = ""
	}
	return recs, err
}

// flaky fails its first Raise, as a store that blinked.
type flaky struct {
	*raiser
	failed bool
}

func (f *flaky) Raise(tx mayfly.Tx, sigs []mayfly.AlertSignal) ([]*mayfly.Alert, error) {
	if !f.failed {
		f.failed = true
		return nil, mayfly.Errorf(mayfly.Unavailable, "the store blinked")
	}
	return f.raiser.Raise(tx, sigs)
}

// TestRaiseFailureFailsDetect: an alert that could not be raised fails
// the transaction that carries its report, and is raised on the next
// firing, not held back as a repeat.
func TestRaiseFailureFailsDetect(t *testing.T) {
	env := apptest.New(t)
	r := &flaky{raiser: newRaiser()}
	e, err := detect.New(detect.Config{}, detect.Deps{Raiser: r, Tokens: env.App.Store(), Identity: env.App.Identity, Keys: env.App.Keys,
		Revoker: env.App.Revoker, Clock: env.Clock})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, env: env, raiser: r.raiser, engine: e, tokens: env.App.Store()}
	tok := w.issue("")
	forged := w.report(tok, "10.1.2.3", 1)
	forged.Check = mayfly.LedgerUnsigned
	err = env.App.Audit.Update(context.Background(), func(tx mayfly.Tx) error {
		return e.Detect(context.Background(), tx, []mayfly.LedgerReport{forged})
	})
	if mayfly.ErrorCode(err) != mayfly.Unavailable {
		t.Fatalf("Detect with a failing raiser: %v; want its error", err)
	}
	w.detect(forged)
	want(t, w.raiser, mayfly.RuleForgedToken, "kid:"+forged.KID)
}
