package offboard_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/offboard"
)

// leaver is a person with something of every kind offboarding acts on.
type leaver struct {
	env                 *apptest.Env
	id                  string
	own, ofService, saw *mayfly.Client // their client, their service's, another's they were shown
	cred                *mayfly.AdminCredential
	credSecret          string
	token               string // a token of their client
}

func newLeaver(t *testing.T, opts ...apptest.Option) *leaver {
	t.Helper()
	env := apptest.New(t, opts...)
	ctx := env.Admin()
	l := &leaver{env: env, id: env.Human("dev")}
	alice := env.Human("alice")
	if _, err := env.App.Identity.CreatePrincipal(ctx, "dev-svc", mayfly.Service, "dev"); err != nil {
		t.Fatal(err)
	}
	l.own, _ = env.NewClient(identity.ClientSpec{Name: "dev-tool", Owner: "dev"})
	l.ofService, _ = env.NewClient(identity.ClientSpec{Name: "svc", Owner: "dev-svc"})
	var err error
	if l.cred, l.credSecret, err = env.App.Identity.NewCredential(ctx, identity.CredentialSpec{Name: "dev laptop", Owner: "dev"}); err != nil {
		t.Fatal(err)
	}
	// dev is shown alice's client's secret, and administers the ring.
	l.saw, _, err = env.App.Identity.CreateClient(env.As(l.cred), identity.ClientSpec{Name: "orders", Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.Identity.GrantCustody(ctx, "dev", mayfly.AssetRing, "default", mayfly.CustodyAdmin, "runs auth"); err != nil {
		t.Fatal(err)
	}
	l.token = env.Issue(l.own).AccessToken
	env.Clock.Advance(time.Second)
	return l
}

// coverage fails the test if the store holds a change without its audit
// entry, or an entry twice.
func coverage(t *testing.T, env *apptest.Env) {
	t.Helper()
	apptest.CheckAuditCoverage(t, env.App.Store())
}

// TestReport: each report line cites the audit entry of its own action,
// written by this run, and everything the run changed has its entry.
func TestReport(t *testing.T) {
	l := newLeaver(t)
	ctx := l.env.Admin()
	o, err := l.env.App.Offboard.Offboard(ctx, "dev", offboard.Options{Reason: "left"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Finished() || len(o.Done) != 5 {
		t.Fatalf("run: done %v, finished %v; want all five steps, finished", o.Done, o.Finished())
	}
	want := map[mayfly.Action][]string{
		mayfly.ActionPrincipalOffboarded: {l.id},
		mayfly.ActionClientRevoked:       {l.own.ID, l.ofService.ID},
		mayfly.ActionCredentialRevoked:   {l.cred.ID},
		mayfly.ActionRingRekeyed:         {"default"},
		mayfly.ActionClientSecretRotated: {l.saw.ID},
	}
	got := map[mayfly.Action][]string{}
	for _, a := range o.Actions {
		got[a.Action] = append(got[a.Action], a.Subject)
		recs, err := l.env.App.Audit.Search(ctx, mayfly.AuditFilter{From: a.Audit, To: a.Audit + 1})
		if err != nil || len(recs) != 1 {
			t.Fatalf("entry %d of %s: %v, %v", a.Audit, a.Action, recs, err)
		}
		if e := recs[0].Entry; e.Action != a.Action || e.Details["offboarding"] != o.ID {
			t.Errorf("line %s on %s cites entry %d: %s of offboarding %q", a.Action, a.Subject, a.Audit, e.Action, e.Details["offboarding"])
		}
	}
	for action, subjects := range want {
		if !slices.Contains(got[action], subjects[0]) || len(got[action]) < len(subjects) {
			t.Errorf("report has %s on %v; want %v", action, got[action], subjects)
		}
	}
	if a := o.Actions[len(o.Actions)-1]; a.Action != mayfly.ActionOffboardingFinished {
		t.Errorf("last line %s; want %s", a.Action, mayfly.ActionOffboardingFinished)
	}
	coverage(t, l.env)

	// Again, later: nothing is left to do, and the report says only that.
	l.env.Clock.Advance(time.Minute)
	again, err := l.env.App.Offboard.Offboard(ctx, "dev", offboard.Options{Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Actions) != 1 || again.ID == o.ID {
		t.Errorf("second run: %+v; want a new run whose only line is %s", again.Actions, mayfly.ActionOffboardingFinished)
	}
	coverage(t, l.env)
}

// TestNothingWorksAfter: what the person had stops working, at once, in
// this process: the client, the service's client, the credential, the
// token, and the secret they were shown.
func TestNothingWorksAfter(t *testing.T) {
	l := newLeaver(t)
	ctx := l.env.Admin()
	if l.env.App.Token.Introspect(ctx, l.token) == nil {
		t.Fatal("control: dev's token is not active before the offboarding")
	}
	if _, err := l.env.App.Identity.AuthenticateAdmin(ctx, l.credSecret); err != nil {
		t.Fatalf("control: dev's admin credential before the offboarding: %v", err)
	}
	sawSecretBefore, _ := l.env.App.Identity.Client(ctx, l.saw.ID)
	if _, err := l.env.App.Offboard.Offboard(ctx, "dev", offboard.Options{}); err != nil {
		t.Fatal(err)
	}
	if l.env.App.Token.Introspect(ctx, l.token) != nil {
		t.Error("dev's token is active after the offboarding")
	}
	for _, c := range []*mayfly.Client{l.own, l.ofService} {
		fresh, err := l.env.App.Identity.Client(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.env.App.Token.Admit(ctx, fresh); err == nil {
			t.Errorf("client %s is admitted after its owner was offboarded", c.Name)
		}
	}
	saw, err := l.env.App.Identity.Client(ctx, l.saw.ID)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(saw.SecretHash, sawSecretBefore.SecretHash) || l.env.App.Revoker.NotBefore(saw.ID).IsZero() {
		t.Error("the secret dev was shown was not replaced, or its tokens not cut off")
	}
	if _, err := l.env.App.Identity.AuthenticateAdmin(ctx, l.credSecret); !errors.Is(err, mayfly.ErrUnauthenticated) {
		t.Errorf("dev's admin credential after the offboarding: %v; want unauthenticated", err)
	}
}

// TestResumeAfterStep stops a run after its second step, as a crash
// there would, and restarts: the stored run holds the two steps done with
// their report lines, and the restart finishes it once.
func TestResumeAfterStep(t *testing.T) {
	crash := errors.New("crash between steps")
	l := newLeaver(t, func(c *app.Config) {
		c.AfterOffboardStep = func(step string) error {
			if step == offboard.StepCredentials {
				return crash
			}
			return nil
		}
	})
	ctx := l.env.Admin()
	if _, err := l.env.App.Offboard.Offboard(ctx, "dev", offboard.Options{Reason: "left"}); !errors.Is(err, crash) {
		t.Fatalf("run: %v; want it stopped by the injected crash", err)
	}
	runs, err := l.env.App.Offboard.Runs(ctx, l.id)
	if err != nil || len(runs) != 1 || runs[0].Finished() || !slices.Equal(runs[0].Done, []string{offboard.StepStatus, offboard.StepCredentials}) {
		t.Fatalf("after the crash: %+v, %v; want one unfinished run, status and credentials done", runs, err)
	}
	if !slices.ContainsFunc(runs[0].Actions, func(a mayfly.OffboardAction) bool { return a.Action == mayfly.ActionClientRevoked }) {
		t.Errorf("the stored run lacks the lines of its done steps: %+v", runs[0].Actions)
	}
	coverage(t, l.env)

	env := l.env.Restart() // without the crash
	runs, err = env.App.Offboard.Runs(env.Admin(), l.id)
	if err != nil || len(runs) != 1 || !runs[0].Finished() || len(runs[0].Done) != 5 {
		t.Fatalf("after restart: %+v, %v; want the one run finished", runs, err)
	}
	coverage(t, env)
}

// TestTransfer: clients and services change hands; the secrets the person
// knew are replaced, with not-before marks, so their tokens stop.
func TestTransfer(t *testing.T) {
	l := newLeaver(t)
	ctx := l.env.Admin()
	if _, err := l.env.App.Offboard.Offboard(ctx, "dev", offboard.Options{TransferTo: "alice"}); err != nil {
		t.Fatal(err)
	}
	c, err := l.env.App.Identity.Client(ctx, l.own.ID)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := l.env.App.Identity.Principal(ctx, "alice")
	if c.OwnerID != alice.ID || c.Revoked() || !c.SecretRotatedAt.After(l.own.SecretRotatedAt) {
		t.Errorf("dev's client after the transfer: owner %s, revoked %v, secret from %s; want alice's, live, a new secret", c.OwnerID, c.Revoked(), c.SecretRotatedAt)
	}
	if l.env.App.Token.Introspect(ctx, l.token) != nil {
		t.Error("a token got with the secret dev knew is active after the transfer")
	}
	svc, _ := l.env.App.Identity.Principal(ctx, "dev-svc")
	if svc.OwnerID != alice.ID || svc.Status != mayfly.Active {
		t.Errorf("dev's service after the transfer: owner %s, %s; want alice's and active", svc.OwnerID, svc.Status)
	}
	coverage(t, l.env)
}

// TestRootKeyReplacedElsewhere: a run stopped before its root key step,
// and meanwhile the root key was replaced after its cutoff (here by
// another custodian's offboarding; as well by a rotation a crash left for
// the next start to finish). The resumed run does not replace it again,
// and its report cites the entry of the rotation that did.
func TestRootKeyReplacedElsewhere(t *testing.T) {
	crashed := false
	env := apptest.New(t, func(c *app.Config) {
		c.AfterOffboardStep = func(step string) error {
			if step == offboard.StepSecrets && !crashed {
				crashed = true
				return errors.New("crash before the root key step")
			}
			return nil
		}
	})
	ctx := env.Admin()
	for _, who := range []string{"xavier", "yann"} {
		env.Human(who)
		if _, err := env.App.Identity.GrantCustody(ctx, who, mayfly.AssetRootKey, mayfly.RootKeyAsset, mayfly.CustodyBreakGlass, "drill"); err != nil {
			t.Fatal(err)
		}
	}
	env.Clock.Advance(time.Hour)
	if _, err := env.App.Offboard.Offboard(ctx, "xavier", offboard.Options{}); err == nil {
		t.Fatal("the first run did not stop at the injected crash")
	}
	env.Clock.Advance(time.Minute)
	if _, err := env.App.Offboard.Offboard(ctx, "yann", offboard.Options{}); err != nil { // replaces the root key
		t.Fatal(err)
	}
	o, err := env.App.Offboard.Offboard(ctx, "xavier", offboard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rotated []uint64
	for _, a := range o.Actions {
		if a.Action == mayfly.ActionRootKeyRotated {
			rotated = append(rotated, a.Audit)
		}
	}
	all, err := env.App.Audit.Search(ctx, mayfly.AuditFilter{Action: mayfly.ActionRootKeyRotated})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || len(rotated) != 1 || rotated[0] != all[0].Index {
		t.Errorf("root key rotations %v; xavier's report cites %v; want the one rotation, cited", all, rotated)
	}
	coverage(t, env)
}
