package doctor_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/doctor"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/offboard"
)

const day = 24 * time.Hour

// run gets the report, and checks that its total agrees with its findings.
func run(t *testing.T, env *apptest.Env, maxAge time.Duration, idleDays int) *mayfly.DoctorReport {
	t.Helper()
	rep, err := env.App.Doctor.Report(context.Background(), doctor.Options{MaxSecretAge: maxAge, IdleDays: idleDays})
	if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	if rep.Total != len(rep.Findings) {
		t.Errorf("total %d, but %d findings", rep.Total, len(rep.Findings))
	}
	return rep
}

// expect checks the report's findings, in order, as "kind subject" lines.
func expect(t *testing.T, rep *mayfly.DoctorReport, want ...string) {
	t.Helper()
	var got []string
	for _, f := range rep.Findings {
		got = append(got, string(f.Kind)+" "+f.Subject)
	}
	if !slices.Equal(got, want) {
		var msgs []string
		for _, f := range rep.Findings {
			msgs = append(msgs, f.Message)
		}
		t.Errorf("findings:\n  %s\nwant:\n  %s\nmessages:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), strings.Join(msgs, "\n  "))
	}
}

// finding returns the report's finding about subject.
func finding(t *testing.T, rep *mayfly.DoctorReport, subject string) mayfly.Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Subject == subject {
			return f
		}
	}
	t.Fatalf("no finding about %s", subject)
	return mayfly.Finding{}
}

func maintain(t *testing.T, env *apptest.Env) {
	t.Helper()
	if err := env.App.Maintain(context.Background()); err != nil {
		t.Fatalf("maintain: %v", err)
	}
}

func setStatus(t *testing.T, env *apptest.Env, who string, s mayfly.PrincipalStatus) {
	t.Helper()
	if _, err := env.App.Identity.SetStatus(context.Background(), who, s, "test"); err != nil {
		t.Fatalf("set %s %s: %v", who, s, err)
	}
}

func grant(t *testing.T, env *apptest.Env, who string, asset mayfly.Asset, id string) {
	t.Helper()
	if _, err := env.App.Identity.GrantCustody(context.Background(), who, asset, id, mayfly.CustodyAdmin, "test"); err != nil {
		t.Fatalf("grant %s custody of %s %s: %v", who, asset, id, err)
	}
}

func offboardPerson(t *testing.T, env *apptest.Env, who string) {
	t.Helper()
	if _, err := env.App.Offboard.Offboard(env.Admin(), who, offboard.Options{Reason: "left"}); err != nil {
		t.Fatalf("offboard %s: %v", who, err)
	}
}

// publishedKIDs lists the default ring's published keys, oldest first.
func publishedKIDs(env *apptest.Env) []string {
	var kids []string
	for _, k := range env.App.Keys.Keys("default") {
		if k.Published(env.Clock.Now()) {
			kids = append(kids, k.KID)
		}
	}
	return kids
}

// TestClean: a fresh install, and one whose schedule kept running for
// days, have nothing to report.
func TestClean(t *testing.T) {
	env := apptest.New(t)
	rep := run(t, env, 0, 0)
	expect(t, rep)
	if rep.MaxSecretAge != (90*day).String() || rep.IdleDays != 30 || !rep.At.Equal(env.Clock.Now()) {
		t.Errorf("report options: max_secret_age %s, idle_days %d, at %s; want the defaults at %s", rep.MaxSecretAge, rep.IdleDays, rep.At, env.Clock.Now())
	}
	for range 10 {
		env.Clock.Advance(day)
		maintain(t, env)
	}
	expect(t, run(t, env, 0, 0))
}

// TestOwnerNotActive: a suspended person's client, credential and service,
// and their service's client, are reported until revoked or reactivated;
// offboarding leaves nothing to report.
func TestOwnerNotActive(t *testing.T) {
	env := apptest.New(t)
	alice := env.Human("alice")
	if _, err := env.App.Identity.CreatePrincipal(env.Admin(), "billing", mayfly.Service, "alice"); err != nil {
		t.Fatal(err)
	}
	viaService, _ := env.NewClient(identity.ClientSpec{Name: "billing-api", Owner: "billing"})
	direct, _ := env.NewClient(identity.ClientSpec{Name: "alice-tool", Owner: "alice"})
	cred, _, err := env.App.Identity.NewCredential(env.Admin(), identity.CredentialSpec{Name: "alice laptop", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, run(t, env, 0, 0))

	setStatus(t, env, "alice", mayfly.Suspended)
	all := []string{
		"owner-not-active client " + direct.ID,
		"owner-not-active client " + viaService.ID,
		"owner-not-active credential " + cred.ID,
		"owner-not-active service billing",
	}
	slices.Sort(all)
	rep := run(t, env, 0, 0)
	expect(t, rep, all...)
	if f := finding(t, rep, "client "+viaService.ID); !slices.Equal(f.IDs[1:], []string{viaService.OwnerID, alice}) || !strings.Contains(f.Message, "alice, who is suspended") {
		t.Errorf("client of the service: ids %v, message %q; want its owner and alice, named as suspended", f.IDs, f.Message)
	}

	if _, err := env.App.Identity.RevokeClient(env.Admin(), direct.ID, "owner suspended"); err != nil {
		t.Fatal(err)
	}
	expect(t, run(t, env, 0, 0), slices.DeleteFunc(all, func(s string) bool { return strings.HasSuffix(s, direct.ID) })...)

	setStatus(t, env, "alice", mayfly.Active)
	expect(t, run(t, env, 0, 0))

	offboardPerson(t, env, "alice")
	expect(t, run(t, env, 0, 0))
}

// TestKeyOverdue: a schedule that stopped, a window longer than the
// lifetime, and a key kept published are each reported until fixed.
func TestKeyOverdue(t *testing.T) {
	ctx := context.Background()

	t.Run("schedule stopped", func(t *testing.T) {
		env := apptest.New(t)
		kids := publishedKIDs(env)
		env.Clock.Advance(3 * day) // both keys' windows end; nothing destroys them
		want := []string{"key-overdue key " + kids[0], "key-overdue key " + kids[1]}
		slices.Sort(want)
		expect(t, run(t, env, 0, 0), want...)
		maintain(t, env)
		expect(t, run(t, env, 0, 0))
	})

	t.Run("window longer than lifetime", func(t *testing.T) {
		env := apptest.New(t)
		// As a replica started with a raised ceiling would have made it.
		k := *env.App.Keys.Keys("default")[0]
		k.DeactivateAt = k.ActivateAt.Add(90 * day)
		k.RetireAt = k.DeactivateAt.Add(mayfly.MaxTokenTTL)
		save(t, env, &k)
		env.Clock.Advance(time.Hour)
		rep := run(t, env, 0, 0)
		expect(t, rep, "key-overdue key "+k.KID)
		if f := finding(t, rep, "key "+k.KID); !strings.Contains(f.Message, "longer than the ring's key lifetime of 24h0m0s") {
			t.Errorf("message %q; want it to name the lifetime", f.Message)
		}
		if err := env.App.Keys.Rotate(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		expect(t, run(t, env, 0, 0))
	})

	t.Run("published too long", func(t *testing.T) {
		env := apptest.New(t)
		k := *env.App.Keys.Keys("default")[0]
		k.RetireAt = k.ActivateAt.Add(90 * day)
		save(t, env, &k)
		env.Clock.Advance(50 * time.Hour) // past 2 lifetimes + MaxTokenTTL
		maintain(t, env)
		rep := run(t, env, 0, 0)
		expect(t, rep, "key-overdue key "+k.KID)
		if f := finding(t, rep, "key "+k.KID); !strings.Contains(f.Message, "stopped rotating") {
			t.Errorf("message %q; want it to say the ring stopped rotating", f.Message)
		}
		if _, err := env.App.Keys.Revoke(ctx, k.KID, "overdue"); err != nil {
			t.Fatal(err)
		}
		expect(t, run(t, env, 0, 0))
	})
}

// save stores a changed key and has the key service read it back.
func save(t *testing.T, env *apptest.Env, k *mayfly.Key) {
	t.Helper()
	ctx := context.Background()
	err := env.App.Audit.Update(ctx, func(tx mayfly.Tx) error { return env.App.Store().SaveKeys(tx, []*mayfly.Key{k}) })
	if err != nil {
		t.Fatal(err)
	}
	if err := env.App.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCustodianNotActive: keys and the root key a person who left could
// have copied are reported until they are replaced.
func TestCustodianNotActive(t *testing.T) {
	ctx := context.Background()

	t.Run("suspended ring custodian", func(t *testing.T) {
		env := apptest.New(t)
		bob := env.Human("bob")
		grant(t, env, "bob", mayfly.AssetRing, "default")
		kids := publishedKIDs(env)
		env.Clock.Advance(time.Minute)
		setStatus(t, env, "bob", mayfly.Suspended)
		rep := run(t, env, 0, 0)
		expect(t, rep, "custodian-not-active ring default")
		if f := finding(t, rep, "ring default"); !slices.Equal(f.IDs, append([]string{"default", bob}, kids...)) {
			t.Errorf("ids %v; want the ring, bob and the keys %v", f.IDs, kids)
		}
		setStatus(t, env, "bob", mayfly.Active)
		expect(t, run(t, env, 0, 0))

		// Suspended again: judged from the latest suspension. Rotation
		// that outlives every key made before it clears the finding.
		env.Clock.Advance(time.Minute)
		setStatus(t, env, "bob", mayfly.Suspended)
		expect(t, run(t, env, 0, 0), "custodian-not-active ring default")
		for range 3 {
			env.Clock.Advance(day)
			maintain(t, env)
		}
		expect(t, run(t, env, 0, 0))
	})

	t.Run("offboarded", func(t *testing.T) {
		env := apptest.New(t)
		env.Human("dave")
		grant(t, env, "dave", mayfly.AssetRing, "default")
		env.Clock.Advance(time.Minute)
		offboardPerson(t, env, "dave") // rekeys the ring
		expect(t, run(t, env, 0, 0))

		// Custody recorded after the person left: the ring was not rekeyed.
		env.Human("carol")
		env.Clock.Advance(time.Minute)
		offboardPerson(t, env, "carol")
		env.Clock.Advance(time.Minute)
		grant(t, env, "carol", mayfly.AssetRing, "default")
		expect(t, run(t, env, 0, 0), "custodian-not-active ring default")
		if _, err := env.App.Keys.Rekey(ctx, "default", env.Clock.Now(), "carol had custody", nil); err != nil {
			t.Fatal(err)
		}
		expect(t, run(t, env, 0, 0))
	})

	t.Run("root key", func(t *testing.T) {
		env := apptest.New(t)
		env.Human("erin")
		grant(t, env, "erin", mayfly.AssetRootKey, mayfly.RootKeyAsset)
		env.Clock.Advance(time.Minute)
		setStatus(t, env, "erin", mayfly.Suspended)
		expect(t, run(t, env, 0, 0), "custodian-not-active root key")
		offboardPerson(t, env, "erin") // rotates the root key
		expect(t, run(t, env, 0, 0))

		// Without a record of the last rotation, it is presumed older.
		err := env.App.Audit.Update(ctx, func(tx mayfly.Tx) error { return env.App.Store().DeleteSetting(tx, "root.rotated_at") })
		if err != nil {
			t.Fatal(err)
		}
		rep := run(t, env, 0, 0)
		expect(t, rep, "custodian-not-active root key")
		if f := finding(t, rep, "root key"); !strings.Contains(f.Message, "not recorded") {
			t.Errorf("message %q; want it to say the rotation is not recorded", f.Message)
		}
	})
}

// TestSecretOld: secrets past the allowed age are reported until rotated;
// revoked clients are not.
func TestSecretOld(t *testing.T) {
	env := apptest.New(t)
	env.Human("alice")
	c, _ := env.NewClient(identity.ClientSpec{Name: "orders", Owner: "alice"})
	gone, _ := env.NewClient(identity.ClientSpec{Name: "retired", Owner: "alice"})
	if _, err := env.App.Identity.RevokeClient(env.Admin(), gone.ID, "unused"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(31 * day)
	maintain(t, env)
	expect(t, run(t, env, 0, 365))
	expect(t, run(t, env, 30*day, 365), "secret-old client "+c.ID)

	env.Clock.Advance(60 * day)
	maintain(t, env)
	// By now the operator, who holds the root key, has done nothing for
	// 91 days either; findings come by kind, in the report's order.
	expect(t, run(t, env, 0, 0), "secret-old client "+c.ID, "custodian-idle principal operator")
	expect(t, run(t, env, 100*day, 0), "custodian-idle principal operator")

	if _, _, err := env.App.Identity.RotateClientSecret(env.Admin(), c.ID, "old", true); err != nil { // the operator acts
		t.Fatal(err)
	}
	expect(t, run(t, env, 0, 0))
}

// TestCustodianIdle: a custodian is seen when a client of theirs gets a
// token or a credential of theirs is used; unseen for the window, they
// are reported.
func TestCustodianIdle(t *testing.T) {
	env := apptest.New(t)
	env.Human("frank")
	grant(t, env, "frank", mayfly.AssetRing, "default")
	fc, _ := env.NewClient(identity.ClientSpec{Name: "frank-tool", Owner: "frank"})
	cred, _, err := env.App.Identity.NewCredential(env.Admin(), identity.CredentialSpec{Name: "frank laptop", Owner: "frank"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, run(t, env, 0, 0))

	env.Clock.Advance(31 * day)
	maintain(t, env)
	rep := run(t, env, 0, 0)
	expect(t, rep, "custodian-idle principal frank", "custodian-idle principal operator")
	if f := finding(t, rep, "principal frank"); !strings.Contains(f.Message, "ring default") {
		t.Errorf("message %q; want it to name what frank holds", f.Message)
	}

	env.Issue(fc)
	expect(t, run(t, env, 0, 0), "custodian-idle principal operator")
	env.Human("someone") // an admin action by the operator's credential
	expect(t, run(t, env, 0, 0))

	env.Clock.Advance(31 * day)
	maintain(t, env)
	expect(t, run(t, env, 0, 0), "custodian-idle principal frank", "custodian-idle principal operator")
	expect(t, run(t, env, 0, 90))
	env.As(cred) // frank's credential is used
	expect(t, run(t, env, 0, 0), "custodian-idle principal operator")
}
