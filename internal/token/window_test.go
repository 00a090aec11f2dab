package token_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
	"github.com/mayflyhq/mayfly/internal/token"
)

// A change that stops a client (a new secret, its owner's suspension)
// comes with a not-before mark. These tests hold that no token this
// process hands out for a check made with the old state carries a time at
// or after that mark, however the change and the token's request
// interleave.

func windowEnv(t *testing.T) (*apptest.Env, *mayfly.Client, string) {
	t.Helper()
	env := apptest.New(t)
	c, secret := env.NewClient(identity.ClientSpec{Owner: env.Human("alice")})
	return env, c, secret
}

// rejected fails the test unless tok is refused now that the change
// committed.
func rejected(t *testing.T, env *apptest.Env, tok *token.Token) {
	t.Helper()
	if _, err := env.App.Token.Verify(tok.AccessToken); err == nil {
		t.Error("a token checked before the change verifies after it")
	}
}

// TestCheckedBeforeSecretRotation: a request authenticated with the old
// secret just before the rotation gets its token after it; the token is
// before the mark.
func TestCheckedBeforeSecretRotation(t *testing.T) {
	env, c, secret := windowEnv(t)
	ctx := context.Background()
	a, err := env.App.Token.Authenticate(ctx, token.Credentials{ClientID: c.ID, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Millisecond)
	if _, _, err := env.App.Identity.RotateClientSecret(env.Admin(), c.ID, "test", false); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(5 * time.Millisecond)
	tok, err := env.App.Token.Issue(ctx, a, token.Request{})
	if err != nil {
		t.Fatal(err)
	}
	rejected(t, env, tok)
}

// TestCheckedBeforeSuspension: the same for a client whose owner is
// suspended between the check and the token.
func TestCheckedBeforeSuspension(t *testing.T) {
	env, c, _ := windowEnv(t)
	ctx := context.Background()
	a, err := env.App.Token.Admit(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Millisecond)
	if _, err := env.App.Identity.SetStatus(env.Admin(), c.OwnerID, mayfly.Suspended, "test"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(5 * time.Millisecond)
	tok, err := env.App.Token.Issue(ctx, a, token.Request{})
	if err != nil {
		t.Fatal(err)
	}
	rejected(t, env, tok)
	// Reactivation lets new tokens work, never that one.
	if _, err := env.App.Identity.SetStatus(env.Admin(), c.OwnerID, mayfly.Active, "back"); err != nil {
		t.Fatal(err)
	}
	rejected(t, env, tok)
}

// hold keeps the audit log's committer busy until the returned function
// is called, so that changes queue behind it.
func hold(t *testing.T, env *apptest.Env) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	go env.App.Audit.Update(context.Background(), func(mayfly.Tx) error {
		close(started)
		<-done
		return nil
	})
	<-started
	return func() { close(done) }
}

// eventually waits until cond holds, polling: for a change queued on
// another goroutine to take effect in memory.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s: never", what)
}

// TestStagedSurvivesForget: while a rotation waits to commit, the old
// secret no longer works here, and an identity change heard from the
// store meanwhile does not bring it back.
func TestStagedSurvivesForget(t *testing.T) {
	env, c, secret := windowEnv(t)
	ctx := context.Background()
	oldWorks := func() bool {
		_, err := env.App.Token.Authenticate(ctx, token.Credentials{ClientID: c.ID, Secret: secret})
		return err == nil
	}
	admin := env.Admin()
	release := hold(t, env)
	done := make(chan error, 1)
	go func() {
		_, _, err := env.App.Identity.RotateClientSecret(admin, c.ID, "test", false)
		done <- err
	}()
	eventually(t, "the old secret stops working once the rotation is under way", func() bool { return !oldWorks() })
	env.App.Identity.Forget(ctx) // as on a change notice from another replica
	if oldWorks() {
		t.Error("the old secret works again after Forget, before the rotation committed")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if oldWorks() {
		t.Error("the old secret works after the rotation")
	}
}

// TestCallerGoneStillWaits: a caller whose context ends while its change
// waits to commit is told the outcome, not that the change failed; the
// change commits and its effect stands.
func TestCallerGoneStillWaits(t *testing.T) {
	env, c, secret := windowEnv(t)
	ctx, cancel := context.WithCancel(env.Admin())
	release := hold(t, env)
	done := make(chan error, 1)
	go func() { _, _, err := env.App.Identity.RotateClientSecret(ctx, c.ID, "test", false); done <- err }()
	eventually(t, "the rotation is under way", func() bool {
		_, err := env.App.Token.Authenticate(context.Background(), token.Credentials{ClientID: c.ID, Secret: secret})
		return err != nil
	})
	cancel()
	release()
	if err := <-done; err != nil {
		t.Errorf("rotation whose caller went away: %v; want its outcome, success", err)
	}
	_, err := env.App.Token.Authenticate(context.Background(), token.Credentials{ClientID: c.ID, Secret: secret})
	if !errors.Is(err, mayfly.ErrUnauthenticated) {
		t.Errorf("the old secret after the rotation: %v; want unauthenticated", err)
	}
}

// TestRekeyUnderLoad: a ring rekeyed while its clients get tokens never
// leaves a request without a key: the new key signs in the step that
// withdraws the old ones.
func TestRekeyUnderLoad(t *testing.T) {
	env, c, _ := windowEnv(t)
	ctx := context.Background()
	a, err := env.App.Token.Admit(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 64)
	var issued atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := env.App.Token.Issue(ctx, a, token.Request{}); err != nil {
					errs <- err
					return
				}
				issued.Add(1)
			}
		})
	}
	for range 10 {
		env.Clock.Advance(time.Second)
		if _, err := env.App.Keys.Rekey(ctx, c.Ring, env.Clock.Now(), "test", nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a token request during rekeying: %v", err)
	}
	if issued.Load() == 0 {
		t.Error("no token was issued during the rekeying: the test proves nothing")
	}
}
