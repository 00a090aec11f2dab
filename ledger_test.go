package mayfly_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

func TestLedgerTokenRolledUp(t *testing.T) {
	a := mayfly.LedgerToken{JTI: "j1", Digest: "d1", KID: "k", ClientID: "ab", PrincipalID: "c", Subject: "s"}
	same := mayfly.LedgerToken{JTI: "j2", Digest: "d2", KID: "k", ClientID: "ab", PrincipalID: "c", Subject: "s"}
	shifted := mayfly.LedgerToken{JTI: "j1", Digest: "d1", KID: "k", ClientID: "a", PrincipalID: "bc", Subject: "s"}
	r := a.RolledUp()
	switch {
	case !r.IsRollUp() || a.IsRollUp():
		t.Errorf("IsRollUp: %v for the roll-up, %v for the token", r.IsRollUp(), a.IsRollUp())
	case r != same.RolledUp():
		t.Errorf("two tokens of one credential roll up apart: %+v, %+v", r, same.RolledUp())
	case r == shifted.RolledUp():
		t.Errorf("credentials whose fields join to the same text share a roll-up: %+v", r)
	case r.RolledUp() != r:
		t.Errorf("rolling a roll-up up again changed it: %+v to %+v", r, r.RolledUp())
	case r.KID != "k" || r.ClientID != "ab" || r.PrincipalID != "c" || r.Subject != "s" || r.JTI != "":
		t.Errorf("the roll-up %+v does not keep the credential, or keeps the jti", r)
	}
	b := mayfly.LedgerBucket{Start: time.Unix(0, 0), Width: 24 * time.Hour, Token: r}
	if err := b.Check(); err != nil {
		t.Errorf("a roll-up bucket fails Check: %v", err)
	}
}

// TestLedgerBucketRefusesMore: no bucket names a service or source "*",
// the value of the day unions that list the buckets that kept only some
// of theirs.
func TestLedgerBucketRefusesMore(t *testing.T) {
	ok := mayfly.LedgerBucket{Start: time.Unix(0, 0), Width: time.Minute, Token: mayfly.LedgerToken{JTI: "j"},
		Services: []string{"api"}, Sources: []string{"10.0.0.1"}}
	if err := ok.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, field := range []string{"services", "sources"} {
		b := ok
		if field == "services" {
			b.Services = []string{mayfly.LedgerUnionMore}
		} else {
			b.Sources = []string{mayfly.LedgerUnionMore}
		}
		err := b.Check()
		if e, isE := err.(*mayfly.Error); !isE || e.Code != mayfly.Invalid || e.Field != field {
			t.Errorf("a bucket with %s %q: %v, want Invalid for %s", field, mayfly.LedgerUnionMore, err, field)
		}
	}
}
