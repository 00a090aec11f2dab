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

// keyTable lists keys with what their state makes of their schedule: a
// revoked key's signing window no longer says anything, so it shows when
// and why it was revoked instead.
func keyTable(w io.Writer, ks []api.KeyView) {
	row(w, "KID", "RING", "ALG", "STATE", "MATERIAL", "SCHEDULE")
	for _, k := range ks {
		row(w, k.KID, k.Ring, string(k.Alg), string(k.State), k.Material, schedule(k))
	}
}

func schedule(k api.KeyView) string {
	switch k.State {
	case mayfly.KeyRevoked:
		if k.RevokedReason != "" {
			return "revoked at " + stamp(k.RevokedAt) + ": " + k.RevokedReason
		}
		return "revoked at " + stamp(k.RevokedAt)
	case mayfly.KeyRetiring:
		return fmt.Sprintf("signed from %s until %s, published until %s", stamp(k.ActivateAt), stamp(k.DeactivateAt), stamp(k.RetireAt))
	case mayfly.KeyRetired:
		return fmt.Sprintf("signed from %s until %s, unpublished since %s", stamp(k.ActivateAt), stamp(k.DeactivateAt), stamp(k.RetireAt))
	}
	return fmt.Sprintf("signs from %s until %s, published until %s", stamp(k.ActivateAt), stamp(k.DeactivateAt), stamp(k.RetireAt))
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
		row(w, "RING", "ALG", "LIFETIME", "ACTIVE KID", "NEXT KID")
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
			row(w, r.Name, string(r.Alg), r.Lifetime.String(), active, next)
		}
	})
}
