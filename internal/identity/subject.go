package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
)

// Subjects such as customers are not principals: Mayfly keeps nothing per
// subject until one is revoked, and then one revocation, so tens of
// millions of them cost nothing up front. A subject is named NAMESPACE:ID
// as tokens carry it in sub, and its namespace is one some client was
// allowed to exchange subject tokens for.

// MaxFutureSkew is how far ahead of this server's clock a namespace mark
// may be set: a caller's clock a little ahead is taken as now, a time
// further ahead is refused, since it would reject tokens not yet issued.
const MaxFutureSkew = 30 * time.Second

// maxSubjectID bounds the ID part of a subject.
const maxSubjectID = 255

// CheckSubject checks that sub is NAMESPACE:ID, and returns the namespace.
func CheckSubject(sub string) (string, error) {
	ns, id, ok := strings.Cut(sub, ":")
	switch {
	case sub == "":
		return "", mayfly.InvalidField("subject", "a subject is needed, such as customer:48213377")
	case !ok:
		return "", mayfly.InvalidField("subject", "subject %q is not NAMESPACE:ID, such as customer:48213377", sub)
	case !subjectNamespace.MatchString(ns):
		return "", mayfly.InvalidField("subject", "subject %q: the namespace must be 1-32 lowercase letters, digits, _ or -, beginning with a letter", sub)
	case id == "" || len(id) > maxSubjectID || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }):
		return "", mayfly.InvalidField("subject", "subject %q: the ID after %q must be 1-%d visible ASCII characters", sub, ns+":", maxSubjectID)
	}
	return ns, nil
}

// checkNamespace checks that ns is well-formed and in use: some client,
// revoked or not, was allowed to exchange tokens for its subjects. A
// misspelt namespace would otherwise log nobody out, and say nothing.
func (s *Service) checkNamespace(ctx context.Context, field, ns string) error {
	if ns == "" {
		return mayfly.InvalidField(field, "a subject namespace is needed, such as customer")
	}
	if !subjectNamespace.MatchString(ns) {
		return mayfly.InvalidField(field, "subject namespace %q must be 1-32 lowercase letters, digits, _ or -, beginning with a letter", ns)
	}
	cs, err := s.cfg.Store.Clients(ctx)
	if err != nil {
		return err
	}
	var known []string
	for _, c := range cs {
		for _, x := range c.Exchange {
			if !slices.Contains(known, x) {
				known = append(known, x)
			}
		}
	}
	if slices.Contains(known, ns) {
		return nil
	}
	slices.Sort(known)
	inUse := "no client exchanges subject tokens at all"
	if len(known) > 0 {
		inUse = "namespaces in use: " + strings.Join(known, ", ")
	}
	return mayfly.Errorf(mayfly.NotFound, "no client exchanges tokens for subject namespace %q (%s)", ns, inUse)
}

// RevokeSubject logs one subject out everywhere: every access token whose
// sub is subject issued before now, and every refresh family of it begun
// before now, is rejected. It is one revocation, committed with its audit
// entry; revoking a subject again moves its mark to the new now.
func (s *Service) RevokeSubject(ctx context.Context, subject, reason string) (*mayfly.Revocation, error) {
	ns, err := CheckSubject(subject)
	if err != nil {
		return nil, err
	}
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	if err := s.checkNamespace(ctx, "subject", ns); err != nil {
		return nil, err
	}
	rev := &mayfly.Revocation{Kind: mayfly.RevokeSubject, Subject: subject, Reason: reason}
	err = s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Revoker.Revoke(tx, rev); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionSubjectRevoked,
			Details: map[string]string{"subject": subject, "at": rev.At.Format(time.RFC3339Nano), "reason": reason, "seq": fmt.Sprint(rev.Seq)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("subject revoked", "subject", subject, "seq", rev.Seq)
	return rev, nil
}

// RevokeNamespace logs every subject of namespace ns out: every access
// token whose sub is "ns:..." issued before before, and every refresh
// family of such a subject begun before it, is rejected. A zero before is
// now; one up to MaxFutureSkew ahead is taken as now, and one further
// ahead is refused. It is one revocation, however many subjects and
// tokens it covers, committed with its audit entry. A mark earlier than
// one the namespace has changes nothing, but is recorded all the same.
func (s *Service) RevokeNamespace(ctx context.Context, ns string, before time.Time, reason string) (*mayfly.Revocation, error) {
	if err := mayfly.CheckText("reason", reason, mayfly.MaxReason); err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now().UTC()
	switch {
	case before.After(now.Add(MaxFutureSkew)):
		return nil, mayfly.InvalidField("before", "%s is in the future (this server's time is %s): a mark may not reject tokens not yet issued",
			before.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	case before.IsZero() || before.After(now):
		before = now
	}
	if err := s.checkNamespace(ctx, "namespace", ns); err != nil {
		return nil, err
	}
	rev := &mayfly.Revocation{Kind: mayfly.RevokeNamespace, Subject: ns, At: before.UTC(), Reason: reason}
	err := s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := s.cfg.Revoker.Revoke(tx, rev); err != nil {
			return err
		}
		_, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionNamespaceRevoked,
			Details: map[string]string{"namespace": ns, "before": rev.At.Format(time.RFC3339Nano), "reason": reason, "seq": fmt.Sprint(rev.Seq)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("namespace revoked", "namespace", ns, "before", rev.At, "seq", rev.Seq)
	return rev, nil
}
