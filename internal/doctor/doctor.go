// Package doctor owns the inventory and policy report ("mayfly doctor"): it
// reads the store and the key service and lists what a departed or absent
// person could still use. The report has seven kinds of finding:
//
//   - owner-not-active: a client, admin or SCIM credential, or service that
//     still works although its owner is suspended or offboarded;
//   - key-overdue: a signing key that outlived its schedule: it signs for
//     longer than its ring's lifetime, is still published long after the ring
//     should have moved on, or kept its material after it stopped signing;
//   - custodian-not-active: a ring, or the root key, that a suspended or
//     offboarded person had custody of and that was not replaced since;
//   - secret-old: a client secret older than the allowed age;
//   - custodian-idle: an active person with custody of keys or secrets who
//     has not been seen for a while;
//   - unapproved-change: a change that needs a second person, made without
//     one while fewer than two people held admin credentials, and not
//     approved since;
//   - awaiting-decision: a pending action no administrator has decided, or
//     one approved but not carried out.
//
// # Invariants
//
//   - The report only reads: running it changes nothing, not even the audit
//     log, so cron and CI may run it as often as they like.
//   - Every judgement uses the injected clock and the stored state, so the
//     same state and time give the same report, in the same order: by kind
//     (in the order above), then subject, then message.
//   - Doubt is reported, never assumed away: an owner that cannot be found
//     is not active, and a root key whose rotation time is unknown is older
//     than any custody.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/keys"
)

// kinds is the order findings are reported in: what an outsider can use
// today first, then what may have been copied, then hygiene.
var kinds = []mayfly.FindingKind{mayfly.FindingOwnerNotActive, mayfly.FindingKeyOverdue, mayfly.FindingCustodianNotActive, mayfly.FindingSecretOld, mayfly.FindingCustodianIdle,
	mayfly.FindingUnapproved, mayfly.FindingAwaitingDecision}

// Options adjust the policy. Zero values mean the defaults.
type Options struct {
	// MaxSecretAge is how old a client secret may grow before it is reported.
	MaxSecretAge time.Duration
	// IdleDays is how long a custodian may go unseen before they are reported.
	IdleDays int
}

func (o *Options) defaults() error {
	switch {
	case o.MaxSecretAge < 0 || o.MaxSecretAge > mayfly.DoctorMaxDays*24*time.Hour:
		return mayfly.InvalidField("max_secret_age", "max_secret_age %s is not between 1 second and %d days", o.MaxSecretAge, mayfly.DoctorMaxDays)
	case o.IdleDays < 0 || o.IdleDays > mayfly.DoctorMaxDays:
		return mayfly.InvalidField("idle_days", "idle_days %d is not between 1 and %d", o.IdleDays, mayfly.DoctorMaxDays)
	}
	if o.MaxSecretAge == 0 {
		o.MaxSecretAge = mayfly.DefaultMaxSecretAge
	}
	if o.IdleDays == 0 {
		o.IdleDays = mayfly.DefaultIdleDays
	}
	return nil
}

// Store is what the report reads; it writes nothing.
type Store interface {
	Principals(ctx context.Context) ([]*mayfly.Principal, error)
	Clients(ctx context.Context) ([]*mayfly.Client, error)
	AdminCredentials(ctx context.Context) ([]*mayfly.AdminCredential, error)
	Custody(ctx context.Context, f mayfly.CustodyFilter) ([]*mayfly.Custody, error)
	Offboardings(ctx context.Context, principalID string, unfinished bool) ([]*mayfly.Offboarding, error)
	Issuances(ctx context.Context, f mayfly.IssuanceFilter) ([]mayfly.Issuance, error)
	AuditEntries(ctx context.Context, f mayfly.AuditFilter) ([]mayfly.AuditRecord, error)
	Setting(ctx context.Context, name string) ([]byte, error)
	PendingActions(ctx context.Context, f mayfly.PendingFilter) ([]*mayfly.PendingAction, error)
}

// Config configures a Service.
type Config struct {
	Store Store
	Keys  *keys.Service
	Clock mayfly.Clock
}

// Service produces reports. It is safe for concurrent use.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	return &Service{cfg: cfg}
}

// state is what one report reads from the store, once.
type state struct {
	now        time.Time
	principals map[string]*mayfly.Principal
	clients    []*mayfly.Client
	creds      []*mayfly.AdminCredential
	custody    []*mayfly.Custody
	// names are the names of principals, clients and credentials by ID.
	names map[string]string
}

func (s *Service) load(ctx context.Context) (*state, error) {
	const op = "doctor.Report"
	st := &state{now: s.cfg.Clock.Now().UTC(), principals: map[string]*mayfly.Principal{}}
	ps, err := s.cfg.Store.Principals(ctx)
	if err != nil {
		return nil, mayfly.E(op, err)
	}
	for _, p := range ps {
		st.principals[p.ID] = p
	}
	if st.clients, err = s.cfg.Store.Clients(ctx); err != nil {
		return nil, mayfly.E(op, err)
	}
	if st.creds, err = s.cfg.Store.AdminCredentials(ctx); err != nil {
		return nil, mayfly.E(op, err)
	}
	if st.custody, err = s.cfg.Store.Custody(ctx, mayfly.CustodyFilter{}); err != nil {
		return nil, mayfly.E(op, err)
	}
	st.names = map[string]string{}
	for _, p := range ps {
		st.names[p.ID] = p.Name
	}
	for _, c := range st.clients {
		st.names[c.ID] = c.Name
	}
	for _, a := range st.creds {
		st.names[a.ID] = a.Name
	}
	return st, nil
}

// Report runs every check at the clock's now.
func (s *Service) Report(ctx context.Context, opt Options) (*mayfly.DoctorReport, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	st, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	found := ownersNotActive(st)
	found = append(found, s.keysOverdue(st.now)...)
	notActive, err := s.custodiansNotActive(ctx, st)
	if err != nil {
		return nil, mayfly.E("doctor.Report", err)
	}
	found = append(found, notActive...)
	found = append(found, oldSecrets(st, opt.MaxSecretAge)...)
	idle, err := s.idleCustodians(ctx, st, opt.IdleDays)
	if err != nil {
		return nil, mayfly.E("doctor.Report", err)
	}
	found = append(found, idle...)
	decisions, err := s.decisions(ctx, st)
	if err != nil {
		return nil, mayfly.E("doctor.Report", err)
	}
	found = append(found, decisions...)
	for i := range found {
		found[i].Names = st.namesOf(found[i].IDs)
	}
	sortFindings(found)
	if found == nil {
		found = []mayfly.Finding{} // an empty list, not null, for scripts reading the JSON
	}
	return &mayfly.DoctorReport{At: st.now, MaxSecretAge: opt.MaxSecretAge.String(), IdleDays: opt.IdleDays, Total: len(found), Findings: found}, nil
}

func sortFindings(fs []mayfly.Finding) {
	slices.SortStableFunc(fs, func(a, b mayfly.Finding) int {
		if c := slices.Index(kinds, a.Kind) - slices.Index(kinds, b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		if c := strings.Compare(a.Message, b.Message); c != 0 {
			return c
		}
		return slices.Compare(a.IDs, b.IDs)
	})
}

// name names a principal for messages.
func (st *state) name(id string) string {
	if p, ok := st.principals[id]; ok {
		return p.Name
	}
	return id
}

// label shows an ID in a message with its name first, "alice (prn_...)",
// or alone if it names nothing known.
func (st *state) label(id string) string {
	if n, ok := st.names[id]; ok && n != id {
		return n + " (" + id + ")"
	}
	return id
}

// namesOf returns the names of the IDs that have one, or nil.
func (st *state) namesOf(ids []string) map[string]string {
	var out map[string]string
	for _, id := range ids {
		if n, ok := st.names[id]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[id] = n
		}
	}
	return out
}

// status says where a principal stands, for messages.
func (st *state) status(id string) string {
	if p, ok := st.principals[id]; ok {
		return string(p.Status)
	}
	return "not found"
}

// active reports whether the principal exists and is active.
func (st *state) active(id string) bool {
	p, ok := st.principals[id]
	return ok && p.Status == mayfly.Active
}

// ownerGone says why a credential owned by owner should no longer work, or
// "" if it may: its owner is not active, or its owner is a service whose
// accountable person is not. It returns the principals involved.
func (st *state) ownerGone(owner string) (string, []string) {
	if !st.active(owner) {
		return fmt.Sprintf("its owner %s is %s", st.name(owner), st.status(owner)), []string{owner}
	}
	p := st.principals[owner]
	if p.Kind == mayfly.Service && p.OwnerID != "" && !st.active(p.OwnerID) {
		return fmt.Sprintf("its owner, service %s, belongs to %s, who is %s", p.Name, st.name(p.OwnerID), st.status(p.OwnerID)), []string{owner, p.OwnerID}
	}
	return "", nil
}

// ownersNotActive: credentials that still work for someone who left, and
// services that nobody active answers for.
func ownersNotActive(st *state) []mayfly.Finding {
	var out []mayfly.Finding
	for _, p := range st.principals {
		if p.Kind != mayfly.Service || p.Status == mayfly.Offboarded || p.OwnerID == "" || st.active(p.OwnerID) {
			continue
		}
		out = append(out, mayfly.Finding{Kind: mayfly.FindingOwnerNotActive, Subject: "service " + p.Name, IDs: []string{p.ID, p.OwnerID},
			Message: fmt.Sprintf("service %s is %s but its owner %s is %s: give it an active owner or offboard it", p.Name, p.Status, st.name(p.OwnerID), st.status(p.OwnerID))})
	}
	for _, c := range st.clients {
		if c.Revoked() {
			continue
		}
		if why, ids := st.ownerGone(c.OwnerID); why != "" {
			out = append(out, mayfly.Finding{Kind: mayfly.FindingOwnerNotActive, Subject: "client " + c.ID, IDs: append([]string{c.ID}, ids...),
				Message: fmt.Sprintf("client %q is not revoked but %s: revoke it or hand it over", c.Name, why)})
		}
	}
	for _, a := range st.creds {
		if !a.RevokedAt.IsZero() || a.OwnerID == "" {
			continue // a credential of no one is the operator's to answer for
		}
		if why, ids := st.ownerGone(a.OwnerID); why != "" {
			out = append(out, mayfly.Finding{Kind: mayfly.FindingOwnerNotActive, Subject: "credential " + a.ID, IDs: append([]string{a.ID}, ids...),
				Message: fmt.Sprintf("%s credential %q is not revoked but %s: revoke it", a.Role, a.Name, why)})
		}
	}
	return out
}

// decisions: changes made without the second person they needed, while
// what they made stands, and actions waiting for anyone.
func (s *Service) decisions(ctx context.Context, st *state) ([]mayfly.Finding, error) {
	acts, err := s.cfg.Store.PendingActions(ctx, mayfly.PendingFilter{})
	if err != nil {
		return nil, err
	}
	revoked := map[string]bool{}
	for _, a := range st.creds {
		revoked[a.ID] = !a.RevokedAt.IsZero()
	}
	var out []mayfly.Finding
	for _, a := range acts {
		switch {
		case a.Status == mayfly.Unapproved && a.Kind == mayfly.PendingAdminCredential && revoked[a.Subject]:
		case a.Status == mayfly.Unapproved && a.Kind == mayfly.PendingRootCustody && st.status(a.Subject) == string(mayfly.Offboarded):
			// Gone since: nothing of it is left to approve.
		case a.Status == mayfly.Unapproved:
			out = append(out, mayfly.Finding{Kind: mayfly.FindingUnapproved, Subject: "pending " + a.ID, IDs: []string{a.ID, a.Subject},
				Message: fmt.Sprintf("%s %s was made by %s without a second person's approval: have someone else review it and run `mayfly pending approve %s`",
					a.Kind, st.label(a.Subject), st.label(a.RequestedBy), a.ID)})
		case a.Status == mayfly.Approved && a.DoneAt.IsZero():
			out = append(out, mayfly.Finding{Kind: mayfly.FindingAwaitingDecision, Subject: "pending " + a.ID, IDs: []string{a.ID, a.Subject},
				Message: fmt.Sprintf("%s %s was approved by %s but not carried out (%s): `mayfly pending approve %s` tries again", a.Kind, st.label(a.Subject), st.label(a.DecidedBy), dashed(a.Result), a.ID)})
		case a.Status == mayfly.Pending:
			out = append(out, mayfly.Finding{Kind: mayfly.FindingAwaitingDecision, Subject: "pending " + a.ID, IDs: []string{a.ID, a.Subject},
				Message: fmt.Sprintf("%s %s, asked by %s, waits for a decision (%s): `mayfly pending approve|reject %s`", a.Kind, st.label(a.Subject), st.label(a.RequestedBy), a.Why, a.ID)})
		}
	}
	return out, nil
}

func dashed(s string) string {
	if s == "" {
		return "no outcome recorded"
	}
	return s
}

// materialGrace is how long a key's material may outlast its signing
// window before the report calls the schedule stalled. The schedule
// destroys it at the next wake-up, which comes at every key change and at
// least once a minute; an hour keeps a busy or restarting server from
// being reported.
const materialGrace = time.Hour

// keysOverdue: keys that outlived the schedule that should have replaced
// them. Windows are computed from times, so a stalled schedule shows as
// windows that are too long, keys published for too long, or material kept
// after its key stopped signing.
func (s *Service) keysOverdue(now time.Time) []mayfly.Finding {
	ceiling := s.cfg.Keys.Ceiling()
	lifetimes := map[string]time.Duration{}
	for _, r := range s.cfg.Keys.Rings() {
		lifetimes[r.Name] = min(r.Lifetime, ceiling)
	}
	var out []mayfly.Finding
	for _, k := range s.cfg.Keys.Keys("") {
		lifetime, ok := lifetimes[k.Ring]
		if !ok {
			lifetime = ceiling
		}
		if why := overdue(k, lifetime, now); why != "" {
			out = append(out, mayfly.Finding{Kind: mayfly.FindingKeyOverdue, Subject: "key " + k.KID, Message: fmt.Sprintf("key %s of ring %s %s", k.KID, k.Ring, why), IDs: []string{k.KID, k.Ring}})
		}
	}
	return out
}

// overdue says how k outlived its schedule at now, or "".
func overdue(k *mayfly.Key, lifetime time.Duration, now time.Time) string {
	window := k.DeactivateAt.Sub(k.ActivateAt)
	stopped := k.DeactivateAt
	if !k.RevokedAt.IsZero() && k.RevokedAt.Before(stopped) {
		stopped = k.RevokedAt
	}
	switch {
	case k.State(now) == mayfly.KeyActive && window > lifetime:
		return fmt.Sprintf("signs from %s to %s (%s), longer than the ring's key lifetime of %s: rotate the ring", stamp(k.ActivateAt), stamp(k.DeactivateAt), window, lifetime)
	case k.Published(now) && now.Sub(k.ActivateAt) > 2*lifetime+mayfly.MaxTokenTTL:
		// A key on schedule leaves the key set one lifetime plus
		// MaxTokenTTL after it starts signing; one more lifetime is slack.
		return fmt.Sprintf("has been published since it began signing at %s, more than twice the key lifetime of %s ago: the ring has stopped rotating", stamp(k.ActivateAt), lifetime)
	case len(k.Sealed) > 0 && now.Sub(stopped) > materialGrace:
		return fmt.Sprintf("stopped signing at %s but its private key material was never destroyed: the rotation schedule is not running", stamp(stopped))
	}
	return ""
}

// held is one principal's custody of one asset.
type held struct {
	principal string
	asset     mayfly.Asset
	assetID   string
}

// custodiansNotActive: rings and the root key that a person who is no
// longer active could have copied, and that were not replaced since.
func (s *Service) custodiansNotActive(ctx context.Context, st *state) ([]mayfly.Finding, error) {
	ends := map[string]time.Time{}
	seen := map[held]bool{}
	root := rootRotation{}
	var out []mayfly.Finding
	for _, c := range st.custody {
		h := held{c.PrincipalID, c.Asset, c.AssetID}
		p, ok := st.principals[c.PrincipalID]
		if seen[h] || !ok || p.Status == mayfly.Active || c.Asset == mayfly.AssetClientSecret {
			continue // client secrets are replaced by offboarding and aged by secret-old
		}
		seen[h] = true
		end, ok := ends[p.ID]
		if !ok {
			var err error
			if end, err = s.custodyEnd(ctx, st, p); err != nil {
				return nil, err
			}
			ends[p.ID] = end
		}
		var f *mayfly.Finding
		var err error
		switch c.Asset {
		case mayfly.AssetRing:
			f = s.ringExposed(st, p, c, end)
		case mayfly.AssetRootKey:
			f, err = s.rootExposed(ctx, &root, st, p, end)
		}
		if err != nil {
			return nil, err
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out, nil
}

// custodyEnd is when p's custody ended, for judging which keys they could
// have copied. For an offboarded person it is the offboarding's cutoff,
// the same instant the workflow rekeyed against; for a suspended one, the
// latest suspension. Lacking either, the last change to the principal,
// which is no earlier than the status change, errs towards reporting.
func (s *Service) custodyEnd(ctx context.Context, st *state, p *mayfly.Principal) (time.Time, error) {
	switch p.Status {
	case mayfly.Offboarded:
		runs, err := s.cfg.Store.Offboardings(ctx, p.ID, false)
		if err != nil {
			return time.Time{}, err
		}
		if len(runs) > 0 {
			return runs[0].StartedAt, nil
		}
	case mayfly.Suspended:
		if !p.SuspendedAt.IsZero() {
			return p.SuspendedAt, nil
		}
	}
	if p.UpdatedAt.IsZero() {
		return st.now, nil
	}
	return p.UpdatedAt, nil
}

// ringExposed reports the ring's published keys made before the
// custodian's custody ended, if any.
func (s *Service) ringExposed(st *state, p *mayfly.Principal, c *mayfly.Custody, end time.Time) *mayfly.Finding {
	var kids []string
	for _, k := range s.cfg.Keys.Keys(c.AssetID) {
		if k.Published(st.now) && k.CreatedAt.Before(end) {
			kids = append(kids, k.KID)
		}
	}
	if len(kids) == 0 {
		return nil
	}
	return &mayfly.Finding{Kind: mayfly.FindingCustodianNotActive, Subject: "ring " + c.AssetID, IDs: append([]string{c.AssetID, p.ID}, kids...),
		Message: fmt.Sprintf("%s, who is %s, had custody of ring %s until %s, and its keys %s made before then are still published: rekey the ring",
			p.Name, p.Status, c.AssetID, stamp(end), strings.Join(kids, ", "))}
}

// rootRotation is the root key's last rotation, read once per report.
type rootRotation struct {
	read bool
	at   time.Time // zero: unknown
}

// rootRotatedSetting is where the server records when the root key in use
// was made (package server keeps it up to date).
const rootRotatedSetting = "root.rotated_at"

func (s *Service) rootExposed(ctx context.Context, r *rootRotation, st *state, p *mayfly.Principal, end time.Time) (*mayfly.Finding, error) {
	if !r.read {
		b, err := s.cfg.Store.Setting(ctx, rootRotatedSetting)
		switch {
		case err == nil:
			r.at, _ = time.Parse(time.RFC3339Nano, string(b)) // unreadable counts as unknown
		case !errors.Is(err, mayfly.ErrNotFound):
			return nil, err
		}
		r.read = true
	}
	if !r.at.IsZero() && !r.at.Before(end) {
		return nil, nil
	}
	since := "when it was last rotated is not recorded"
	if !r.at.IsZero() {
		since = "it was last rotated before then, at " + stamp(r.at)
	}
	return &mayfly.Finding{Kind: mayfly.FindingCustodianNotActive, Subject: "root key", IDs: []string{mayfly.RootKeyAsset, p.ID},
		Message: fmt.Sprintf("%s, who is %s, had custody of the root key until %s, and %s: rotate the root key", p.Name, p.Status, stamp(end), since)}, nil
}

// oldSecrets: client secrets that have not been replaced for too long.
func oldSecrets(st *state, maxAge time.Duration) []mayfly.Finding {
	var out []mayfly.Finding
	for _, c := range st.clients {
		if c.Revoked() || len(c.SecretHash) == 0 {
			continue
		}
		set := c.SecretRotatedAt
		if set.IsZero() {
			set = c.CreatedAt
		}
		if age := st.now.Sub(set); age > maxAge {
			out = append(out, mayfly.Finding{Kind: mayfly.FindingSecretOld, Subject: "client " + c.ID, IDs: []string{c.ID, c.OwnerID},
				Message: fmt.Sprintf("client %q has had the same secret since %s, %s, longer than the %s allowed: rotate it", c.Name, stamp(set), ago(age), span(maxAge))})
		}
	}
	return out
}

// custody sums up what one person holds, for a message.
type custody struct {
	rings   []string
	root    bool
	secrets []string
}

func (c *custody) add(r *mayfly.Custody) {
	switch r.Asset {
	case mayfly.AssetRing:
		if !slices.Contains(c.rings, r.AssetID) {
			c.rings = append(c.rings, r.AssetID)
		}
	case mayfly.AssetRootKey:
		c.root = true
	case mayfly.AssetClientSecret:
		if !slices.Contains(c.secrets, r.AssetID) {
			c.secrets = append(c.secrets, r.AssetID)
		}
	}
}

// describe says what c holds; label shows a client's ID.
func (c *custody) describe(label func(string) string) string {
	var parts []string
	for _, r := range c.rings {
		parts = append(parts, "ring "+r)
	}
	if c.root {
		parts = append(parts, "the root key")
	}
	switch n := len(c.secrets); {
	case n == 1:
		parts = append(parts, "the secret of client "+label(c.secrets[0]))
	case n > 1:
		parts = append(parts, fmt.Sprintf("the secrets of %d clients", n))
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// idleCustodians: active people with custody who have shown no sign of
// activity within the window: no admin action by a credential of theirs, no
// token for a client they own, and no new principal record.
func (s *Service) idleCustodians(ctx context.Context, st *state, days int) ([]mayfly.Finding, error) {
	since := st.now.Add(-time.Duration(days) * 24 * time.Hour)
	holds := map[string]*custody{}
	for _, c := range st.custody {
		p, ok := st.principals[c.PrincipalID]
		if !ok || p.Status != mayfly.Active || !p.CreatedAt.Before(since) {
			continue
		}
		if holds[p.ID] == nil {
			holds[p.ID] = &custody{}
		}
		holds[p.ID].add(c)
	}
	if err := s.seenIssuing(ctx, st, since, holds); err != nil {
		return nil, err
	}
	if err := s.seenAdministering(ctx, st, since, holds); err != nil {
		return nil, err
	}
	var out []mayfly.Finding
	for id, h := range holds {
		p := st.principals[id]
		out = append(out, mayfly.Finding{Kind: mayfly.FindingCustodianIdle, Subject: "principal " + p.Name, IDs: []string{p.ID},
			Message: fmt.Sprintf("%s has custody of %s but has not been seen in %d days (no admin action, no token for a client they own): confirm they still need it, or offboard them",
				p.Name, h.describe(st.label), days)})
	}
	return out, nil
}

// seenIssuing drops from idle the owners of clients that got a token since.
func (s *Service) seenIssuing(ctx context.Context, st *state, since time.Time, idle map[string]*custody) error {
	for _, c := range st.clients {
		if idle[c.OwnerID] == nil {
			continue
		}
		recs, err := s.cfg.Store.Issuances(ctx, mayfly.IssuanceFilter{ClientID: c.ID, Since: since, Limit: 1})
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			delete(idle, c.OwnerID)
		}
	}
	return nil
}

// auditPage is how many audit entries are read at a time.
const auditPage = 1000

// seenAdministering drops from idle the people whose admin credentials
// acted since. It reads the log backwards from its end, and only the
// window, and stops once nobody is left to look for.
func (s *Service) seenAdministering(ctx context.Context, st *state, since time.Time, idle map[string]*custody) error {
	owners := map[string]string{} // credential ID -> person
	for _, a := range st.creds {
		if idle[a.OwnerID] != nil {
			owners[a.ID] = a.OwnerID
		}
	}
	f := mayfly.AuditFilter{Since: since, Newest: true, Limit: auditPage}
	for len(owners) > 0 {
		recs, err := s.cfg.Store.AuditEntries(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if p, ok := owners[r.Entry.Actor]; ok {
				delete(idle, p)
			}
		}
		for id, p := range owners {
			if idle[p] == nil {
				delete(owners, id)
			}
		}
		if len(recs) < auditPage || recs[len(recs)-1].Index == 0 {
			return nil
		}
		f.To = recs[len(recs)-1].Index
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// span writes a limit: in days when it is whole days, as people set it.
func span(d time.Duration) string {
	const day = 24 * time.Hour
	if d%day == 0 {
		return plural(int(d/day), "day")
	}
	return d.String()
}

// ago writes an age to the day, or to the minute under a day.
func ago(d time.Duration) string {
	const day = 24 * time.Hour
	if d < day {
		return d.Round(time.Minute).String() + " ago"
	}
	return plural(int(d/day), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
