package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func keyList(ctx context.Context, args []string, env Env) error {
	var ring string
	_, a, c, err := admin("key list", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&ring, "ring", "", "only this ring's keys")
	})
	if err != nil {
		return err
	}
	ks, err := c.Keys(ctx, ring)
	if err != nil {
		return err
	}
	return a.print(env, ks, func(w io.Writer) { keyTable(w, ks) })
}

func keyTable(w io.Writer, ks []api.KeyView) {
	fmt.Fprintln(w, "KID\tRING\tALG\tSTATE\tSIGNS FROM\tSIGNS UNTIL\tPUBLISHED UNTIL\tMATERIAL")
	for _, k := range ks {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Ring, k.Alg, k.State,
			stamp(k.ActivateAt), stamp(k.DeactivateAt), stamp(k.RetireAt), k.Material)
	}
}

func keyRotate(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("key rotate", args, env, 1, "one RING", nil)
	if err != nil {
		return err
	}
	r, err := c.Rotate(ctx, f.pos[0])
	if err != nil {
		return err
	}
	return a.print(env, r, func(w io.Writer) { keyTable(w, r.Keys) })
}

func keyRevoke(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("key revoke", args, env, 1, "one KID", reasonFlag(&reason))
	if err != nil {
		return err
	}
	rev, err := c.RevokeKey(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, rev, revocationText(rev))
}

func ringCreate(ctx context.Context, args []string, env Env) error {
	var alg string
	var lifetime time.Duration
	f, a, c, err := admin("key ring create", args, env, 1, "one NAME", func(f *flags) {
		f.StringVar(&alg, "alg", "ES256", "ES256, RS256 or EdDSA")
		f.DurationVar(&lifetime, "lifetime", mayfly.DefaultKeyLifetime, "how long each key signs (at most the ceiling, 720h by default)")
	})
	if err != nil {
		return err
	}
	r, err := c.CreateRing(ctx, api.RingRequest{Name: f.pos[0], Alg: mayfly.Alg(alg), Lifetime: lifetime.String()})
	if err != nil {
		return err
	}
	return a.print(env, r, func(w io.Writer) { keyTable(w, r.Keys) })
}

func ringList(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("key ring list", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	rs, err := c.Rings(ctx)
	if err != nil {
		return err
	}
	return a.print(env, rs, func(w io.Writer) {
		fmt.Fprintln(w, "RING\tALG\tLIFETIME\tACTIVE KID\tNEXT KID")
		for _, r := range rs {
			active, next := "-", "-"
			for _, k := range r.Keys {
				switch k.State {
				case mayfly.KeyActive:
					active = k.KID
				case mayfly.KeyNext:
					next = k.KID
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Alg, r.Lifetime, active, next)
		}
	})
}
