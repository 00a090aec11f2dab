package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func clientCreate(ctx context.Context, args []string, env Env) error {
	var req api.ClientRequest
	var scopes, auds list
	var ttl time.Duration
	var jwksFile, dpop string
	var exchange list
	var idle, absolute time.Duration
	f, a, c, err := admin("client create", args, env, 1, "one NAME", func(f *flags) {
		f.StringVar(&req.Owner, "owner", "", "owning principal (required)")
		f.Var(&scopes, "scope", "a scope the client may request (repeat or comma-separate)")
		f.Var(&auds, "audience", "an audience the client may request; the first is the default (repeat or comma-separate)")
		f.DurationVar(&ttl, "ttl", 0, "access token lifetime (default 5m, at most 1h)")
		f.StringVar(&req.Ring, "ring", "", "key ring that signs its tokens (default: default)")
		f.StringVar(&jwksFile, "jwks", "", "file with the client's public JWK Set: for private_key_jwt instead of a secret, and to sign its subject tokens (--exchange)")
		f.StringVar(&req.TokenEndpointAuthMethod, "auth-method", "", "client_secret_basic: with --jwks and --exchange, authenticate with a secret; the keys sign only subject tokens")
		f.Var(&exchange, "exchange", "a subject namespace, such as customer, whose subject tokens the client may exchange for access tokens (repeat or comma-separate)")
		f.BoolVar(&req.Refresh, "refresh", false, "an exchange also returns a refresh token, which rotates on each use")
		f.DurationVar(&idle, "refresh-idle", 0, "a refresh family ends unused this long (default 336h, 14 days)")
		f.DurationVar(&absolute, "refresh-absolute", 0, "a refresh family ends this long after it began (default 2160h, 90 days)")
		f.StringVar(&dpop, "dpop", "", "required: every token request must prove possession of a key (DPoP, RFC 9449)")
		f.BoolVar(&req.Public, "public", false, "a public client, such as a mobile app: no secret; it may only refresh, with --dpop required")
	})
	if err != nil {
		return err
	}
	if req.Owner == "" {
		return usagef("client create needs --owner PRINCIPAL")
	}
	req.Name, req.Scopes, req.Audiences, req.Exchange, req.DPoP = f.pos[0], scopes, auds, exchange, mayfly.DPoPMode(dpop)
	if idle != 0 {
		req.RefreshIdle = idle.String()
	}
	if absolute != 0 {
		req.RefreshAbsolute = absolute.String()
	}
	if ttl != 0 {
		req.TokenTTL = ttl.String()
	}
	if jwksFile != "" {
		if req.JWKS, err = os.ReadFile(jwksFile); err != nil {
			return fmt.Errorf("--jwks: %w", err)
		}
	}
	cc, err := c.CreateClient(ctx, req)
	if err != nil {
		return err
	}
	return a.print(env, cc, func(w io.Writer) {
		clientFields(w, cc.Client, cc.OwnerName, cc.Auth)
		if cc.Secret != "" {
			fields(w, "client_secret", cc.Secret)
			fmt.Fprintln(w, "\nThe secret is shown once and cannot be recovered. Store it now.")
		}
	})
}

// clientFields prints c; auth is how it authenticates, which the server
// tells (api.ClientView).
func clientFields(w io.Writer, c *mayfly.Client, ownerName string, auth []string) {
	fields(w, "client_id", c.ID, "name", cell(c.Name), "owner", label(ownerName, c.OwnerID), "scopes", join(c.Scopes), "audiences", join(c.Audiences),
		"token_ttl", c.TokenTTL.String(), "ring", c.Ring, "auth", join(auth), "created", stamp(c.CreatedAt), "revoked", stamp(c.RevokedAt))
	if len(c.Exchange) > 0 || c.Refresh || c.DPoP != "" {
		refresh := "no"
		if c.Refresh {
			refresh = fmt.Sprintf("yes (idle %s, absolute %s)", cmp.Or(c.RefreshIdle, mayfly.DefaultRefreshIdle), cmp.Or(c.RefreshAbsolute, mayfly.DefaultRefreshAbsolute))
		}
		fields(w, "exchange", join(c.Exchange), "refresh", refresh, "dpop", cmp.Or(string(c.DPoP), "optional"))
	}
}

func clientList(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("client list", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	cs, err := c.Clients(ctx)
	if err != nil {
		return err
	}
	return a.print(env, cs, func(w io.Writer) {
		row(w, "CLIENT_ID", "NAME", "OWNER", "RING", "REVOKED")
		for _, cl := range cs {
			row(w, cl.ID, cl.Name, label(cl.OwnerName, cl.OwnerID), cl.Ring, stamp(cl.RevokedAt))
		}
	})
}

func clientShow(ctx context.Context, args []string, env Env) error {
	f, a, c, err := admin("client show", args, env, 1, "one CLIENT_ID", nil)
	if err != nil {
		return err
	}
	cl, err := c.ClientByID(ctx, f.pos[0])
	if err != nil {
		return err
	}
	return a.print(env, cl, func(w io.Writer) { clientFields(w, cl.Client, cl.OwnerName, cl.Auth) })
}

func clientRevoke(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("client revoke", args, env, 1, "one CLIENT_ID", reasonFlag(&reason))
	if err != nil {
		return err
	}
	rev, err := c.RevokeClient(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, rev, revocationText(rev))
}

func reasonFlag(reason *string) func(*flags) {
	return func(f *flags) { f.StringVar(reason, "reason", "", "why, for the record") }
}

func revocationText(r *api.RevocationView) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintf(w, "revoked %s %s (revocation %d, %s)\n", r.Kind, label(r.SubjectName, r.Subject), r.Seq, stamp(r.At))
	}
}
