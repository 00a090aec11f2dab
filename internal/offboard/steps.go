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

// work is one step of one run: it queues actions with their audit entries
// and commits the entries in one write at the end.
type work struct {
	s       *Service
	o       *mayfly.Offboarding
	step    string
	cutoff  time.Time
	entries []mayfly.AuditEntry
	actions []mayfly.OffboardAction
}

func (w *work) do(ctx context.Context) error {
	var err error
	switch w.step {
	case StepStatus:
		err = w.status(ctx)
	case StepCredentials:
		err = w.credentials(ctx)
	case StepRings:
		err = w.rings(ctx)
	case StepRootKey:
		err = w.rootKey(ctx)
	case StepSecrets:
		err = w.secrets(ctx)
	}
	if err != nil {
		return err
	}
	return w.flush(ctx)
}

// act queues an action; e is its audit entry.
func (w *work) act(action, subject, detail string, e mayfly.AuditEntry) {
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.Action = action
	e.Details["offboarding"] = w.o.ID
	if w.o.Reason != "" {
		e.Details["reason"] = w.o.Reason
	}
	w.entries = append(w.entries, e)
	w.actions = append(w.actions, mayfly.OffboardAction{Step: w.step, Action: action, Subject: subject, Detail: detail})
}

// acted adds an action whose audit entry another service already wrote.
func (w *work) acted(action, subject, detail string, idx uint64) {
	w.o.Actions = append(w.o.Actions, mayfly.OffboardAction{Step: w.step, Action: action, Subject: subject, Detail: detail,
		At: w.s.cfg.Clock.Now().UTC(), Audit: idx})
}

// flush appends the queued entries and adds the actions to the report.
func (w *work) flush(ctx context.Context) error {
	if len(w.entries) == 0 {
		return nil
	}
	idx, err := w.s.cfg.Audit.AppendAll(ctx, w.entries)
	if err != nil {
		return err
	}
	now := w.s.cfg.Clock.Now().UTC()
	for i := range w.actions {
		w.actions[i].At, w.actions[i].Audit = now, idx[i]
	}
	w.o.Actions = append(w.o.Actions, w.actions...)
	w.entries, w.actions = nil, nil
	return nil
}

// status: the person is offboarded, every token minted for them or their
// clients before the cutoff is rejected, and the principal is revoked.
func (w *work) status(ctx context.Context) error {
	cfg := w.s.cfg
	p, err := cfg.Identity.Fresh(ctx, w.o.PrincipalID)
	if err != nil {
		return err
	}
	var revs []*mayfly.Revocation
	if !cfg.Revoker.Revoked(mayfly.RevokePrincipal, p.ID) {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokePrincipal, Subject: p.ID, Reason: "offboarded", Cause: mayfly.CauseOffboarded})
	}
	if cfg.Revoker.NotBefore(p.ID).Before(w.cutoff) {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: p.ID, At: w.cutoff, Reason: "offboarded", Cause: mayfly.CauseOffboarded})
	}
	if err := cfg.Revoker.RevokeAll(ctx, revs); err != nil {
		return err
	}
	if p.Status == mayfly.Offboarded && len(revs) == 0 {
		return nil
	}
	if p.Status != mayfly.Offboarded {
		next := *p
		next.Status, next.UpdatedAt = mayfly.Offboarded, cfg.Clock.Now().UTC()
		if err := cfg.Store.UpdatePrincipal(ctx, &next); err != nil {
			return err
		}
	}
	w.act("principal.offboarded", p.ID, "status offboarded; principal revoked; tokens issued before "+w.cutoff.Format(time.RFC3339Nano)+" rejected",
		mayfly.AuditEntry{Principal: p.ID, Details: map[string]string{"name": p.Name}})
	return nil
}

// credentials: every client and service the person owns, and every admin
// credential of theirs, is revoked, or handed to TransferTo.
func (w *work) credentials(ctx context.Context) error {
	cfg := w.s.cfg
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
	if w.o.TransferTo == "" {
		err = w.revokeAll(ctx, owned, services)
	} else {
		err = w.transferAll(ctx, owned, services)
	}
	if err != nil {
		return err
	}
	creds, err := cfg.Store.AdminCredentials(ctx)
	if err != nil {
		return err
	}
	// Theirs, and any whose token they were shown when it was made.
	shown, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetCredential})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, c := range shown {
		seen[c.AssetID] = true
	}
	now := cfg.Clock.Now().UTC()
	for _, a := range creds {
		if (a.OwnerID != w.o.PrincipalID && !seen[a.ID]) || !a.RevokedAt.IsZero() {
			continue
		}
		if err := cfg.Store.RevokeAdminCredential(ctx, a.ID, now); err != nil {
			return err
		}
		w.act("admin_credential.revoked", a.ID, string(a.Role)+" credential "+a.Name, mayfly.AuditEntry{Principal: w.o.PrincipalID,
			Details: map[string]string{"id": a.ID, "name": a.Name, "role": string(a.Role)}})
	}
	return nil
}

func (w *work) revokeAll(ctx context.Context, clients []*mayfly.Client, services []*mayfly.Principal) error {
	cfg := w.s.cfg
	var revs []*mayfly.Revocation
	for _, c := range clients {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: c.ID, Reason: "owner offboarded", Cause: mayfly.CauseOffboarded})
	}
	for _, p := range services {
		if !cfg.Revoker.Revoked(mayfly.RevokePrincipal, p.ID) {
			revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokePrincipal, Subject: p.ID, Reason: "owner offboarded", Cause: mayfly.CauseOffboarded})
		}
	}
	if err := cfg.Revoker.RevokeAll(ctx, revs); err != nil {
		return err
	}
	for _, c := range clients {
		w.act("client.revoked", c.ID, "owned by "+c.OwnerID, mayfly.AuditEntry{Client: c.ID, Principal: c.OwnerID})
	}
	for _, p := range services {
		next := *p
		next.Status, next.UpdatedAt = mayfly.Offboarded, cfg.Clock.Now().UTC()
		if err := cfg.Store.UpdatePrincipal(ctx, &next); err != nil {
			return err
		}
		w.act("principal.offboarded", p.ID, "service "+p.Name+" owned by the person", mayfly.AuditEntry{Principal: p.ID, Details: map[string]string{"name": p.Name}})
	}
	return nil
}

func (w *work) transferAll(ctx context.Context, clients []*mayfly.Client, services []*mayfly.Principal) error {
	cfg := w.s.cfg
	to := w.o.TransferTo
	// A private_key_jwt client cannot be handed over: its private key is
	// wherever the person kept it, beyond Mayfly's reach. It is revoked;
	// the new owner registers a client with keys of their own.
	var keyed, secreted []*mayfly.Client
	for _, c := range clients {
		if len(c.JWKS) > 0 {
			keyed = append(keyed, c)
		} else {
			secreted = append(secreted, c)
		}
	}
	var revs []*mayfly.Revocation
	for _, c := range keyed {
		revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeClient, Subject: c.ID, Reason: "owner offboarded; its keys cannot be handed over", Cause: mayfly.CauseOffboarded})
	}
	if err := cfg.Revoker.RevokeAll(ctx, revs); err != nil {
		return err
	}
	for _, c := range keyed {
		w.act("client.revoked", c.ID, "authenticates with keys the person registered; create a new client for "+to, mayfly.AuditEntry{Client: c.ID, Principal: c.OwnerID})
	}
	for _, p := range services {
		next := *p
		next.OwnerID, next.UpdatedAt = to, cfg.Clock.Now().UTC()
		if err := cfg.Store.UpdatePrincipal(ctx, &next); err != nil {
			return err
		}
		w.act("principal.transferred", p.ID, "service "+p.Name+" now owned by "+to, mayfly.AuditEntry{Principal: p.ID,
			Details: map[string]string{"from": w.o.PrincipalID, "to": to}})
	}
	var direct, ofServices []*mayfly.Client
	for _, c := range secreted {
		if c.OwnerID == w.o.PrincipalID {
			direct = append(direct, c)
		} else {
			ofServices = append(ofServices, c)
		}
	}
	// The person was accountable for all of these, so could have seen their
	// secrets: replace them as they change hands. Clients of the services
	// keep their owner, the service, which now has a new owner.
	if err := w.replaceSecrets(ctx, direct, to, "client.transferred"); err != nil {
		return err
	}
	return w.replaceSecrets(ctx, ofServices, "", "client.secret_rotated")
}

// rings: every ring the person had custody of loses the keys made before
// the cutoff, and gets fresh ones.
func (w *work) rings(ctx context.Context) error {
	cfg := w.s.cfg
	custody, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetRing})
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
	return nil
}

// rekey withdraws the ring's keys made before the cutoff.
func (w *work) rekey(ctx context.Context, ring, reason string) error {
	kids, err := w.s.cfg.Keys.Rekey(ctx, ring, w.cutoff, reason)
	if mayfly.ErrorCode(err) == mayfly.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if len(kids) > 0 {
		w.act("ring.rekeyed", ring, "revoked "+strings.Join(kids, ", ")+"; fresh keys made", mayfly.AuditEntry{Ring: ring,
			Details: map[string]string{"revoked": strings.Join(kids, " ")}})
	}
	return nil
}

// rootKey: whoever had the root key file could unseal every signing key and
// the audit log key, so replacing the root key alone is not enough: every
// ring loses its keys made before the cutoff, the audit log gets a new key,
// and then the root key is replaced.
func (w *work) rootKey(ctx context.Context) error {
	cfg := w.s.cfg
	custody, err := cfg.Store.Custody(ctx, mayfly.CustodyFilter{PrincipalID: w.o.PrincipalID, Asset: mayfly.AssetRootKey})
	if err != nil || len(custody) == 0 {
		return err
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
		vkey, err := cfg.Audit.RotateKey(ctx)
		if err != nil {
			return err
		}
		w.act("audit.key_replaced", "audit", "new log key "+vkey+"; checkpoints from now on are signed by it", mayfly.AuditEntry{Details: map[string]string{"log_key": vkey}})
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	made, err = cfg.RootKey.RotatedAt(ctx)
	if err != nil || !made.Before(w.cutoff) {
		return err
	}
	idx, err := cfg.RootKey.Rotate(ctx, "custodian "+w.o.PrincipalID+" offboarded")
	if err != nil {
		return mayfly.Errorf(mayfly.Unavailable, "the root key could not be replaced (%v); the offboarding resumes by itself once it can", err)
	}
	w.acted("root_key.rotated", mayfly.RootKeyAsset, "new root key; all key material re-sealed", idx)
	return nil
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
		if cl.Revoked() || cfg.Revoker.Revoked(mayfly.RevokeClient, cl.ID) || len(cl.SecretHash) == 0 {
			continue
		}
		if cl.SecretRotatedAt.Before(w.cutoff) {
			stale = append(stale, cl)
		}
	}
	if err := w.replaceSecrets(ctx, stale, "", "client.secret_rotated"); err != nil {
		return err
	}
	return w.markReplaced(ctx, seen)
}

// replaceSecrets gives each client a secret nobody is shown; with owner,
// the clients also change hands. The owner is told through the audit entry
// and the report: to use the client again, they rotate its secret.
func (w *work) replaceSecrets(ctx context.Context, clients []*mayfly.Client, owner, action string) error {
	cfg := w.s.cfg
	now := cfg.Clock.Now().UTC()
	var ids []string
	for _, c := range clients {
		next := *c
		for try := 0; ; try++ {
			if owner != "" {
				next.OwnerID = owner
			}
			if len(next.SecretHash) > 0 {
				b := make([]byte, 32)
				if _, err := io.ReadFull(cfg.Rand, b); err != nil {
					return mayfly.E("offboard.replaceSecrets", err)
				}
				next.SecretHash, next.SecretRotatedAt = identity.HashSecret(fmt.Sprintf("%x", b)), now
			}
			err := cfg.Store.UpdateClient(ctx, &next)
			if err == nil {
				break
			}
			if mayfly.ErrorCode(err) != mayfly.Conflict || try == 2 {
				return err
			}
			// Changed meanwhile (its owner rotated the secret): replace
			// what is there now, which the person may also have seen.
			fresh, err := cfg.Store.Client(ctx, c.ID)
			if err != nil {
				return err
			}
			next = *fresh
		}
		ids = append(ids, c.ID)
		detail := fmt.Sprintf("secret replaced; owner %s must run `mayfly client rotate-secret %s` to get a new one", next.OwnerID, c.ID)
		e := mayfly.AuditEntry{Client: c.ID, Principal: next.OwnerID, Details: map[string]string{"owner": next.OwnerID,
			"action_needed": "rotate the client secret to obtain a usable one"}}
		if owner != "" {
			e.Details["from"] = c.OwnerID
			detail = "now owned by " + owner + "; " + detail
		}
		w.act(action, c.ID, detail, e)
	}
	return w.markReplaced(ctx, ids)
}

// markReplaced sets a not-before mark on every client among ids whose
// secret was replaced after its last mark, so tokens got with the old
// secret are rejected. The mark comes after the new secret is stored and
// cached copies are dropped, so no token the old secret could still get is
// later than the mark; and it is checked against the store, so a crash
// between the two is mended by running the step again.
func (w *work) markReplaced(ctx context.Context, ids []string) error {
	cfg := w.s.cfg
	if err := cfg.Identity.Forget(ctx); err != nil {
		return err
	}
	now := cfg.Clock.Now().UTC()
	var revs []*mayfly.Revocation
	for _, id := range ids {
		cl, err := cfg.Store.Client(ctx, id)
		if err != nil {
			return err
		}
		if len(cl.SecretHash) > 0 && cfg.Revoker.NotBefore(id).Before(cl.SecretRotatedAt) {
			revs = append(revs, &mayfly.Revocation{Kind: mayfly.RevokeNotBefore, Subject: id, At: now, Reason: "secret replaced: " + w.o.ID, Cause: mayfly.CauseSecretRotated})
		}
	}
	return cfg.Revoker.RevokeAll(ctx, revs)
}
