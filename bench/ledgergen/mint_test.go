package ledgergen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk/canon"
	"github.com/mayflyhq/mayfly/server/servertest"
)

// minted supplies real tokens, minted by a Mayfly on loopback whose clock
// it moves to each token's time: every service a principal and a client,
// and Person a human with a client of her own. It is the harness the
// ingest test feeds the workload through. It forges as well (Forger),
// with the signing key taken from the store as a thief would take it.
type minted struct {
	t       testing.TB
	env     *servertest.Env
	clients map[string][2]string // holder -> client ID, secret
	owners  map[string]string    // holder -> principal ID
}

func newMinted(t testing.TB, env *servertest.Env, services int, ttl string) *minted {
	m := &minted{t: t, env: env, clients: map[string][2]string{}, owners: map[string]string{}}
	ctx := context.Background()
	ops := env.Human("ops")
	add := func(holder, owner string) {
		c, secret := env.NewClient(api.ClientRequest{Name: holder, Owner: owner, TokenTTL: ttl})
		m.clients[holder], m.owners[holder] = [2]string{c.ID, secret}, owner
	}
	for i := range services {
		p, err := env.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: ServiceName(i), Kind: mayfly.Service, Owner: ops})
		if err != nil {
			t.Fatal(err)
		}
		add(ServiceName(i), p.ID)
	}
	add(Person, env.Human(Person))
	return m
}

func (m *minted) Token(holder string, at time.Time) (Token, error) {
	if d := at.Sub(m.env.Clock.Now()); d > 0 {
		m.env.Clock.Advance(d)
	}
	c := m.clients[holder]
	raw := m.env.IssueToken(c[0], c[1], nil)
	var claims struct {
		JTI      string `json:"jti"`
		Issuer   string `json:"iss"`
		Subject  string `json:"sub"`
		ClientID string `json:"client_id"`
		IAT      int64  `json:"iat"`
		EXP      int64  `json:"exp"`
	}
	var header struct {
		KID string `json:"kid"`
	}
	parts := strings.Split(raw, ".")
	for i, into := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return Token{}, err
		}
		if err := json.Unmarshal(b, into); err != nil {
			return Token{}, err
		}
	}
	digest, err := canon.Digest(raw)
	if err != nil {
		return Token{}, err
	}
	return Token{JTI: claims.JTI, KID: header.KID, Issuer: claims.Issuer, Subject: claims.Subject, ClientID: claims.ClientID,
		PrincipalID: m.owners[holder], IssuedAt: time.Unix(claims.IAT, 0).UTC(), Expires: time.Unix(claims.EXP, 0).UTC(),
		Digest: digest, Raw: raw}, nil
}

// Forge signs claims with the ring's active key, stolen from the store:
// the genuine token's claims, but for those the forger changed.
func (m *minted) Forge(claims Token) (Token, error) {
	parts := strings.Split(claims.Raw, ".")
	if len(parts) != 3 {
		return Token{}, errors.New("no genuine token to copy")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Token{}, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	c := map[string]any{}
	if err := d.Decode(&c); err != nil {
		return Token{}, err
	}
	c["jti"], c["iss"], c["sub"], c["client_id"] = claims.JTI, claims.Issuer, claims.Subject, claims.ClientID
	c["iat"], c["exp"] = claims.IssuedAt.Unix(), claims.Expires.Unix()
	stolen := m.env.Steal("default")
	raw := stolen.Sign(c)
	digest, err := canon.Digest(raw)
	if err != nil {
		return Token{}, err
	}
	claims.KID, claims.Raw, claims.Digest = stolen.KID, raw, digest
	return claims, nil
}

// act does an Action to Mayfly at its time.
func (m *minted) act(a *Action) {
	if d := a.Time.Sub(m.env.Clock.Now()); d > 0 {
		m.env.Clock.Advance(d)
	}
	if a.Kind != "offboard" {
		m.t.Fatalf("no action %q", a.Kind)
	}
	if _, err := m.env.Admin.Offboard(context.Background(), m.owners[a.Holder], api.OffboardRequest{Reason: "left the company"}); err != nil {
		m.t.Fatal(err)
	}
}

// TestMintedWorkload runs a short workload on tokens Mayfly minted: each
// report's token has its issuance record with the same digest, but the
// forged ones', which are signed and have none; the person's token is refused after the offboarding.
func TestMintedWorkload(t *testing.T) {
	env := servertest.New(t)
	m := newMinted(t, env, 20, "15m")
	cfg := Config{Seed: 7, Start: servertest.Epoch.Truncate(time.Hour).Add(time.Hour), Duration: 14 * time.Hour, Learning: 2 * time.Hour, PeakPerMinute: 0.02}
	var personToken string
	seen := map[string]string{} // jti -> digest, of benign reports
	forged := map[string]bool{} // digests of forgeries
	attacks, err := New(cfg, m).Run(func(ev Event) error {
		if ev.Action != nil {
			m.act(ev.Action)
			return nil
		}
		r := ev.Report
		if r.Token == "" {
			t.Fatalf("a report without its token: %+v", r)
		}
		d, err := canon.Digest(string(r.Token))
		if err != nil {
			return err
		}
		if ev.Attack == AttackForgedReuse || ev.Attack == AttackForgedNew {
			forged[d] = true
			return nil
		}
		if ev.Attack == AttackOffboarded && personToken == "" {
			personToken = string(r.Token)
			if env.Active(personToken, m.clients[ServiceName(0)][0], m.clients[ServiceName(0)][1]) {
				t.Errorf("%s's token is active after the offboarding", Person)
			}
		}
		seen[d] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if personToken == "" {
		t.Errorf("no report of %s's token", Person)
	}
	if len(attacks) != 6 {
		t.Errorf("%d attacks; want 6", len(attacks))
	}
	if len(forged) != 2 {
		t.Errorf("%d forged tokens reported; want 2", len(forged))
	}
	for d := range forged {
		if recs, err := env.Admin.Tokens(context.Background(), mayfly.IssuanceFilter{Digest: d}); err != nil || len(recs) != 0 {
			t.Errorf("issuance records of the forgery's digest %s: %v, %v; want none", d, recs, err)
		}
	}
	n := 0
	for d := range seen {
		recs, err := env.Admin.Tokens(context.Background(), mayfly.IssuanceFilter{Digest: d})
		if err != nil || len(recs) != 1 {
			t.Fatalf("issuance records of digest %s: %v, %v; want one", d, recs, err)
		}
		if n++; n == 50 {
			break
		}
	}
}
