package cli

import (
	"context"
	"io"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func principalCreate(ctx context.Context, args []string, env Env) error {
	var kind, owner string
	f, a, c, err := admin("principal create", args, env, 1, "one NAME", func(f *flags) {
		f.StringVar(&kind, "kind", "", "human or service")
		f.StringVar(&owner, "owner", "", "the accountable human (required for a service)")
	})
	if err != nil {
		return err
	}
	if kind == "" {
		return usagef("principal create needs --kind human or --kind service")
	}
	p, err := c.CreatePrincipal(ctx, api.PrincipalRequest{Name: f.pos[0], Kind: mayfly.PrincipalKind(kind), Owner: owner})
	if err != nil {
		return err
	}
	return a.print(env, p, func(w io.Writer) { principalFields(w, p) })
}

func principalFields(w io.Writer, p *api.PrincipalView) {
	fields(w, "id", p.ID, "name", cell(p.Name), "kind", string(p.Kind), "status", string(p.Status), "owner", label(p.OwnerName, p.OwnerID), "created", stamp(p.CreatedAt))
}

func principalList(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("principal list", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	ps, err := c.Principals(ctx)
	if err != nil {
		return err
	}
	return a.print(env, ps, func(w io.Writer) {
		row(w, "ID", "NAME", "KIND", "STATUS", "OWNER")
		for _, p := range ps {
			row(w, p.ID, p.Name, string(p.Kind), string(p.Status), label(p.OwnerName, p.OwnerID))
		}
	})
}

func principalShow(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("principal show", args, env, 1, "one PRINCIPAL (ID or name)", nil)
	if err != nil {
		return err
	}
	p, err := c.Principal(ctx, f.pos[0])
	if err != nil {
		return err
	}
	return a.print(env, p, func(w io.Writer) { principalFields(w, p) })
}
