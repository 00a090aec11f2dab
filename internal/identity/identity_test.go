package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/identity"
)

// TestCredentialDefaultRole: a credential asked for without a role
// administers; the store keeps what it is given, so the default is here.
func TestCredentialDefaultRole(t *testing.T) {
	env := apptest.New(t)
	a, _, err := env.App.Identity.NewCredential(env.Admin(), identity.CredentialSpec{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := env.App.Store().AdminCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if c.ID == a.ID && c.Role != mayfly.RoleAdmin {
			t.Errorf("stored role %q; want %q", c.Role, mayfly.RoleAdmin)
		}
	}
}

// TestRevokeClientMarksClient: revoking a client stores the revocation,
// marks the client revoked at its time and records the entry, together.
func TestRevokeClientMarksClient(t *testing.T) {
	env := apptest.New(t)
	ctx := env.Admin()
	c, _ := env.NewClient(identity.ClientSpec{Owner: env.Human("alice")})
	env.Clock.Advance(time.Minute)
	rev, err := env.App.Identity.RevokeClient(ctx, c.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	st := env.App.Store()
	stored, err := st.Client(ctx, c.ID)
	if err != nil || !stored.RevokedAt.Equal(rev.At) || !stored.RevokedAt.Equal(env.Clock.Now()) {
		t.Errorf("stored client: revoked at %v (%v); want %v, the revocation's time", stored.RevokedAt, err, rev.At)
	}
	revs, err := st.Revocations(ctx, 0, env.Clock.Now())
	if err != nil || len(revs) != 1 || revs[0].Kind != mayfly.RevokeClient || revs[0].Subject != c.ID {
		t.Errorf("revocations: %v, %v; want the client's", revs, err)
	}
	recs, err := st.AuditEntries(ctx, mayfly.AuditFilter{Action: mayfly.ActionClientRevoked, Client: c.ID})
	if err != nil || len(recs) != 1 {
		t.Errorf("audit: %v, %v; want one %s entry", recs, err, mayfly.ActionClientRevoked)
	}
	if _, err := env.App.Identity.RevokeClient(ctx, c.ID, "again"); mayfly.ErrorCode(err) != mayfly.Conflict {
		t.Errorf("revoking again: %v; want a conflict", err)
	}
}
