package refresh_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/refresh"
)

const subject = "customer:48213377"

// newService is a refresh service on a real store and audit log, with
// the not-before marks marks gives.
func newService(t testing.TB, marks map[string]time.Time) (*refresh.Service, *apptest.Env) {
	t.Helper()
	env := apptest.New(t)
	a := env.App
	s := refresh.New(refresh.Config{Store: a.Store(), Revoker: a.Revoker, Audit: a.Audit, Clock: env.Clock, Rand: rand.Reader,
		NotBefore: func(sub string) time.Time { return marks[sub] }})
	return s, env
}

var app = &mayfly.Client{ID: "cli-app", Refresh: true}

func wantGrant(t *testing.T, what string, err error) {
	t.Helper()
	var me *mayfly.Error
	if !errors.As(err, &me) || me.Code != mayfly.Invalid || me.Field != "refresh_token" {
		t.Errorf("%s: got %v, want an invalid_grant refusal", what, err)
	}
}

// A family begun before its subject's not-before mark is refused; one
// begun after it is not.
func TestNotBefore(t *testing.T) {
	marks := map[string]time.Time{}
	s, env := newService(t, marks)
	ctx := context.Background()
	_, before, err := s.Begin(ctx, app, subject, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Second)
	marks[subject] = env.Clock.Now()
	env.Clock.Advance(time.Second)
	_, after, err := s.Begin(ctx, app, subject, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Rotate(ctx, app, before, "", "192.0.2.1", nil)
	wantGrant(t, "a family begun before the mark", err)
	if _, _, err := s.Rotate(ctx, app, after, "", "192.0.2.1", nil); err != nil {
		t.Errorf("a family begun after the mark: %v", err)
	}
}

// A family bound to a DPoP key refreshes only with a proof by that key;
// a request without one, or with another key's, is refused and is not
// reuse.
func TestDPoPBinding(t *testing.T) {
	s, _ := newService(t, nil)
	ctx := context.Background()
	fam, tok, err := s.Begin(ctx, app, subject, "jkt-phone", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, jkt := range []string{"", "jkt-thief"} {
		_, _, err := s.Rotate(ctx, app, tok, jkt, "203.0.113.9", nil)
		wantGrant(t, "proof by "+jkt, err)
	}
	got, next, err := s.Rotate(ctx, app, tok, "jkt-phone", "192.0.2.1", nil)
	if err != nil || got.ID != fam.ID || got.JKT != "jkt-phone" || next == "" {
		t.Fatalf("rotation with the bound key: %+v, %v", got, err)
	}
}

// Whatever a client presents as a refresh token, Rotate refuses it
// cleanly and never panics.
func FuzzRotate(f *testing.F) {
	for _, s := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "\x00\xff", "%2F..%2F"} {
		f.Add(s)
	}
	s, _ := newService(f, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		fam, tok, err := s.Rotate(context.Background(), app, raw, "", "192.0.2.1", nil)
		if err == nil || fam != nil || tok != "" {
			t.Fatalf("Rotate(%q): %v, %q, %v; want a refusal", raw, fam, tok, err)
		}
	})
}

// A client without refresh tokens begins no family; a family whose
// condition fails in its commit is not written, and its token is unknown.
func TestStart(t *testing.T) {
	s, env := newService(t, nil)
	ctx := context.Background()
	if f, tok, item, err := s.Start(&mayfly.Client{ID: "cli-plain"}, subject, "", "192.0.2.1", nil); f != nil || tok != "" || item.Batch != nil || err != nil {
		t.Errorf("a client without refresh tokens: Start = %v, %q, %v, %v; want nothing", f, tok, item, err)
	}
	for _, spent := range []bool{false, true} {
		f, tok, item, err := s.Start(app, subject, "", "192.0.2.1", func() bool { return spent })
		if err != nil {
			t.Fatal(err)
		}
		if err := env.App.Audit.UpdateBatch(ctx, item); err != nil {
			t.Fatal(err)
		}
		_, err = env.App.Store().RefreshFamily(ctx, f.ID)
		_, _, rerr := s.Rotate(ctx, app, tok, "", "192.0.2.1", nil)
		switch {
		case spent && (err != nil || rerr != nil):
			t.Errorf("a family whose condition held: read %v, rotate %v", err, rerr)
		case !spent && !errors.Is(err, mayfly.ErrNotFound):
			t.Errorf("a family whose condition failed: read %v, want not found", err)
		case !spent:
			wantGrant(t, "the token of a family not begun", rerr)
		}
	}
}
