package storetest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Tokens runs the suite of mayfly.TokenStore: issuance records and used
// client assertions.
func Tokens(t *testing.T, open func(t *testing.T) TokenStore) {
	t.Helper()
	run(t, open, []test[TokenStore]{
		{"Issuances/Filter", testIssuancesFilter},
		{"Issuances/UnknownReference", testIssuancesUnknownReference},
		{"Issuances/InTransaction", testIssuancesInTransaction},
		{"Issuances/Prune", testIssuancesPrune},
		{"UseAssertion", testUseAssertion},
		{"UseAssertions", testUseAssertions},
	})
}

// issuance returns the record the token service writes for a token issued
// at at: a jti carrying the millisecond, IssuedAt and ExpiresAt in seconds.
func issuance(t *testing.T, at time.Time, kid string, c *mayfly.Client, ip string) mayfly.Issuance {
	t.Helper()
	jti, err := mayfly.NewJTI(at, rand.Reader)
	if err != nil {
		t.Fatalf("NewJTI: %v", err)
	}
	var d [16]byte
	rand.Read(d[:])
	iat := at.Truncate(time.Second)
	return mayfly.Issuance{JTI: jti, Digest: base64.RawURLEncoding.EncodeToString(d[:]), KID: kid, ClientID: c.ID, PrincipalID: c.OwnerID, SourceIP: ip,
		UserAgent: "agent/" + ip, IssuedAt: iat, ExpiresAt: iat.Add(c.TokenTTL)}
}

func testIssuancesFilter(t *testing.T, s TokenStore) {
	ctx := t.Context()
	w := seed(t, s)
	r1 := issuance(t, t0.Add(100*time.Millisecond), w.kA.KID, w.cA, "10.0.0.1")
	r2 := issuance(t, t0.Add(2500*time.Millisecond), w.kA.KID, w.cB, "10.0.0.2")
	r3 := issuance(t, t0.Add(4250*time.Millisecond), w.kB.KID, w.cA, "2001:db8::3")
	r4 := issuance(t, t0.Add(6900*time.Millisecond), w.kB.KID, w.cA, "10.0.0.4")
	r4.UserAgent = ""
	r4.Digest = ""                                                             // as a record made before digests were kept
	r2.Subject, r2.Actor, r2.SessionID = "customer:48213377", w.cB.ID, "fam-1" // a customer's token, exchanged by cB
	r3.Subject, r3.Actor = "customer:48213377", w.cA.ID
	must(t, "RecordIssuances", do(t, s, s.RecordIssuances, []mayfly.Issuance{r1, r2}))
	must(t, "RecordIssuances", do(t, s, s.RecordIssuances, []mayfly.Issuance{r3, r4}))

	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name string
		f    mayfly.IssuanceFilter
		want []mayfly.Issuance // newest first
	}{
		{"all", mayfly.IssuanceFilter{}, []mayfly.Issuance{r4, r3, r2, r1}},
		{"client", mayfly.IssuanceFilter{ClientID: w.cA.ID}, []mayfly.Issuance{r4, r3, r1}},
		{"other client", mayfly.IssuanceFilter{ClientID: w.cB.ID}, []mayfly.Issuance{r2}},
		{"unknown client", mayfly.IssuanceFilter{ClientID: "cli-nobody"}, nil},
		{"kid", mayfly.IssuanceFilter{KID: w.kA.KID}, []mayfly.Issuance{r2, r1}},
		{"client and kid", mayfly.IssuanceFilter{ClientID: w.cA.ID, KID: w.kA.KID}, []mayfly.Issuance{r1}},
		{"jti", mayfly.IssuanceFilter{JTI: r3.JTI}, []mayfly.Issuance{r3}},
		{"jti of another client", mayfly.IssuanceFilter{JTI: r3.JTI, ClientID: w.cB.ID}, nil},
		{"unknown jti", mayfly.IssuanceFilter{JTI: "0000000000000000000000000z"}, nil},
		{"digest", mayfly.IssuanceFilter{Digest: r2.Digest}, []mayfly.Issuance{r2}},
		{"digest of another client", mayfly.IssuanceFilter{Digest: r2.Digest, ClientID: w.cA.ID}, nil},
		{"digest and jti of one token", mayfly.IssuanceFilter{Digest: r3.Digest, JTI: r3.JTI}, []mayfly.Issuance{r3}},
		{"digest of one token, jti of another", mayfly.IssuanceFilter{Digest: r3.Digest, JTI: r1.JTI}, nil},
		{"unknown digest", mayfly.IssuanceFilter{Digest: "AAAAAAAAAAAAAAAAAAAAAA"}, nil},
		{"subject", mayfly.IssuanceFilter{Subject: "customer:48213377"}, []mayfly.Issuance{r3, r2}},
		{"subject and client", mayfly.IssuanceFilter{Subject: "customer:48213377", ClientID: w.cB.ID}, []mayfly.Issuance{r2}},
		{"subject and since", mayfly.IssuanceFilter{Subject: "customer:48213377", Since: at(3 * time.Second)}, []mayfly.Issuance{r3}},
		{"unknown subject", mayfly.IssuanceFilter{Subject: "customer:1"}, nil},
		{"a client's own token is no subject's", mayfly.IssuanceFilter{Subject: w.cA.ID}, nil},
		{"since", mayfly.IssuanceFilter{Since: at(3 * time.Second)}, []mayfly.Issuance{r4, r3}},
		{"until", mayfly.IssuanceFilter{Until: at(3 * time.Second)}, []mayfly.Issuance{r2, r1}},
		{"since and until", mayfly.IssuanceFilter{Since: at(time.Second), Until: at(5 * time.Second)}, []mayfly.Issuance{r3, r2}},
		{"since, other zone", mayfly.IssuanceFilter{Since: at(3 * time.Second).In(zone)}, []mayfly.Issuance{r4, r3}},
		// Bounds with a fraction of a second, as "--since 1h" makes: a
		// record issued in the bound's second but before it is before it.
		{"since mid-second", mayfly.IssuanceFilter{Since: at(2700 * time.Millisecond)}, []mayfly.Issuance{r4, r3}},
		{"until mid-second", mayfly.IssuanceFilter{Until: at(2700 * time.Millisecond)}, []mayfly.Issuance{r2, r1}},
		{"until mid-second after the newest", mayfly.IssuanceFilter{Until: at(6950 * time.Millisecond)}, []mayfly.Issuance{r4, r3, r2, r1}},
		{"until before everything", mayfly.IssuanceFilter{Until: at(-time.Hour)}, nil},
		{"since after everything", mayfly.IssuanceFilter{Since: at(time.Hour)}, nil},
		{"limit", mayfly.IssuanceFilter{Limit: 2}, []mayfly.Issuance{r4, r3}},
		{"limit above count", mayfly.IssuanceFilter{Limit: 10}, []mayfly.Issuance{r4, r3, r2, r1}},
		{"limit with filters", mayfly.IssuanceFilter{ClientID: w.cA.ID, Until: at(5 * time.Second), Limit: 1}, []mayfly.Issuance{r3}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			got, err := s.Issuances(ctx, tt.f)
			if err != nil {
				t.Fatalf("Issuances(%s): %v", fmtFilter(tt.f), err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("Issuances(%s): got %v, want %v", fmtFilter(tt.f), jtis(got), jtis(tt.want))
				return
			}
			for i := range got {
				diffIssuance(&got[i], &tt.want[i]).report(t, fmt.Sprintf("Issuances(%s)[%d]", fmtFilter(tt.f), i))
			}
		})
	}
}

func fmtFilter(f mayfly.IssuanceFilter) string {
	var parts []string
	for _, kv := range [][2]string{{"ClientID", f.ClientID}, {"KID", f.KID}, {"JTI", f.JTI}, {"Digest", f.Digest}, {"Subject", f.Subject}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+":"+kv[1])
		}
	}
	if !f.Since.IsZero() {
		parts = append(parts, "Since:"+fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "Until:"+fmtTime(f.Until))
	}
	if f.Limit != 0 {
		parts = append(parts, fmt.Sprintf("Limit:%d", f.Limit))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func jtis(recs []mayfly.Issuance) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s (issued %s)", r.JTI, r.IssuedAt.UTC().Format(time.TimeOnly)))
	}
	return out
}

func testIssuancesUnknownReference(t *testing.T, s TokenStore) {
	ctx := t.Context()
	w := seed(t, s)
	good := issuance(t, t0, w.kA.KID, w.cA, "10.0.0.1")
	badKey := issuance(t, t0.Add(time.Second), "kid-nobody", w.cA, "10.0.0.2")
	badClient := issuance(t, t0.Add(2*time.Second), w.kA.KID, w.cA, "10.0.0.3")
	badClient.ClientID = "cli-nobody"
	tests := []struct {
		name string
		recs []mayfly.Issuance
	}{
		{"unknown key last", []mayfly.Issuance{good, badKey}},
		{"unknown key first", []mayfly.Issuance{badKey, good}},
		{"unknown client", []mayfly.Issuance{good, badClient}},
	}
	for _, tt := range tests {
		if err := do(t, s, s.RecordIssuances, tt.recs); err == nil {
			t.Errorf("RecordIssuances with an %s: got nil error, want an error", tt.name)
		}
		got, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
		must(t, "Issuances", err)
		if len(got) != 0 {
			t.Errorf("Issuances after a failed batch with an %s: got %v, want none", tt.name, jtis(got))
		}
	}
	must(t, "RecordIssuances of the good record alone", do(t, s, s.RecordIssuances, []mayfly.Issuance{good}))
	got, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
	must(t, "Issuances", err)
	diffList(t, "Issuances", toPtrs(got), toPtrs([]mayfly.Issuance{good}), diffIssuance)
}

func toPtrs[T any](v []T) []*T {
	out := make([]*T, len(v))
	for i := range v {
		out[i] = &v[i]
	}
	return out
}

func testUseAssertion(t *testing.T, s TokenStore) {
	ctx := t.Context()
	w := seed(t, s)
	exp := t0.Add(time.Minute)
	steps := []struct {
		name   string
		prune  time.Time // if set, PruneAssertions at this time before the step
		client string
		jti    string
		exp    time.Time
		want   error // nil or mayfly.ErrConflict
	}{
		{name: "first use", client: w.cA.ID, jti: "assert-1", exp: exp},
		{name: "reuse", client: w.cA.ID, jti: "assert-1", exp: exp, want: mayfly.ErrConflict},
		{name: "reuse with another exp", client: w.cA.ID, jti: "assert-1", exp: exp.Add(time.Hour), want: mayfly.ErrConflict},
		{name: "same jti, other client", client: w.cB.ID, jti: "assert-1", exp: exp},
		{name: "other jti", client: w.cA.ID, jti: "assert-2", exp: exp.Add(time.Hour)},
		{name: "reuse after a prune before exp", prune: t0.Add(30 * time.Second), client: w.cA.ID, jti: "assert-1", exp: exp, want: mayfly.ErrConflict},
		{name: "reuse after a prune past exp", prune: exp.Add(time.Second), client: w.cA.ID, jti: "assert-1", exp: exp.Add(time.Hour)},
		{name: "other client's after a prune past exp", client: w.cB.ID, jti: "assert-1", exp: exp.Add(time.Hour)},
		{name: "later exp survives that prune", client: w.cA.ID, jti: "assert-2", exp: exp.Add(2 * time.Hour), want: mayfly.ErrConflict},
		{name: "reuse of the reused", client: w.cA.ID, jti: "assert-1", exp: exp.Add(time.Hour), want: mayfly.ErrConflict},
	}
	for _, st := range steps {
		if !st.prune.IsZero() {
			must(t, "PruneAssertions", s.PruneAssertions(ctx, st.prune))
		}
		err := s.UseAssertion(ctx, st.client, st.jti, st.exp)
		if st.want == nil {
			if err != nil {
				t.Errorf("%s: UseAssertion(%s, %s): got error %v, want nil", st.name, st.client, st.jti, err)
			}
			continue
		}
		wantErr(t, fmt.Sprintf("%s: UseAssertion(%s, %s)", st.name, st.client, st.jti), err, st.want)
	}
}

// testUseAssertions: a batch records every jti not used already, one used
// earlier in the same batch included, and shares the table with
// UseAssertion.
func testUseAssertions(t *testing.T, s TokenStore) {
	ctx := t.Context()
	w := seed(t, s)
	exp := t0.Add(time.Minute)
	must(t, "UseAssertion", s.UseAssertion(ctx, w.cA.ID, "single", exp))
	use := func(client, jti string, exp time.Time) mayfly.AssertionUse {
		return mayfly.AssertionUse{ClientID: client, JTI: jti, Exp: exp}
	}
	batches := []struct {
		name string
		uses []mayfly.AssertionUse
		want []bool
	}{
		{"fresh and used", []mayfly.AssertionUse{use(w.cA.ID, "b-1", exp), use(w.cA.ID, "single", exp), use(w.cB.ID, "single", exp), use("exchange:"+w.cA.ID, "single", exp)},
			[]bool{false, true, false, false}},
		{"twice in one batch", []mayfly.AssertionUse{use(w.cA.ID, "b-2", exp), use(w.cA.ID, "b-2", exp.Add(time.Hour)), use(w.cA.ID, "b-1", exp)},
			[]bool{false, true, true}},
		{"empty", nil, []bool{}},
	}
	useAll := func(uses []mayfly.AssertionUse) (used []bool, err error) {
		err = mayfly.Transact(ctx, s, func(tx mayfly.Tx) error {
			used, err = s.UseAssertions(tx, uses)
			return err
		})
		return used, err
	}
	for _, b := range batches {
		used, err := useAll(b.uses)
		if err != nil {
			t.Fatalf("%s: UseAssertions: %v", b.name, err)
		}
		if !slices.Equal(used, b.want) {
			t.Errorf("%s: UseAssertions: got used %v, want %v", b.name, used, b.want)
		}
	}
	// What a batch recorded, a single use finds used.
	wantErr(t, "UseAssertion of a batch's jti", s.UseAssertion(ctx, w.cA.ID, "b-2", exp), mayfly.ErrConflict)
	must(t, "PruneAssertions", s.PruneAssertions(ctx, exp.Add(time.Second)))
	if used, err := useAll([]mayfly.AssertionUse{use(w.cA.ID, "b-1", exp.Add(time.Hour))}); err != nil || len(used) != 1 || used[0] {
		t.Errorf("after a prune past exp: got used %v, error %v; want [false]", used, err)
	}
}

// testIssuancesInTransaction: records may name a client and principal
// made in the same transaction; what a transaction rolled back, wholly or
// to a savepoint, leaves no trace in the records of later ones, which name
// the rows made again under the same IDs.
func testIssuancesInTransaction(t *testing.T, s TokenStore) {
	ctx := t.Context()
	w := seed(t, s)
	p := &mayfly.Principal{ID: "prn-new", Name: "new", Kind: mayfly.Service, Status: mayfly.Active, OwnerID: w.alice.ID, CreatedAt: t0}
	c := newClient("cli-new", p.ID, w.ring.Name)
	made := func(tx mayfly.Tx) error {
		pp, cc := *p, *c
		return errors.Join(s.CreatePrincipal(tx, &pp), s.CreateClient(tx, &cc))
	}
	r1 := issuance(t, t0.Add(time.Second), w.kA.KID, c, "10.0.0.1")
	rolledBack := errors.New("rolled back")
	err := commit(t, s, func(tx mayfly.Tx) error {
		return errors.Join(made(tx), s.RecordIssuances(tx, []mayfly.Issuance{r1}), rolledBack)
	})
	if !errors.Is(err, rolledBack) {
		t.Fatalf("transaction making a client and its record: %v; want it rolled back", err)
	}
	if got, err := s.Issuances(ctx, mayfly.IssuanceFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("Issuances after a rollback: %v, %v; want none", jtis(got), err)
	}

	// Made again, in a transaction that also makes and rolls back another
	// client, then makes it again.
	other := newClient("cli-other", w.alice.ID, w.ring.Name)
	r2 := issuance(t, t0.Add(2*time.Second), w.kB.KID, c, "10.0.0.2")
	r3 := issuance(t, t0.Add(3*time.Second), w.kA.KID, other, "10.0.0.3")
	must(t, "transaction with a savepoint rolled back", commit(t, s, func(tx mayfly.Tx) error {
		if err := made(tx); err != nil {
			return err
		}
		b := tx.Backend()
		o := *other
		if err := errors.Join(b.Savepoint(), s.CreateClient(tx, &o), s.RecordIssuances(tx, []mayfly.Issuance{r3})); err != nil {
			return err
		}
		if err := b.RollbackToSavepoint(); err != nil {
			return err
		}
		o = *other
		return errors.Join(b.ReleaseSavepoint(), s.CreateClient(tx, &o), s.RecordIssuances(tx, []mayfly.Issuance{r2, r3}))
	}))
	got, err := s.Issuances(ctx, mayfly.IssuanceFilter{})
	must(t, "Issuances", err)
	diffList(t, "Issuances", toPtrs(got), toPtrs([]mayfly.Issuance{r3, r2}), diffIssuance)
	for _, f := range []mayfly.IssuanceFilter{{ClientID: c.ID}, {ClientID: other.ID}} {
		if got, err := s.Issuances(ctx, f); err != nil || len(got) != 1 {
			t.Errorf("Issuances(%s): %v, %v; want one record", fmtFilter(f), jtis(got), err)
		}
	}
}

// IssuanceWithoutDigest: a record made before issuance records kept a
// token's digest, with jti, key kid_a, client mfc_a and principal prn_a,
// reads back whole, with an empty digest, and is found by its jti but by
// no digest. The backend's test writes it with the schema of that time,
// then opens the store, which migrates it.
func IssuanceWithoutDigest(t *testing.T, s mayfly.TokenStore, jti string, iat time.Time) {
	t.Helper()
	ctx := t.Context()
	want := mayfly.Issuance{JTI: jti, KID: "kid_a", ClientID: "mfc_a", PrincipalID: "prn_a", SourceIP: "10.0.0.1",
		UserAgent: "agent/1", IssuedAt: iat, ExpiresAt: iat.Add(time.Hour)}
	got, err := s.Issuances(ctx, mayfly.IssuanceFilter{JTI: jti})
	must(t, "Issuances", err)
	if len(got) != 1 {
		t.Fatalf("Issuances(jti %s) after the migration: got %v, want the one old record", jti, jtis(got))
	}
	diffIssuance(&got[0], &want).report(t, "old record after the migration")
	if b, err := json.Marshal(got[0]); err != nil || !strings.Contains(string(b), `"digest":""`) {
		t.Errorf("old record as JSON: %s, %v; want an empty digest member", b, err)
	}
	got, err = s.Issuances(ctx, mayfly.IssuanceFilter{Digest: "AAAAAAAAAAAAAAAAAAAAAA"})
	must(t, "Issuances", err)
	if len(got) != 0 {
		t.Errorf("Issuances(a digest) after the migration: got %v, want none", jtis(got))
	}
}
