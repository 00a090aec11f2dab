package offboard

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/identity"
)

// work is one step of one run. A step reads the stored state and plans
// its changes; then the changes, the audit entries of the report lines
// they make, and the run saved with those lines (and, at the end, with the
// step done) commit in one transaction.
type work struct {
	s      *Service
	o      *mayfly.Offboarding
	step   string
	cutoff time.Time
	lines  []line
	// staged are the new copies of clients staged ahead of the commit.
	staged []*mayfly.Client
}

// unstage drops the staged copies after a step that did not commit.
func (w *work) unstage() {
	for _, c := range w.staged {
		w.s.cfg.Identity.Unstage(c)
	}
}

// line is a report line waiting for its audit entry.
type line struct {
	action  mayfly.OffboardAction
	entry   mayfly.AuditEntry
	written bool // its entry is written elsewhere, at action.Audit
}

func (w *work) do(ctx context.Context) error {
	switch w.step {
	case StepStatus:
		return w.status(ctx)
	case StepCredentials:
		return w.credentials(ctx)
	case StepRings:
		return w.rings(ctx)
	case StepRootKey:
		return w.rootKey(ctx)
	case StepSecrets:
		return w.secrets(ctx)
	}
	return fmt.Errorf("unknown step %q", w.step)
}

// reported reports whether the run's report has a line of action from
// this step.
func (w *work) reported(action mayfly.Action) bool {
	return slices.ContainsFunc(w.o.Actions, func(a mayfly.OffboardAction) bool { return a.Step == w.step && a.Action == action })
}

// act queues a report line; e is its audit entry.
func (w *work) act(action mayfly.Action, subject, detail string, e mayfly.AuditEntry) {
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.Action = action
	e.Details["offboarding"] = w.o.ID
	if w.o.Reason != "" {
		e.Details["reason"] = w.o.Reason
	}
	w.lines = append(w.lines, line{action: mayfly.OffboardAction{Step: w.step, Action: action, Subject: subject, Detail: detail}, entry: e})
}

// cite adds key to the detail of the entry of this step's queued line
// about subject, a principal or client.
func (w *work) cite(subject, key, value string) {
	for i := range w.lines {
		if e := &w.lines[i].entry; !w.lines[i].written && (e.Client == subject || (e.Client == "" && e.Principal == subject)) {
			e.Details[key] = value
			return
		}
	}
}

// acted queues a report line whose audit entry the transaction already
// holds, at idx.
func (w *work) acted(action mayfly.Action, subject, detail string, idx uint64) {
	w.lines = append(w.lines, line{action: mayfly.OffboardAction{Step: w.step, Action: action, Subject: subject, Detail: detail, Audit: idx}, written: true})
}

// record writes the queued lines' entries in tx and saves the run with
// the lines in its report and, if done, the step done.
func (w *work) record(tx mayfly.Tx, done bool) error {
	next := w.o.Clone()
	now := w.s.cfg.Clock.Now().UTC()
	for _, l := range w.lines {
		if !l.written {
			idx, err := tx.Audit(l.entry)
			if err != nil {
				return err
			}
			l.action.Audit = idx
		}
		l.action.At = now
		next.Actions = append(next.Actions, l.action)
	}
	w.lines = nil
	if done {
		next.Done = append(next.Done, w.step)
	}
	return w.s.save(tx, w.o, next)
}

// commit runs write, records the queued lines and marks the step done, in
// one transaction.
func (w *work) commit(ctx context.Context, write func(tx mayfly.Tx) error) error {
	return w.s.cfg.Audit.Update(ctx, func(tx mayfly.Tx) error {
		if write != nil {
			if err := write(tx); err != nil {
				return err
			}
		}
		return w.record(tx, true)
	})
}

// status: the person is offboarded, every token minted for them or their
// clients before the cutoff is rejected, and the principal is revoked.
func (w *work) status(ctx context.Context) error {
	cfg := w.s.cfg
	// Read and changed under the lock suspensions take: an offboarding
	// someone other than an administrator asks for (SCIM) must not take
	// away the last means to administer, even with another at once.
	unlock, err := cfg.Store.Lock(ctx, identity.StatusLock)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := cfg.Identity.Fresh(ctx, w.o.PrincipalID)
	if err != nil {
		return err
	}
	if p.Status != mayfly.Offboarded {
		if err := cfg.Identity.Guard(ctx, p, true); err != nil {
			return err
		}
	}
	var revs []*mayfly.Revocation
	if !cfg.Revoker.Revoked(mayfly.RevokePrincipal, p.ID) {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokePrincipal, Subject: p.ID, Reason: "offboarded", Cause: mayfly.CauseOffboarded})
	}
	if cfg.Revoker.NotBefore(p.ID).Before(w.cutoff) {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: p.ID, At: w.cutoff, Reason: "offboarded", Cause: mayfly.CauseOffboarded})
	}
	if p.Status == mayfly.Offboarded && len(revs) == 0 {
		return w.commit(ctx, nil)
	}
	w.act(mayfly.ActionPrincipalOffboarded, p.ID, "status offboarded; principal revoked; tokens issued before "+w.cutoff.Format(time.RFC3339Nano)+" rejected",
		mayfly.AuditEntry{Principal: p.ID, Details: map[string]string{"name": p.Name}})
	return w.commit(ctx, func(tx mayfly.Tx) error {
		if err := cfg.Revoker.Revoke(tx, revs...); err != nil {
			return err
		}
		if p.Status == mayfly.Offboarded {
			return nil
		}
		return cfg.Identity.SavePrincipal(tx, offboarded(p, cfg.Clock.Now()))
	})
}

// offboarded is p, offboarded at now.
func offboarded(p *mayfly.Principal, now time.Time) *mayfly.Principal {
	next := *p
	next.Status, next.UpdatedAt = mayfly.Offboarded, now.UTC()
	next.SuspendedBy, next.SuspendedAt = "", time.Time{}
	return &next
}

// credentials: every client and service the person owns, and every admin
// credential of theirs, is revoked, or handed to TransferTo.
func (w *work) credentials(ctx context.Context) error {
	cfg := w.s.cfg
	handOver := w.o.TransferTo != ""
	if handOver {
		// Handing over lifts the holds the person's suspension placed;
		// no status change may read or write them meanwhile.
		unlock, err := cfg.Store.Lock(ctx, identity.StatusLock)
		if err != nil {
			return err
		}
		defer unlock()
		if err := cfg.Revoker.Refresh(ctx); err != nil { // what other processes held
			return err
		}
		// The one taking over was active when the run began; if they are
		// not now, nothing is handed to them, and what they would have
		// had is revoked instead.
		to, err := cfg.Identity.Fresh(ctx, w.o.TransferTo)
		if err != nil {
			return err
		}
		if to.Status != mayfly.Active {
			handOver = false
			w.act(mayfly.ActionPrincipalOffboarded, w.o.PrincipalID, fmt.Sprintf("nothing handed over: %s, who was to take over, is %s; revoked instead", to.Name, to.Status),
				mayfly.AuditEntry{Principal: w.o.PrincipalID, Details: map[string]string{"transfer_to": to.ID, "transfer_to_status": string(to.Status)}})
		}
	}
	principals, err := cfg.Store.Principals(ctx)
	if err != nil {
		return err
	}
	owners := map[string]bool{w.o.PrincipalID: true} // the person and their services
	var services []*mayfly.Principal
	for _, p := range principals {
		if p.OwnerID == w.o.PrincipalID && p.Status != mayfly.Offboarded {
			services = append(services, p)
			owners[p.ID] = true
		}
	}
	clients, err := cfg.Store.Clients(ctx)
	if err != nil {
		return err
	}
	var owned []*mayfly.Client
	for _, c := range clients {
		if owners[c.OwnerID] && !c.Revoked() && !cfg.Revoker.Revoked(mayfly.RevokeClient, c.ID) {
			owned = append(owned, c)
		}
	}
	creds, err := w.credentialsToRevoke(ctx)
	if err != nil {
		return err
	}
	var write []func(tx mayfly.Tx) error
	if !handOver {
		write = w.revokeAll(owned, services)
	} else {
		write = w.transferAll(owned, services)
	}
	var ids []string
	for _, a := range creds {
		ids = append(ids, a.ID)
		w.act(mayfly.ActionCredentialRevoked, a.ID, string(a.Role)+" credential "+a.Name, mayfly.AuditEntry{Principal: w.o.PrincipalID,
			Details: map[string]string{"id": a.ID, "name": a.Name, "role": string(a.Role)}})
	}
	now := cfg.Clock.Now().UTC()
	write = append(write, func(tx mayfly.Tx) error { return cfg.Identity.RevokeCredentials(tx, ids, now) })
	// What they asked for and is not done is withdrawn: a credential they
	// were shown the token of must not come to work after they left.
	if cfg.Requests != nil {
		asked, err := cfg.Requests.Outstanding(ctx, w.o.PrincipalID)
		if err != nil {
			return err
		}
		for _, pa := range asked {
			w.act(mayfly.ActionPendingRejected, pa.ID, string(pa.Kind)+" "+pa.Subject+", which the person asked for, withdrawn",
				mayfly.AuditEntry{Principal: w.o.PrincipalID, Details: map[string]string{"pending": pa.ID, "kind": string(pa.Kind), "subject": pa.Subject}})
		}
		write = append(write, func(tx mayfly.Tx) error {
			for _, pa := range asked {
				if err := cfg.Requests.Withdraw(tx, pa, "the person who asked for it was offboarded"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err = w.commit(ctx, all(write))
	if err != nil {
		w.unstage()
	}
	return err
}

// credentialsToRevoke lists the person's live admin and SCIM credentials,
// and any whose token they were shown when it was made.
func (w *work) credentialsToRevoke(ctx context.Context) ([]*mayfly.AdminCredential, error) {
	cfg := w.s.cfg
	creds, err := cfg.Store.AdminCredentials(ctx)
	if err != nil {
		return nil, err
	}
	shown, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetCredential})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range shown {
		seen[c.AssetID] = true
	}
	var out []*mayfly.AdminCredential
	for _, a := range creds {
		if (a.OwnerID == w.o.PrincipalID || seen[a.ID]) && a.RevokedAt.IsZero() {
			out = append(out, a)
		}
	}
	return out, nil
}

// all runs each of fns in tx.
func all(fns []func(tx mayfly.Tx) error) func(tx mayfly.Tx) error {
	return func(tx mayfly.Tx) error {
		for _, fn := range fns {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	}
}

func (w *work) revokeAll(clients []*mayfly.Client, services []*mayfly.Principal) []func(tx mayfly.Tx) error {
	cfg := w.s.cfg
	var revs, principals []*mayfly.Revocation
	for _, c := range clients {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: c.ID, Reason: "owner offboarded", Cause: mayfly.CauseOffboarded})
		w.act(mayfly.ActionClientRevoked, c.ID, "owned by "+c.OwnerID, mayfly.AuditEntry{Client: c.ID, Principal: c.OwnerID})
	}
	for _, p := range services {
		if !cfg.Revoker.Revoked(mayfly.RevokePrincipal, p.ID) {
			principals = append(principals, &mayfly.Revocation{Kind: mayfly.RevokePrincipal, Subject: p.ID, Reason: "owner offboarded", Cause: mayfly.CauseOffboarded})
		}
		w.act(mayfly.ActionPrincipalOffboarded, p.ID, "service "+p.Name+" owned by the person", mayfly.AuditEntry{Principal: p.ID, Details: map[string]string{"name": p.Name}})
	}
	return []func(tx mayfly.Tx) error{
		func(tx mayfly.Tx) error { return cfg.Identity.RevokeClients(tx, revs, clients) },
		func(tx mayfly.Tx) error {
			if err := cfg.Revoker.Revoke(tx, principals...); err != nil {
				return err
			}
			for _, p := range services {
				if err := cfg.Identity.SavePrincipal(tx, offboarded(p, cfg.Clock.Now())); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (w *work) transferAll(clients []*mayfly.Client, services []*mayfly.Principal) []func(tx mayfly.Tx) error {
	cfg := w.s.cfg
	to := w.o.TransferTo
	// A client with keys (private_key_jwt, or a login service's subject
	// tokens) cannot be handed over: its private key is wherever the
	// person kept it, beyond Mayfly's reach. It is revoked; the new owner
	// registers a client with keys of their own.
	var revs []*mayfly.Revocation
	var keyed, direct, ofServices []*mayfly.Client
	for _, c := range clients {
		switch {
		case len(c.JWKS) > 0:
			keyed = append(keyed, c)
			revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: c.ID, Reason: "owner offboarded; its keys cannot be handed over", Cause: mayfly.CauseOffboarded})
			w.act(mayfly.ActionClientRevoked, c.ID, "signs with keys the person registered; create a new client for "+to, mayfly.AuditEntry{Client: c.ID, Principal: c.OwnerID})
		case c.OwnerID == w.o.PrincipalID:
			direct = append(direct, c)
		default:
			ofServices = append(ofServices, c)
		}
	}
	// What a suspension of the person held, and nothing else holds, is
	// lifted as it changes hands: a held service or client would
	// otherwise stay stopped under its new owner.
	var resume []*mayfly.Revocation
	lift := func(id string) {
		if cfg.Revoker.Suspended(id) {
			resume = append(resume, &mayfly.Revocation{Kind: mayfly.RevokeResume, Subject: id, Reason: "owner offboarded; handed over to " + to})
		}
	}
	held := map[string]bool{} // services suspended themselves
	for _, p := range services {
		if p.Status != mayfly.Active {
			held[p.ID] = true
		} else {
			lift(p.ID)
		}
	}
	for _, c := range append(direct, ofServices...) {
		if !held[c.OwnerID] {
			lift(c.ID)
		}
	}
	var moved []*mayfly.Principal
	for _, p := range services {
		next := *p
		next.OwnerID, next.UpdatedAt = to, cfg.Clock.Now().UTC()
		moved = append(moved, &next)
		w.act(mayfly.ActionPrincipalTransferred, p.ID, "service "+p.Name+" now owned by "+to, mayfly.AuditEntry{Principal: p.ID,
			Details: map[string]string{"from": w.o.PrincipalID, "to": to}})
	}
	write := []func(tx mayfly.Tx) error{
		func(tx mayfly.Tx) error { return cfg.Identity.RevokeClients(tx, revs, keyed) },
		func(tx mayfly.Tx) error {
			if err := cfg.Revoker.Revoke(tx, resume...); err != nil {
				return err
			}
			// Each lift is cited, by its number, in the entry of what
			// changed hands.
			for _, r := range resume {
				w.cite(r.Subject, "lifted_seq", fmt.Sprint(r.Seq))
			}
			for _, p := range moved {
				if err := cfg.Identity.SavePrincipal(tx, p); err != nil {
					return err
				}
			}
			return nil
		},
	}
	// The person was accountable for all of these, so could have seen their
	// secrets: replace them as they change hands. Clients of the services
	// keep their owner, the service, which now has a new owner.
	return append(write, w.replaceSecrets(direct, to, mayfly.ActionClientTransferred), w.replaceSecrets(ofServices, "", mayfly.ActionClientSecretRotated))
}

// rings: every ring the person had custody of loses the keys made before
// the cutoff, and gets fresh ones.
func (w *work) rings(ctx context.Context) error {
	custody, err := w.s.cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetRing})
	if err != nil {
		return err
	}
	var rings []string
	for _, c := range custody {
		if !slices.Contains(rings, c.AssetID) {
			rings = append(rings, c.AssetID)
		}
	}
	for _, ring := range rings {
		if err := w.rekey(ctx, ring, "custodian "+w.o.PrincipalID+" offboarded"); err != nil {
			return err
		}
	}
	return w.commit(ctx, nil)
}

// rekey withdraws the ring's keys made before the cutoff; the report line
// and the run commit with the revocations.
func (w *work) rekey(ctx context.Context, ring, reason string) error {
	_, err := w.s.cfg.Keys.Rekey(ctx, ring, w.cutoff, reason, func(tx mayfly.Tx, kids []string) error {
		w.act(mayfly.ActionRingRekeyed, ring, "revoked "+strings.Join(kids, ", ")+"; fresh keys made", mayfly.AuditEntry{Ring: ring,
			Details: map[string]string{"revoked": strings.Join(kids, " ")}})
		return w.record(tx, false)
	})
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil
	}
	return err
}

// rootKey: whoever had the root key file could unseal every signing key and
// the audit log key, so replacing the root key alone is not enough: every
// ring loses its keys made before the cutoff, the audit log gets a new key,
// and then the root key is replaced.
func (w *work) rootKey(ctx context.Context) error {
	cfg := w.s.cfg
	custody, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetRootKey})
	if err != nil {
		return err
	}
	if len(custody) == 0 {
		return w.commit(ctx, nil)
	}
	if cfg.RootKey == nil {
		return mayfly.Errorf(mayfly.Unavailable, "the person had custody of the root key, and this server cannot rotate it")
	}
	for _, r := range cfg.Keys.Rings() {
		if err := w.rekey(ctx, r.Name, "root key custodian "+w.o.PrincipalID+" offboarded"); err != nil {
			return err
		}
	}
	made, err := cfg.Audit.KeyMadeAt(ctx)
	if err != nil {
		return err
	}
	if made.Before(w.cutoff) {
		_, err := cfg.Audit.RotateKey(ctx, func(tx mayfly.Tx, vkey string) error {
			w.act(mayfly.ActionAuditKeyReplaced, "audit", "new log key "+vkey+"; checkpoints from now on are signed by it", mayfly.AuditEntry{Details: map[string]string{"log_key": vkey}})
			return w.record(tx, false)
		})
		if err != nil {
			return err
		}
	}
	made, err = cfg.RootKey.RotatedAt(ctx)
	if err != nil {
		return err
	}
	if !made.Before(w.cutoff) && !w.reported(mayfly.ActionRootKeyRotated) {
		// Replaced since the cutoff, but not by this run to its end: a
		// rotation a crash interrupted, finished at start. The report cites
		// the entry of the rotation that did it.
		recs, err := cfg.Audit.Search(ctx, mayfly.AuditFilter{Action: mayfly.ActionRootKeyRotated, Since: w.cutoff, Limit: 1})
		if err != nil {
			return err
		}
		if len(recs) == 1 {
			w.acted(mayfly.ActionRootKeyRotated, mayfly.RootKeyAsset, "new root key; all key material re-sealed", recs[0].Index)
		}
	}
	if made.Before(w.cutoff) {
		err := cfg.RootKey.Rotate(ctx, "custodian "+w.o.PrincipalID+" offboarded", func(tx mayfly.Tx, idx uint64) error {
			w.acted(mayfly.ActionRootKeyRotated, mayfly.RootKeyAsset, "new root key; all key material re-sealed", idx)
			return w.record(tx, false)
		})
		if err != nil {
			return &mayfly.Error{Code: mayfly.Unavailable, Msg: "the root key could not be replaced; the offboarding resumes by itself once it can", Err: err}
		}
	}
	return w.commit(ctx, nil)
}

// secrets: every client secret the person was shown, and that has not been
// replaced since the cutoff, is replaced.
func (w *work) secrets(ctx context.Context) error {
	cfg := w.s.cfg
	custody, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetClientSecret})
	if err != nil {
		return err
	}
	var stale []*mayfly.Client
	var unmarked []string
	var seen []string
	for _, c := range custody {
		if slices.Contains(seen, c.AssetID) {
			continue
		}
		seen = append(seen, c.AssetID)
		cl, err := cfg.Store.Client(ctx, c.AssetID)
		if mayfly.ErrorCode(err) == mayfly.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case cl.Revoked() || cfg.Revoker.Revoked(mayfly.RevokeClient, cl.ID) || len(cl.SecretHash) == 0:
		case cl.SecretRotatedAt.Before(w.cutoff):
			stale = append(stale, cl)
		case cfg.Revoker.NotBefore(cl.ID).Before(cl.SecretRotatedAt):
			// Replaced by a run stored before a secret and its mark
			// committed together: the mark is still owed.
			unmarked = append(unmarked, cl.ID)
		}
	}
	write := w.replaceSecrets(stale, "", mayfly.ActionClientSecretRotated)
	marks := w.marks(unmarked)
	err = w.commit(ctx, func(tx mayfly.Tx) error {
		if err := write(tx); err != nil {
			return err
		}
		return cfg.Revoker.Revoke(tx, marks...)
	})
	if err != nil {
		w.unstage()
	}
	return err
}

// replaceSecrets gives each client a secret nobody is shown; with owner,
// the clients also change hands. The owner is told through the audit entry
// and the report: to use the client again, they rotate its secret. The new
// copies are staged at once, so this process stops accepting the old
// secrets before the not-before marks that go with the new ones are timed.
func (w *work) replaceSecrets(clients []*mayfly.Client, owner string, action mayfly.Action) func(tx mayfly.Tx) error {
	cfg := w.s.cfg
	now := cfg.Clock.Now().UTC()
	var ids []string
	for _, c := range clients {
		ownerAfter := c.OwnerID
		if owner != "" {
			ownerAfter = owner
		}
		ids = append(ids, c.ID)
		detail := fmt.Sprintf("secret replaced; owner %s must run `mayfly client rotate-secret %s` to get a new one", ownerAfter, c.ID)
		e := mayfly.AuditEntry{Client: c.ID, Principal: ownerAfter, Details: map[string]string{"owner": ownerAfter,
			"action_needed": "rotate the client secret to obtain a usable one"}}
		if owner != "" {
			e.Details["from"] = c.OwnerID
			detail = "now owned by " + owner + "; " + detail
		}
		w.act(action, c.ID, detail, e)
	}
	replace := func(c *mayfly.Client) (*mayfly.Client, error) {
		next := *c
		if owner != "" {
			next.OwnerID = owner
		}
		if len(next.SecretHash) > 0 {
			b := make([]byte, 32)
			if _, err := io.ReadFull(cfg.Rand, b); err != nil {
				return nil, mayfly.E("offboard.replaceSecrets", err)
			}
			next.SecretHash, next.SecretRotatedAt = identity.HashSecret(fmt.Sprintf("%x", b)), now
		}
		return &next, nil
	}
	var staged []*mayfly.Client
	var failed error
	for _, c := range clients {
		next, err := replace(c)
		if err != nil {
			failed = err
			break
		}
		cfg.Identity.Stage(next)
		staged = append(staged, next)
	}
	w.staged = append(w.staged, staged...)
	fn := func(tx mayfly.Tx) error {
		if failed != nil {
			return failed
		}
		// A client changed since it was read (its owner rotated the
		// secret) fails the step, which runs again from what is stored.
		if err := cfg.Identity.SaveClients(tx, staged...); err != nil {
			return err
		}
		// Timed once the old secrets stopped working here, as late as can
		// be: every token this process got with one is before its mark.
		return cfg.Revoker.Revoke(tx, w.marks(ids)...)
	}
	return fn
}

// marks returns not-before marks for clients whose secret was replaced, so
// tokens got with the old secret are rejected.
func (w *work) marks(ids []string) []*mayfly.Revocation {
	now := w.s.cfg.Clock.Now().UTC()
	var revs []*mayfly.Revocation
	for _, id := range ids {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: id, At: now, Reason: "secret replaced: " + w.o.ID, Cause: mayfly.CauseSecretRotated})
	}
	return revs
}
