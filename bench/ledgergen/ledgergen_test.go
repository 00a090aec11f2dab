package ledgergen

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/ledger"
)

// fakeTokens issues tokens of 15 minutes, and remembers each.
type fakeTokens struct {
	issued map[string]Token // by jti
	n      int
	last   time.Time
}

func (f *fakeTokens) Token(holder string, t time.Time) (Token, error) {
	if t.Before(f.last) {
		return Token{}, fmt.Errorf("asked for a token at %s after one at %s", t, f.last)
	}
	f.last = t
	f.n++
	jti := fmt.Sprintf("%s-%d", holder, f.n)
	d := sha256.Sum256([]byte(jti))
	tok := Token{JTI: jti, KID: "k1", Issuer: "https://mayfly.test", Subject: "mfc_" + holder, ClientID: "mfc_" + holder,
		PrincipalID: "prn_" + holder, IssuedAt: t.Truncate(time.Second), Expires: t.Truncate(time.Second).Add(15 * time.Minute),
		Digest: base64.RawURLEncoding.EncodeToString(d[:16])}
	if f.issued == nil {
		f.issued = map[string]Token{}
	}
	f.issued[jti] = tok
	return tok, nil
}

// short is a workload small enough for a unit test, attacks and all.
var short = Config{Seed: 1, Duration: 36 * time.Hour, Learning: 12 * time.Hour, PeakPerMinute: 1}

type run struct {
	events  []Event
	attacks []Attack
	jsonl   []byte
	tokens  *fakeTokens
}

func generate(t *testing.T, cfg Config) *run {
	t.Helper()
	r := &run{tokens: &fakeTokens{}}
	var err error
	r.attacks, err = New(cfg, r.tokens).Run(func(ev Event) error {
		r.events = append(r.events, ev)
		if ev.Report != nil {
			r.jsonl = AppendJSONL(r.jsonl, ev.Report)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDeterministic(t *testing.T) {
	a, b := generate(t, short), generate(t, short)
	if !bytes.Equal(a.jsonl, b.jsonl) || len(a.events) != len(b.events) {
		t.Fatalf("two runs of seed 1 differ: %d and %d bytes", len(a.jsonl), len(b.jsonl))
	}
	other := short
	other.Seed = 2
	if c := generate(t, other); bytes.Equal(a.jsonl, c.jsonl) {
		t.Error("seeds 1 and 2 gave the same workload")
	}
	for i := 1; i < len(a.events); i++ {
		if a.events[i].Time.Before(a.events[i-1].Time) {
			t.Fatalf("event %d at %s comes after one at %s", i, a.events[i].Time, a.events[i-1].Time)
		}
	}
}

// Every report is one the ingest's parser takes, in batches as a poster
// would send them.
func TestReportsParse(t *testing.T) {
	r := generate(t, short)
	lines := bytes.SplitAfter(r.jsonl, []byte("\n"))
	n := 0
	for len(lines) > 0 {
		k := min(len(lines), 1000)
		reps, err := ledger.ParseReports(bytes.NewReader(bytes.Join(lines[:k], nil)), ledger.Limits{})
		if err != nil {
			t.Fatalf("after %d reports: %v", n, err)
		}
		n += len(reps)
		lines = lines[k:]
		if len(lines) == 1 && len(lines[0]) == 0 {
			break
		}
	}
	if n < 10_000 {
		t.Errorf("%d reports in 36 hours; want more", n)
	}
}

func TestRhythm(t *testing.T) {
	r := generate(t, Config{Seed: 3, NoAttacks: true, PeakPerMinute: 1})
	var perHour [24]int
	days := map[int]int{}
	for _, ev := range r.events {
		if ev.Attack != "" || ev.Action != nil {
			t.Fatalf("a week without attacks has %+v", ev)
		}
		perHour[ev.Time.Hour()]++
		days[ev.Time.YearDay()]++
	}
	night := perHour[3] + perHour[4] + perHour[5]
	day := perHour[15] + perHour[16] + perHour[17]
	if night*3 > day {
		t.Errorf("requests at 03-06: %d, at 15-18: %d; want the night under a third of the afternoon", night, day)
	}
	if len(days) != 7 {
		t.Errorf("traffic on %d days; want 7", len(days))
	}
	// 20 services at a mean of 0.625 of 1 a minute for a week.
	if n, want := len(r.events), 20*0.625*7*24*60; float64(n) < want*0.95 || float64(n) > want*1.05 {
		t.Errorf("%d reports; want about %.0f", n, want)
	}
}

func TestAttacksPresent(t *testing.T) {
	r := generate(t, short)
	byName := map[string][]Event{}
	for _, ev := range r.events {
		if ev.Attack != "" {
			byName[ev.Attack] = append(byName[ev.Attack], ev)
		}
	}
	rules := map[mayfly.Rule]bool{}
	for _, a := range r.attacks {
		if len(a.Must) == 0 {
			t.Errorf("attack %s expects nothing", a.Name)
		}
		for _, e := range a.Must {
			rules[e.Rule] = true
			if len(e.Subjects) == 0 {
				t.Errorf("attack %s: %s about no subject", a.Name, e.Rule)
			}
		}
		if len(byName[a.Name]) == 0 {
			t.Errorf("attack %s has no event", a.Name)
		}
		if a.Start.Before(short.withDefaults().Start.Add(short.Learning)) {
			t.Errorf("attack %s at %s, within the learning period", a.Name, a.Start)
		}
	}
	for _, rule := range []mayfly.Rule{mayfly.RuleForgedToken, mayfly.RuleRevokedInUse, mayfly.RuleBulkRead, mayfly.RuleNewNetwork, mayfly.RuleSharedSource} {
		if !rules[rule] {
			t.Errorf("no attack must raise %s", rule)
		}
	}

	if evs := byName[AttackForgedReuse]; len(evs) == 1 {
		rep := evs[0].Report
		real, ok := r.tokens.issued[rep.JTI]
		if !ok || real.Digest == rep.Digest || real.Expires.Equal(rep.Expires) {
			t.Errorf("forged reuse %+v: want an issued jti with another digest and expiry", rep)
		}
	}
	if evs := byName[AttackForgedNew]; len(evs) == 1 {
		if _, ok := r.tokens.issued[evs[0].Report.JTI]; ok {
			t.Errorf("forged new jti %s was issued", evs[0].Report.JTI)
		}
	}

	off := byName[AttackOffboarded]
	if len(off) != 5 || off[0].Action == nil || off[0].Action.Kind != "offboard" || off[0].Action.Holder != Person {
		t.Fatalf("offboarding events %+v; want the offboarding, then 4 reports", off)
	}
	for _, ev := range off[1:] {
		if !ev.Time.After(off[0].Time) || !strings.HasPrefix(ev.Report.JTI, Person+"-") || !ev.Time.Before(ev.Report.Expires) {
			t.Errorf("report %+v: want %s's token, used after the offboarding and before it expires", ev.Report, Person)
		}
	}

	customers := map[uint64]bool{}
	bulk := byName[AttackBulkExport]
	for _, ev := range bulk {
		for _, id := range ev.Report.Records["customer"] {
			customers[id] = true
		}
		if ev.Report.ClientID != bulk[0].Report.ClientID || ev.Report.SourceIP != bulk[0].Report.SourceIP {
			t.Fatalf("the bulk export changes client or source: %+v", ev.Report)
		}
	}
	if len(customers) != BulkCustomers || bulk[len(bulk)-1].Time.Sub(bulk[0].Time) >= time.Hour {
		t.Errorf("the bulk export read %d customers from %s to %s; want %d within an hour", len(customers), bulk[0].Time, bulk[len(bulk)-1].Time, BulkCustomers)
	}

	for _, ev := range byName[AttackNewNetwork] {
		if !newNet.Contains(ev.Report.SourceIP) {
			t.Errorf("new network report from %s", ev.Report.SourceIP)
		}
	}

	clients := map[string]bool{}
	shared := byName[AttackSharedSrc]
	for _, ev := range shared {
		if ev.Report.SourceIP != sharedSource {
			t.Errorf("shared source report from %s", ev.Report.SourceIP)
		}
		clients[ev.Report.ClientID] = true
	}
	if len(clients) != SharedClients || shared[len(shared)-1].Time.Sub(shared[0].Time) > 10*time.Minute {
		t.Errorf("the shared source presented %d clients' tokens; want %d within 10 minutes", len(clients), SharedClients)
	}
}

// No benign report breaks a rule's plain definition.
func TestBenignKeepsTheRules(t *testing.T) {
	r := generate(t, short)
	sourceClient := map[netip.Addr]string{}
	type hourKey struct {
		client string
		hour   time.Time
	}
	perHour := map[hourKey]map[uint64]bool{}
	for _, ev := range r.events {
		rep := ev.Report
		if ev.Attack != "" || rep == nil {
			continue
		}
		tok, ok := r.tokens.issued[rep.JTI]
		switch {
		case !ok || tok.Digest != rep.Digest || tok.ClientID != rep.ClientID || !tok.Expires.Equal(rep.Expires):
			t.Fatalf("benign report %+v: not the token issued", rep)
		case ev.Time.Before(tok.IssuedAt) || !ev.Time.Before(tok.Expires):
			t.Fatalf("benign report at %s of a token valid from %s to %s", ev.Time, tok.IssuedAt, tok.Expires)
		case strings.HasPrefix(rep.JTI, Person+"-"):
			t.Fatalf("benign report of %s's token", Person)
		}
		if c, ok := sourceClient[rep.SourceIP]; ok && c != rep.ClientID {
			t.Fatalf("benign source %s presents tokens of %s and %s", rep.SourceIP, c, rep.ClientID)
		}
		sourceClient[rep.SourceIP] = rep.ClientID
		holder := strings.TrimPrefix(rep.ClientID, "mfc_")
		svc := -1
		for i := range 20 {
			if ServiceName(i) == holder {
				svc = i
			}
		}
		if svc < 0 || !slices.ContainsFunc(Networks(svc), func(p netip.Prefix) bool { return p.Contains(rep.SourceIP) }) {
			t.Fatalf("benign report of %s from %s, outside its networks", holder, rep.SourceIP)
		}
		k := hourKey{rep.ClientID, ev.Time.Truncate(time.Hour)}
		if perHour[k] == nil {
			perHour[k] = map[uint64]bool{}
		}
		for _, id := range rep.Records["customer"] {
			perHour[k][id] = true
		}
	}
	most := 0
	for _, ids := range perHour {
		most = max(most, len(ids))
	}
	if most == 0 || most*100 > BulkCustomers {
		t.Errorf("a benign client read at most %d customers in an hour; want some, and under a hundredth of the bulk export", most)
	}
}
