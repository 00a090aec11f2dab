package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func peopleCommands() []*command {
	return []*command{
		{name: "offboard", args: "PERSON", summary: "offboard a person: revoke what they own, replace what they saw", run: offboardCmd},
		{name: "custody", summary: "who had custody of keys and secrets", sub: []*command{
			{name: "grant", args: "PRINCIPAL (--ring R | --root-key | --client ID) --reason R", summary: "record who had custody of a ring, the root key or a client's secret", run: custodyGrant},
			{name: "show", args: "PRINCIPAL | --ring R", summary: "show what a principal had custody of, or who had custody of a ring", run: custodyShow},
		}},
		{name: "credential", summary: "manage admin and SCIM credentials", sub: []*command{
			{name: "create", args: "NAME", summary: "create a credential; its token is shown once", run: credentialCreate},
			{name: "list", summary: "list credentials", run: credentialList},
			{name: "revoke", args: "ID", summary: "revoke a credential", run: credentialRevoke},
		}},
	}
}

func principalSuspend(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("principal suspend", args, env, 1, "one PRINCIPAL", reasonFlag(&reason))
	if err != nil {
		return err
	}
	p, err := c.Suspend(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, p, func(w io.Writer) { principalFields(w, p) })
}

func principalReactivate(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("principal reactivate", args, env, 1, "one PRINCIPAL", reasonFlag(&reason))
	if err != nil {
		return err
	}
	p, err := c.Reactivate(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, p, func(w io.Writer) { principalFields(w, p) })
}

func offboardCmd(ctx context.Context, args []string, env Env) error {
	var req api.OffboardRequest
	f, a, c, err := admin("offboard", args, env, 1, "one PERSON", func(f *flags) {
		f.StringVar(&req.Reason, "reason", "", "why, for the record")
		f.StringVar(&req.TransferTo, "transfer-to", "", "a person to hand their clients and services to, instead of revoking them")
	})
	if err != nil {
		return err
	}
	o, err := c.Offboard(ctx, f.pos[0], req)
	if err != nil {
		return err
	}
	return a.print(env, o, func(w io.Writer) { offboardReport(w, o) })
}

// offboardReport prints a run's report: every action, when, and the audit
// entry that records it.
func offboardReport(w io.Writer, o *api.OffboardingView) {
	fields(w, "offboarding", o.ID, "principal", label(o.PrincipalName, o.PrincipalID), "reason", cell(dash(o.Reason)),
		"transfer_to", label(o.TransferToName, o.TransferTo), "by", label(o.ActorName, o.Actor),
		"started", stamp(o.StartedAt), "finished", stamp(o.FinishedAt))
	fmt.Fprintln(w)
	if len(o.Actions) <= 1 {
		fmt.Fprintln(w, "Nothing new was needed: everything was already revoked or replaced.")
	}
	row(w, "TIME", "STEP", "ACTION", "SUBJECT", "AUDIT", "DETAIL")
	for _, ac := range o.Actions {
		row(w, stamp(ac.At), ac.Step, string(ac.Action), label(ac.SubjectName, ac.Subject), strconv.FormatUint(ac.Audit, 10), dash(ac.Detail))
	}
}

func custodyGrant(ctx context.Context, args []string, env Env) error {
	var req api.CustodyRequest
	var kind string
	f, a, c, err := admin("custody grant", args, env, 1, "one PRINCIPAL", func(f *flags) {
		f.StringVar(&req.Ring, "ring", "", "the key ring")
		f.BoolVar(&req.RootKey, "root-key", false, "the root key")
		f.StringVar(&req.Client, "client", "", "a client's secret")
		f.StringVar(&kind, "kind", "granted", "how: admin, break_glass, granted, operator, created or shown")
		f.StringVar(&req.Reason, "reason", "", "why, for the record (required)")
	})
	if err != nil {
		return err
	}
	if req.Reason == "" {
		return usagef("custody grant needs --reason")
	}
	req.Principal, req.Kind = f.pos[0], mayfly.CustodyKind(kind)
	cu, err := c.GrantCustody(ctx, req)
	if err != nil {
		return err
	}
	return a.print(env, cu, func(w io.Writer) {
		if cu.Custody != nil {
			custodyTable(w, []*api.CustodyView{{Custody: *cu.Custody, PrincipalName: cu.PrincipalName, ActorName: cu.ActorName, AssetName: cu.AssetName}})
		}
		pendingNote(w, cu.Pending, "the custody is recorded")
	})
}

// pendingNote says what became of a change that needs a second person.
func pendingNote(w io.Writer, p *mayfly.PendingAction, when string) {
	switch {
	case p == nil:
	case p.Status == mayfly.Pending:
		fmt.Fprintf(w, "\nThis needs a second person's approval: %s once someone else runs `mayfly pending approve %s`.\n", when, p.ID)
	case p.Status == mayfly.Unapproved:
		fmt.Fprintf(w, "\nDone without a second person's approval, as fewer than two people hold admin credentials; recorded as unapproved (pending action %s), and `mayfly doctor` lists it until someone else approves it.\n", p.ID)
	}
}

func custodyShow(ctx context.Context, args []string, env Env) error {
	var ring string
	f := newFlags("custody show", env)
	a := &adminFlags{}
	a.register(f, env)
	f.StringVar(&ring, "ring", "", "show who had custody of this ring")
	if err := f.parse(args); err != nil {
		return err
	}
	if (ring == "") == (len(f.pos) == 0) || len(f.pos) > 1 {
		return usagef("custody show takes one PRINCIPAL, or --ring R")
	}
	c, err := a.client(env)
	if err != nil {
		return err
	}
	var principal string
	if len(f.pos) == 1 {
		principal = f.pos[0]
	}
	cs, err := c.Custody(ctx, principal, ring)
	if err != nil {
		return err
	}
	return a.print(env, cs, func(w io.Writer) {
		if len(cs) == 0 {
			fmt.Fprintln(w, "no custody recorded")
			return
		}
		custodyTable(w, cs)
	})
}

func custodyTable(w io.Writer, cs []*api.CustodyView) {
	row(w, "PRINCIPAL", "ASSET", "ID", "KIND", "SINCE", "BY", "REASON")
	for _, c := range cs {
		row(w, label(c.PrincipalName, c.PrincipalID), string(c.Asset), label(c.AssetName, c.AssetID), string(c.Kind), stamp(c.At), label(c.ActorName, c.Actor), dash(c.Reason))
	}
}

func clientRotateSecret(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("client rotate-secret", args, env, 1, "one CLIENT_ID", reasonFlag(&reason))
	if err != nil {
		return err
	}
	cc, err := c.RotateSecret(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, cc, func(w io.Writer) {
		clientFields(w, cc.Client, cc.OwnerName, cc.Auth)
		if cc.Secret == "" {
			fmt.Fprintln(w, "\nThe secret is replaced, and shown to no one: only an admin credential is shown one. Tokens got with the old secret are no longer accepted; an administrator rotates it again to hand the client a usable one.")
			return
		}
		fields(w, "client_secret", cc.Secret)
		fmt.Fprintln(w, "\nThe secret is shown once and cannot be recovered. Tokens got with the old secret are no longer accepted.")
	})
}

func credentialCreate(ctx context.Context, args []string, env Env) error {
	var req api.CredentialRequest
	var role string
	f, a, c, err := admin("credential create", args, env, 1, "one NAME", func(f *flags) {
		f.StringVar(&req.Owner, "owner", "", "the person it belongs to; offboarding them revokes it")
		f.StringVar(&role, "role", "admin", "admin (everything), ring-admin (rings and keys), responder (revoke, suspend, offboard), auditor (read only) or scim (SCIM provisioning only)")
	})
	if err != nil {
		return err
	}
	req.Name, req.Role = f.pos[0], mayfly.Role(role)
	cc, err := c.CreateCredential(ctx, req)
	if err != nil {
		return err
	}
	return a.print(env, cc, func(w io.Writer) {
		credentialFields(w, cc.AdminCredential, cc.OwnerName)
		fields(w, "token", cc.Token)
		fmt.Fprintln(w, "\nThe token is shown once and cannot be recovered. Store it now.")
		pendingNote(w, cc.Pending, "the token works")
	})
}

func credentialFields(w io.Writer, c *mayfly.AdminCredential, ownerName string) {
	fields(w, "id", c.ID, "name", cell(c.Name), "role", string(c.Role), "owner", label(ownerName, c.OwnerID), "created", stamp(c.CreatedAt), "revoked", stamp(c.RevokedAt))
}

func credentialList(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("credential list", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	cs, err := c.Credentials(ctx)
	if err != nil {
		return err
	}
	return a.print(env, cs, func(w io.Writer) {
		row(w, "ID", "NAME", "ROLE", "OWNER", "CREATED", "REVOKED")
		for _, cr := range cs {
			row(w, cr.ID, cr.Name, string(cr.Role), label(cr.OwnerName, cr.OwnerID), stamp(cr.CreatedAt), stamp(cr.RevokedAt))
		}
	})
}

func credentialRevoke(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("credential revoke", args, env, 1, "one ID", reasonFlag(&reason))
	if err != nil {
		return err
	}
	if err := c.RevokeCredential(ctx, f.pos[0], reason); err != nil {
		return err
	}
	return a.print(env, map[string]string{"revoked": f.pos[0]}, func(w io.Writer) { fmt.Fprintf(w, "revoked credential %s\n", f.pos[0]) })
}
