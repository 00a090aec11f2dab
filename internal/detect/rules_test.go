package detect_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/detect"
	"github.com/mayflyhq/mayfly/internal/offboard"
)

func TestRevokedInUse(t *testing.T) {
	grace := 5 * time.Second
	for _, tc := range []struct {
		name    string
		revoke  func(w *world, tok issued)
		subject func(tok issued) string
	}{
		{"offboarded", func(w *world, tok issued) {
			if _, err := w.env.App.Offboard.Offboard(w.env.Admin(), tok.principal, offboard.Options{Reason: "left"}); err != nil {
				t.Fatal(err)
			}
		}, func(tok issued) string { return "principal:" + tok.principal }},
		{"suspended", func(w *world, tok issued) {
			if _, err := w.env.App.Identity.SetStatus(w.env.Admin(), tok.principal, mayfly.Suspended, "on leave"); err != nil {
				t.Fatal(err)
			}
		}, func(tok issued) string { return "principal:" + tok.principal }},
		{"client", func(w *world, tok issued) {
			if _, err := w.env.App.Identity.RevokeClient(w.env.Admin(), tok.client.ID, "leaked"); err != nil {
				t.Fatal(err)
			}
		}, func(tok issued) string { return "client:" + tok.client.ID }},
		{"jti", func(w *world, tok issued) {
			if _, err := w.env.App.Token.RevokeJTI(w.env.Admin(), tok.rec.JTI, "leaked"); err != nil {
				t.Fatal(err)
			}
		}, func(tok issued) string { return "jti:" + tok.rec.JTI }},
		{"kid", func(w *world, tok issued) {
			if _, err := w.env.App.Keys.Revoke(w.env.Admin(), tok.rec.KID, "copied"); err != nil {
				t.Fatal(err)
			}
		}, func(tok issued) string { return "kid:" + tok.rec.KID }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, detect.Config{RevocationGrace: grace, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
			tok := w.issue("")
			before := w.report(tok, "10.1.2.3", 1)
			w.env.Clock.Advance(time.Minute)
			tc.revoke(w, tok)
			// Reported late, from before the revocation; and within the
			// time a revocation takes to reach a verifier.
			soon := w.report(tok, "10.1.2.3", 2)
			soon.Time = soon.Time.Add(grace - time.Second)
			w.detect(before, soon)
			quiet(t, w.raiser)
			late := w.report(tok, "10.1.2.3", 3)
			late.Time = late.Time.Add(grace + time.Second)
			w.detect(late)
			want(t, w.raiser, mayfly.RuleRevokedInUse, tc.subject(tok))
		})
	}
}

func TestRevokedInUseOtherTokensQuiet(t *testing.T) {
	w := newWorld(t, detect.Config{})
	gone, kept := w.issue(""), w.issue("")
	if _, err := w.env.App.Identity.SetStatus(w.env.Admin(), gone.principal, mayfly.Suspended, "on leave"); err != nil {
		t.Fatal(err)
	}
	w.env.Clock.Advance(time.Minute)
	w.detect(w.report(kept, "10.1.2.3", 1))
	quiet(t, w.raiser)
}

// bulk reports ids read by tok at time at, in reports of 10, Mayfly's
// clock moved on to at as reports arrive.
func bulk(w *world, tok issued, ip string, at time.Time, first, n uint64) {
	w.until(at)
	var rs []mayfly.LedgerReport
	for id := first; id < first+n; id += 10 {
		r := w.report(tok, ip)
		r.Time = at
		ids := make([]uint64, 0, 10)
		for j := id; j < min(id+10, first+n); j++ {
			ids = append(ids, j)
		}
		r.Records = map[string][]uint64{"customer": ids}
		rs = append(rs, r)
	}
	w.detect(rs...)
}

func TestBulkRead(t *testing.T) {
	cfg := detect.Config{BulkWindow: 10 * time.Minute, BulkMultiple: 4, BulkFloor: 500, BulkCeiling: 100000,
		Disable: detect.RuleSet{mayfly.RuleForgedToken, mayfly.RuleNewNetwork}}
	w := newWorld(t, cfg)
	tok := w.issue("")
	start := w.env.Clock.Now()
	// A day of benign reading: 400 distinct records per window, IDs
	// above 2^32, the same ones read again and again.
	const big = 1 << 40
	for i := range 30 {
		at := start.Add(time.Duration(i) * 5 * time.Minute)
		bulk(w, tok, "10.1.2.3", at, big+uint64(i%3)*200, 200)
	}
	quiet(t, w.raiser)
	// Its high-water mark is 400: four times that is allowed, and what
	// is allowed is learned.
	at := start.Add(31 * 5 * time.Minute)
	bulk(w, tok, "10.1.2.3", at, 2*big, 1500)
	quiet(t, w.raiser)
	// An export: more than four times its new mark of 1500.
	at = at.Add(time.Hour)
	bulk(w, tok, "10.1.2.3", at, 3*big, 6010)
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)
	want(t, w.raiser, mayfly.RuleBulkRead, "principal:"+tok.principal)
	want(t, w.raiser, mayfly.RuleBulkRead, "source:10.1.2.3")
	a := w.raiser.alert(mayfly.RuleBulkRead, "client:"+tok.client.ID)
	if ev := a.Evidence[0]; ev.Observed != 6010 || ev.Limit != 6000 {
		t.Errorf("evidence: observed %d, limit %d; want 6010, the report that crossed a limit of 4×1500", ev.Observed, ev.Limit)
	}
	// Once per window and key.
	n := len(w.raiser.signals)
	bulk(w, tok, "10.1.2.3", at.Add(time.Minute), 4*big, 2000)
	if len(w.raiser.signals) != n {
		t.Errorf("fired again within the window: %+v", w.raiser.signals[n:])
	}
}

func TestBulkReadFloorAndCeiling(t *testing.T) {
	cfg := detect.Config{BulkFloor: 1000, BulkCeiling: 3000, BulkLearning: time.Hour, Disable: detect.RuleSet{mayfly.RuleForgedToken}}
	w := newWorld(t, cfg)
	fresh := w.issue("")
	start := w.env.Clock.Now()
	// While it is learned, a client may read up to the ceiling.
	bulk(w, fresh, "10.1.2.3", start, 0, 3000)
	quiet(t, w.raiser)
	bulk(w, fresh, "10.1.2.3", start.Add(time.Minute), 5000, 1)
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+fresh.client.ID)

	// Learned, one that read little may read up to the floor.
	w2 := newWorld(t, cfg)
	tok := w2.issue("")
	bulk(w2, tok, "10.1.2.4", start, 0, 10)
	later := start.Add(2 * time.Hour)
	bulk(w2, tok, "10.1.2.4", later, 100, 1000)
	quiet(t, w2.raiser)
	bulk(w2, tok, "10.1.2.4", later, 5000, 1)
	want(t, w2.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)

	// However high its baseline, the ceiling holds.
	w3 := newWorld(t, detect.Config{BulkFloor: 1000, BulkCeiling: 3000, BulkMultiple: 100, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok3 := w3.issue("")
	bulk(w3, tok3, "10.9.9.9", start, 0, 900)
	bulk(w3, tok3, "10.9.9.9", start.Add(2*time.Hour), 0, 900)
	bulk(w3, tok3, "10.9.9.9", start.Add(3*time.Hour), 10000, 3001)
	want(t, w3.raiser, mayfly.RuleBulkRead, "client:"+tok3.client.ID)
}

func TestBulkReadSlides(t *testing.T) {
	w := newWorld(t, detect.Config{BulkWindow: 10 * time.Minute, BulkFloor: 1000, BulkMultiple: 1, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok := w.issue("")
	start := w.env.Clock.Now()
	bulk(w, tok, "10.1.2.3", start, 0, 1)
	// 900 records, and 900 others 11 minutes later: never 1000 within
	// ten minutes.
	at := start.Add(2 * time.Hour)
	bulk(w, tok, "10.1.2.3", at, 0, 900)
	bulk(w, tok, "10.1.2.3", at.Add(11*time.Minute), 5000, 900)
	quiet(t, w.raiser)
	// 900 others 5 minutes after that: 1800 within ten minutes.
	bulk(w, tok, "10.1.2.3", at.Add(16*time.Minute), 10000, 900)
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)
}

// An export spread over the window, a little each minute, is judged
// against what was read before it, not against its own first minutes.
func TestBulkReadSpreadExport(t *testing.T) {
	w := newWorld(t, detect.Config{BulkWindow: 10 * time.Minute, BulkFloor: 1000, BulkMultiple: 5, BulkLearning: time.Minute,
		Disable: detect.RuleSet{mayfly.RuleForgedToken, mayfly.RuleNewNetwork}})
	tok := w.issue("")
	start := w.env.Clock.Now()
	for i := range 12 {
		bulk(w, tok, "10.1.2.3", start.Add(time.Duration(i)*5*time.Minute), uint64(i%2)*20, 20)
	}
	quiet(t, w.raiser)
	// 300 new records a minute: 1200 within four minutes, above the
	// floor; its baseline was 40.
	at := start.Add(2 * time.Hour)
	for i := range 30 {
		bulk(w, tok, "10.1.2.3", at.Add(time.Duration(i)*time.Minute), 10000+uint64(i)*300, 300)
	}
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)
	want(t, w.raiser, mayfly.RuleBulkRead, "source:10.1.2.3")
}

func TestBulkReadLearnsFromFiring(t *testing.T) {
	w := newWorld(t, detect.Config{BulkFloor: 100, BulkMultiple: 2, BulkLearning: time.Minute, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok := w.issue("")
	start := w.env.Clock.Now()
	bulk(w, tok, "10.1.2.3", start, 0, 1)
	// A job that grew: it fires once, and teaches the limit it passed
	// (100), not all it read.
	bulk(w, tok, "10.1.2.3", start.Add(time.Hour), 0, 1000)
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)
	n := len(w.raiser.fired(mayfly.RuleBulkRead))
	bulk(w, tok, "10.1.2.3", start.Add(2*time.Hour), 0, 200)
	if got := len(w.raiser.fired(mayfly.RuleBulkRead)); got != n {
		t.Errorf("fired at 2×100; want quiet")
	}
	w.env.Clock.Advance(2 * time.Second) // past the bound on repeats
	bulk(w, tok, "10.1.2.3", start.Add(3*time.Hour), 1000, 401)
	if got := len(w.raiser.fired(mayfly.RuleBulkRead)); got <= n {
		t.Errorf("quiet at 401, above 2×200; want it to fire")
	}
}

func TestNewNetwork(t *testing.T) {
	w := newWorld(t, detect.Config{Learning: time.Hour, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok := w.issue("")
	start := w.env.Clock.Now()
	at := func(d time.Duration, ip string) mayfly.LedgerReport {
		w.until(start.Add(d))
		r := w.report(tok, ip, 1)
		r.Time = start.Add(d)
		return r
	}
	w.detect(at(0, "192.0.2.10"), at(time.Minute, "2001:db8:1::1"), at(2*time.Minute, "::ffff:198.51.100.7"))
	// After learning: other hosts of the networks learned, IPv4 in
	// IPv6's spelling among them.
	w.detect(at(2*time.Hour, "192.0.2.200"), at(2*time.Hour, "2001:db8:1:ffff::9"), at(2*time.Hour, "198.51.100.99"))
	quiet(t, w.raiser)
	w.detect(at(3*time.Hour, "2001:db8:2::1"))
	want(t, w.raiser, mayfly.RuleNewNetwork, "client:"+tok.client.ID)
	want(t, w.raiser, mayfly.RuleNewNetwork, "principal:"+tok.principal)
	if d := w.raiser.signals[0].Evidence.Detail; d != "network 2001:db8:2::/48 was not seen in its learning period" {
		t.Errorf("detail %q", d)
	}
	n := len(w.raiser.signals)
	w.env.Clock.Advance(time.Minute)
	w.detect(at(4*time.Hour, "2001:db8:2::2"))
	if len(w.raiser.signals) != n {
		t.Errorf("fired again for a network it alerted on: %+v", w.raiser.signals[n:])
	}
	w.detect(at(4*time.Hour, "203.0.113.1"))
	if len(w.raiser.signals) != n+2 {
		t.Errorf("signals %+v; want two more for 203.0.113.0/24", w.raiser.signals[n:])
	}
}

func TestSharedSource(t *testing.T) {
	w := newWorld(t, detect.Config{SharedMax: 3, SharedWindow: 10 * time.Minute, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	owner := w.env.Human("gateway-owner")
	var toks []issued
	for range 4 {
		toks = append(toks, w.issue(owner))
	}
	now := w.env.Clock.Now()
	// Three clients from one address, and the fourth long after the first.
	for i, tok := range toks[:3] {
		r := w.report(tok, "203.0.113.5", 1)
		r.Time = now.Add(time.Duration(i) * time.Minute)
		w.detect(r)
	}
	r := w.report(toks[3], "203.0.113.5", 1)
	r.Time = now.Add(11 * time.Minute)
	w.detect(r)
	quiet(t, w.raiser)
	// Four within the window.
	for _, tok := range toks {
		r := w.report(tok, "203.0.113.5", 1)
		r.Time = now.Add(12 * time.Minute)
		w.detect(r)
	}
	want(t, w.raiser, mayfly.RuleSharedSource, "source:203.0.113.5")
	if ev := w.raiser.signals[0].Evidence; ev.Observed != 4 || ev.Limit != 3 {
		t.Errorf("evidence %+v; want 4 of at most 3", ev)
	}
}

func TestStaleVerifier(t *testing.T) {
	w := newWorld(t, detect.Config{StaleLag: 10 * time.Second, StaleSilence: time.Minute, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok := w.issue("")
	if _, err := w.env.App.Token.RevokeJTI(w.env.Admin(), tok.rec.JTI, "leaked"); err != nil {
		t.Fatal(err)
	}
	seq := w.env.App.Revoker.Seq()
	now := w.env.Clock.Now()
	// Up to date; behind but within the bound; a feed that delivers.
	w.heartbeat(mayfly.LedgerHeartbeat{Service: "orders", Time: now, RevocationSeq: seq, RevocationAge: time.Second})
	w.heartbeat(mayfly.LedgerHeartbeat{Service: "billing", Time: now.Add(5 * time.Second), RevocationSeq: seq - 1})
	w.heartbeat(mayfly.LedgerHeartbeat{Service: "nofeed", Time: now.Add(time.Hour)})
	// A clock an hour ahead of Mayfly's makes no lag.
	w.heartbeat(mayfly.LedgerHeartbeat{Service: "skewed", Time: now.Add(time.Hour), RevocationSeq: seq - 1, RevocationAge: time.Millisecond})
	quiet(t, w.raiser)
	w.env.Clock.Advance(11 * time.Second)
	w.heartbeat(mayfly.LedgerHeartbeat{Service: "billing", Time: now.Add(11 * time.Second), RevocationSeq: seq - 1, RevocationAge: time.Millisecond})
	want(t, w.raiser, mayfly.RuleStaleVerifier, "service:billing")
	w.heartbeat(mayfly.LedgerHeartbeat{Service: "orders", Time: now, RevocationSeq: seq, RevocationAge: 11 * time.Second})
	want(t, w.raiser, mayfly.RuleStaleVerifier, "service:orders")

	// Silence: a service that reported, then nothing.
	w2 := newWorld(t, detect.Config{StaleSilence: time.Minute, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok2 := w2.issue("")
	w2.detect(w2.report(tok2, "10.1.2.3", 1))
	w2.env.Clock.Advance(time.Minute)
	w2.tick()
	quiet(t, w2.raiser)
	w2.env.Clock.Advance(time.Second)
	w2.tick()
	want(t, w2.raiser, mayfly.RuleStaleVerifier, "service:orders")
	w2.env.Clock.Advance(time.Hour)
	w2.tick()
	if n := len(w2.raiser.signals); n != 1 {
		t.Errorf("fired %d times for one silence; want 1", n)
	}
}

func TestRefusedReportsReadNothing(t *testing.T) {
	w := newWorld(t, detect.Config{BulkFloor: 5, BulkCeiling: 5})
	tok := w.issue("")
	r := w.report(tok, "10.1.2.3", 1, 2, 3, 4, 5, 6)
	r.Refused, r.Digest = true, "AAAAAAAAAAAAAAAAAAAAAA"
	w.detect(r)
	quiet(t, w.raiser)
}

// TestFarFutureReport: a report dated years ahead of Mayfly's clock, from
// a service whose clock is wrong or that lies, must not hold the windows of
// the client it names: bulk-read fires again in a later window, and
// new-network's learning ends.
func TestFarFutureReport(t *testing.T) {
	w := newWorld(t, detect.Config{BulkFloor: 100, BulkCeiling: 100, Learning: time.Hour, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok := w.issue("")
	start := w.env.Clock.Now()
	ahead := w.report(tok, "192.0.2.1", 1)
	ahead.Time = time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)
	w.detect(ahead)
	w.detect(w.report(tok, "192.0.2.1", 1))
	bulk(w, tok, "192.0.2.1", start.Add(time.Minute), 1000, 150)
	want(t, w.raiser, mayfly.RuleBulkRead, "client:"+tok.client.ID)
	n := len(w.raiser.fired(mayfly.RuleBulkRead))
	bulk(w, tok, "192.0.2.1", start.Add(2*time.Hour), 5000, 150)
	if got := len(w.raiser.fired(mayfly.RuleBulkRead)); got <= n {
		t.Errorf("bulk-read quiet on an export a window later; want it to fire")
	}
	late := w.report(tok, "198.51.100.7", 1)
	w.detect(late)
	want(t, w.raiser, mayfly.RuleNewNetwork, "client:"+tok.client.ID)
}

// TestNewNetworkLearnsOnlyIssued: tokens Mayfly never issued name clients
// a forger made up; such a client is never learned (forged-token is the
// alert for it), so made-up names cannot fill the table of the learned.
func TestNewNetworkLearnsOnlyIssued(t *testing.T) {
	w := newWorld(t, detect.Config{Learning: time.Hour, Disable: detect.RuleSet{mayfly.RuleForgedToken}})
	tok := w.issue("")
	start := w.env.Clock.Now()
	at := func(d time.Duration, ip string) mayfly.LedgerReport {
		w.until(start.Add(d))
		r := w.report(tok, ip, 1)
		r.Time = start.Add(d)
		r.JTI, r.Digest, r.ClientID = "made-up-"+ip, "", "mfc_made-up"
		return r
	}
	w.detect(at(0, "192.0.2.10"))
	w.detect(at(2*time.Hour, "203.0.113.1"))
	for _, s := range w.raiser.fired(mayfly.RuleNewNetwork) {
		if s == "client:mfc_made-up" {
			t.Errorf("new-network fired for a client only forged tokens named: %+v", w.raiser.signals)
		}
	}
}
