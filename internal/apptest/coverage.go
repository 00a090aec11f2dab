package apptest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/app"
)

// AuditCoverage checks a store against its audit log: every change the
// store holds has the entry that records it, and no entry is there twice.
// It returns the problems it found, one line each. A crash test runs it on
// what a killed process left behind; any line means a change and its entry
// did not commit together.
//
// What counts as a change, and its entry:
//   - a principal, client, admin credential, ring, key or stream: its
//     created entry, once;
//   - a revoked client or credential, a revoked key, a key whose material
//     is destroyed: the entry that says so;
//   - a custody record: a custody.granted entry for it;
//   - issuance records: as many as the tokens.issued entries count, each
//     batch's first and last record present;
//   - a revocation: token.revoked, client.revoked, key.revoked,
//     principal.offboarded, refresh.reused for a session (sid), or for a not-before mark principal.suspended,
//     principal.offboarded, client.secret_rotated or client.transferred,
//     on its subject; a suspension's hold, the principal.suspended entry
//     that numbers it; its lift, the principal.reactivated entry that
//     numbers it, or the entry of its subject's handing over that cites it;
//   - an offboarding run: each report line cites an entry of its action,
//     and a finished run has one offboarding.finished entry;
//   - a pending action: one pending.requested or pending.unapproved entry,
//     one pending.approved or pending.rejected once decided, one
//     pending.done once done, a pending.failed entry if it failed since;
//   - the approved key lifetime ceiling: the config.override entry of the
//     approval that set it.
func AuditCoverage(ctx context.Context, st mayfly.Store) ([]string, error) {
	recs, err := st.AuditEntries(ctx, mayfly.AuditFilter{})
	if err != nil {
		return nil, err
	}
	c := &coverage{byAction: map[mayfly.Action][]mayfly.AuditEntry{}}
	for _, r := range recs {
		c.byAction[r.Entry.Action] = append(c.byAction[r.Entry.Action], r.Entry)
	}
	for _, step := range []func(context.Context, mayfly.Store) error{
		c.identity, c.keys, c.revocations, c.issuances, c.offboardings, c.streams, c.pending,
	} {
		if err := step(ctx, st); err != nil {
			return nil, err
		}
	}
	// Entries by index, for report lines.
	c.index = recs
	if err := c.reports(ctx, st); err != nil {
		return nil, err
	}
	return c.problems, nil
}

// CheckAuditCoverage fails t with each problem AuditCoverage finds in st.
func CheckAuditCoverage(t testing.TB, st mayfly.Store) {
	t.Helper()
	problems, err := AuditCoverage(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

type coverage struct {
	byAction map[mayfly.Action][]mayfly.AuditEntry
	index    []mayfly.AuditRecord
	problems []string
}

func (c *coverage) fail(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// count is how many entries of action match.
func (c *coverage) count(action mayfly.Action, match func(e mayfly.AuditEntry) bool) int {
	n := 0
	for _, e := range c.byAction[action] {
		if match(e) {
			n++
		}
	}
	return n
}

// once wants exactly one entry of action matching; what names the change.
func (c *coverage) once(action mayfly.Action, what string, match func(e mayfly.AuditEntry) bool) {
	switch n := c.count(action, match); {
	case n == 0:
		c.fail("%s has no %s entry", what, action)
	case n > 1:
		c.fail("%s has %d %s entries", what, n, action)
	}
}

// some wants at least one entry of one of actions matching.
func (c *coverage) some(what string, match func(e mayfly.AuditEntry) bool, actions ...mayfly.Action) {
	for _, a := range actions {
		if c.count(a, match) > 0 {
			return
		}
	}
	c.fail("%s has no %v entry", what, actions)
}

func (c *coverage) identity(ctx context.Context, st mayfly.Store) error {
	ps, err := st.Principals(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		c.once(mayfly.ActionPrincipalCreated, "principal "+p.ID, func(e mayfly.AuditEntry) bool { return e.Principal == p.ID })
		if p.Status == mayfly.Suspended {
			c.some("suspended principal "+p.ID, func(e mayfly.AuditEntry) bool { return e.Principal == p.ID }, mayfly.ActionPrincipalSuspended)
		}
		if p.Status == mayfly.Offboarded {
			c.some("offboarded principal "+p.ID, func(e mayfly.AuditEntry) bool { return e.Principal == p.ID }, mayfly.ActionPrincipalOffboarded)
		}
	}
	clients, err := st.Clients(ctx)
	if err != nil {
		return err
	}
	for _, cl := range clients {
		c.once(mayfly.ActionClientCreated, "client "+cl.ID, func(e mayfly.AuditEntry) bool { return e.Client == cl.ID })
		if cl.Revoked() {
			c.some("revoked client "+cl.ID, func(e mayfly.AuditEntry) bool { return e.Client == cl.ID }, mayfly.ActionClientRevoked)
		}
	}
	creds, err := st.AdminCredentials(ctx)
	if err != nil {
		return err
	}
	for _, a := range creds {
		id := func(e mayfly.AuditEntry) bool { return e.Details["id"] == a.ID }
		c.once(mayfly.ActionCredentialCreated, "credential "+a.ID, id)
		if !a.RevokedAt.IsZero() {
			c.some("revoked credential "+a.ID, id, mayfly.ActionCredentialRevoked)
		}
	}
	custody, err := st.Custody(ctx, mayfly.CustodyFilter{})
	if err != nil {
		return err
	}
	records := map[string]int{}
	for _, r := range custody {
		records[custodyKey(r.PrincipalID, string(r.Asset), r.AssetID, string(r.Kind))]++
	}
	for key, n := range records {
		if got := c.count(mayfly.ActionCustodyGranted, func(e mayfly.AuditEntry) bool {
			return custodyKey(e.Principal, e.Details["asset"], e.Details["asset_id"], e.Details["kind"]) == key
		}); got != n {
			c.fail("custody %s: %d records, %d custody.granted entries", key, n, got)
		}
	}
	return nil
}

func custodyKey(principal, asset, id, kind string) string {
	return principal + " " + asset + " " + id + " " + kind
}

func (c *coverage) keys(ctx context.Context, st mayfly.Store) error {
	rings, err := st.Rings(ctx)
	if err != nil {
		return err
	}
	for _, r := range rings {
		c.once(mayfly.ActionRingCreated, "ring "+r.Name, func(e mayfly.AuditEntry) bool { return e.Ring == r.Name })
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		kid := func(e mayfly.AuditEntry) bool { return e.KID == k.KID }
		c.once(mayfly.ActionKeyCreated, "key "+k.KID, kid)
		if !k.RevokedAt.IsZero() {
			c.some("revoked key "+k.KID, kid, mayfly.ActionKeyRevoked)
		}
		if len(k.Sealed) == 0 {
			c.some("key "+k.KID+" without material", kid, mayfly.ActionKeyDestroyed)
		}
	}
	return nil
}

func (c *coverage) revocations(ctx context.Context, st mayfly.Store) error {
	revs, err := st.Revocations(ctx, 0, time.Time{})
	if err != nil {
		return err
	}
	for _, r := range revs {
		what := fmt.Sprintf("revocation %d (%s %s)", r.Seq, r.Kind, r.Subject)
		principal := func(e mayfly.AuditEntry) bool { return e.Principal == r.Subject }
		client := func(e mayfly.AuditEntry) bool { return e.Client == r.Subject }
		switch r.Kind {
		case mayfly.RevokeToken:
			c.some(what, func(e mayfly.AuditEntry) bool { return e.Details["jti"] == r.Subject }, mayfly.ActionTokenRevoked)
		case mayfly.RevokeClient:
			c.some(what, client, mayfly.ActionClientRevoked)
		case mayfly.RevokeKey:
			c.some(what, func(e mayfly.AuditEntry) bool { return e.KID == r.Subject }, mayfly.ActionKeyRevoked)
		case mayfly.RevokePrincipal:
			c.some(what, principal, mayfly.ActionPrincipalOffboarded)
		case mayfly.RevokeSuspend, mayfly.RevokeResume:
			// A status change names its revocations by their numbers; a
			// handing over lifts holds on what changed hands.
			named := func(e mayfly.AuditEntry) bool {
				first, err1 := strconv.ParseInt(e.Details["first_seq"], 10, 64)
				last, err2 := strconv.ParseInt(e.Details["last_seq"], 10, 64)
				return err1 == nil && err2 == nil && first <= r.Seq && r.Seq <= last
			}
			if r.Kind == mayfly.RevokeSuspend {
				c.some(what, named, mayfly.ActionPrincipalSuspended)
				break
			}
			c.some(what, func(e mayfly.AuditEntry) bool {
				if e.Action == mayfly.ActionPrincipalReactivated {
					return named(e)
				}
				return (principal(e) || client(e)) && e.Details["lifted_seq"] == strconv.FormatInt(r.Seq, 10)
			}, mayfly.ActionPrincipalReactivated, mayfly.ActionPrincipalTransferred, mayfly.ActionClientTransferred, mayfly.ActionClientSecretRotated)
		case mayfly.RevokeSession:
			c.some(what, func(e mayfly.AuditEntry) bool { return e.Details["family"] == r.Subject }, mayfly.ActionRefreshReused)
		case mayfly.RevokeSubject:
			c.some(what, func(e mayfly.AuditEntry) bool { return e.Details["subject"] == r.Subject }, mayfly.ActionSubjectRevoked)
		case mayfly.RevokeNamespace:
			c.some(what, func(e mayfly.AuditEntry) bool { return e.Details["namespace"] == r.Subject }, mayfly.ActionNamespaceRevoked)
		case mayfly.RevokeNotBefore:
			c.some(what, func(e mayfly.AuditEntry) bool { return principal(e) || client(e) },
				mayfly.ActionPrincipalSuspended, mayfly.ActionPrincipalOffboarded, mayfly.ActionClientSecretRotated, mayfly.ActionClientTransferred)
		}
	}
	return nil
}

func (c *coverage) pending(ctx context.Context, st mayfly.Store) error {
	acts, err := st.PendingActions(ctx, mayfly.PendingFilter{})
	if err != nil {
		return err
	}
	for _, a := range acts {
		what := "pending action " + a.ID
		match := func(e mayfly.AuditEntry) bool { return e.Details["pending"] == a.ID }
		// Asked for, or carried out at once without a second person.
		switch n := c.count(mayfly.ActionPendingRequested, match) + c.count(mayfly.ActionPendingUnapproved, match); {
		case n == 0:
			c.fail("%s has no %s or %s entry", what, mayfly.ActionPendingRequested, mayfly.ActionPendingUnapproved)
		case n > 1:
			c.fail("%s has %d %s and %s entries", what, n, mayfly.ActionPendingRequested, mayfly.ActionPendingUnapproved)
		}
		switch a.Status {
		case mayfly.Approved:
			c.once(mayfly.ActionPendingApproved, what, match)
		case mayfly.Rejected:
			c.once(mayfly.ActionPendingRejected, what, match)
		}
		if !a.DoneAt.IsZero() {
			c.once(mayfly.ActionPendingDone, what, match)
		} else if strings.HasPrefix(a.Result, "failed: ") {
			c.some(what+" (failed)", match, mayfly.ActionPendingFailed)
		}
	}
	// The key lifetime ceiling a second person approved.
	if v, err := st.Setting(ctx, app.CeilingSetting); err == nil {
		c.some("setting "+app.CeilingSetting+" "+string(v), func(e mayfly.AuditEntry) bool {
			return e.Details["setting"] == "key-lifetime-ceiling" && e.Details["value"] == string(v) && e.Details["pending"] != ""
		}, mayfly.ActionConfigOverride)
	} else if mayfly.ErrorCode(err) != mayfly.NotFound {
		return err
	}
	return nil
}

func (c *coverage) issuances(ctx context.Context, st mayfly.Store) error {
	recs, err := st.Issuances(ctx, mayfly.IssuanceFilter{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range recs {
		have[r.JTI] = true
	}
	counted, seen := 0, map[string]bool{}
	for _, e := range c.byAction[mayfly.ActionTokensIssued] {
		n, err := strconv.Atoi(e.Details["count"])
		if err != nil {
			c.fail("tokens.issued entry %d: count %q", e.Index, e.Details["count"])
			continue
		}
		counted += n
		if first := e.Details["first_jti"]; seen[first] {
			c.fail("two tokens.issued entries for the batch from %s", first)
		} else {
			seen[first] = true
		}
		for _, jti := range []string{e.Details["first_jti"], e.Details["last_jti"]} {
			if !have[jti] {
				c.fail("tokens.issued entry %d names %s, which has no issuance record", e.Index, jti)
			}
		}
	}
	if counted != len(recs) {
		c.fail("%d issuance records, but tokens.issued entries count %d", len(recs), counted)
	}
	return nil
}

func (c *coverage) offboardings(ctx context.Context, st mayfly.Store) error {
	runs, err := st.Offboardings(ctx, "", false)
	if err != nil {
		return err
	}
	for _, o := range runs {
		run := func(e mayfly.AuditEntry) bool { return e.Details["offboarding"] == o.ID }
		if o.Finished() {
			c.once(mayfly.ActionOffboardingFinished, "finished offboarding "+o.ID, run)
		} else if c.count(mayfly.ActionOffboardingFinished, run) > 0 {
			c.fail("unfinished offboarding %s has an offboarding.finished entry", o.ID)
		}
	}
	return nil
}

func (c *coverage) streams(ctx context.Context, st mayfly.Store) error {
	streams, err := st.SSFStreams(ctx)
	if err != nil {
		return err
	}
	for _, s := range streams {
		c.once(mayfly.ActionSSFStreamCreated, "stream "+s.ID, func(e mayfly.AuditEntry) bool { return e.Details["stream"] == s.ID })
	}
	return nil
}

// reports checks that every offboarding report line cites an entry of
// its own action, and that no two lines cite one entry, but for root key
// rotations.
func (c *coverage) reports(ctx context.Context, st mayfly.Store) error {
	runs, err := st.Offboardings(ctx, "", false)
	if err != nil {
		return err
	}
	cited := map[uint64]string{}
	for _, o := range runs {
		for _, a := range o.Actions {
			where := fmt.Sprintf("offboarding %s: %s on %s", o.ID, a.Action, a.Subject)
			if a.Audit >= uint64(len(c.index)) {
				c.fail("%s cites entry %d, beyond the log's %d", where, a.Audit, len(c.index))
				continue
			}
			if got := c.index[a.Audit].Entry.Action; got != a.Action {
				c.fail("%s cites entry %d, which is %s", where, a.Audit, got)
			}
			// A root key rotation is its own entry, which every run it
			// served may cite; any other line's entry is its alone.
			if prev, ok := cited[a.Audit]; ok && a.Action != mayfly.ActionRootKeyRotated {
				c.fail("%s cites entry %d, which %s cites too", where, a.Audit, prev)
			}
			cited[a.Audit] = where
		}
	}
	slices.Sort(c.problems)
	return nil
}
