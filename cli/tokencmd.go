package cli

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/sdk/canon"
)

func tokenList(ctx context.Context, args []string, env Env) error {
	var flt mayfly.IssuanceFilter
	_, a, c, err := admin("token list", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&flt.ClientID, "client", "", "only tokens of this client")
		f.StringVar(&flt.KID, "kid", "", "only tokens signed by this key")
		f.StringVar(&flt.JTI, "jti", "", "only the token with this jti")
		f.StringVar(&flt.Subject, "subject", "", "only tokens issued for this subject (sub), such as customer:48213377")
		f.Var(digest{&flt.Digest}, "digest", "only the token with this digest (22 characters, as services compute it)")
		f.Var(instant{&flt.Since}, "since", "only tokens issued at or after: RFC 3339 time, Unix seconds, or a duration ago such as 1h")
		f.Var(instant{&flt.Until}, "until", "only tokens issued before (same forms as --since)")
		f.CountVar(&flt.Limit, "limit", 100, "at most this many, newest first")
	})
	if err != nil {
		return err
	}
	recs, err := c.Tokens(ctx, flt)
	if err != nil {
		return err
	}
	return a.print(env, recs, func(w io.Writer) {
		// A subject column only where a token has one: a client's own
		// tokens' subject is the client.
		if !slices.ContainsFunc(recs, func(r api.IssuanceView) bool { return r.Subject != "" }) {
			row(w, "JTI", "CLIENT", "PRINCIPAL", "KID", "ISSUED", "EXPIRES", "SOURCE")
			for _, r := range recs {
				row(w, r.JTI, label(r.ClientName, r.ClientID), label(r.PrincipalName, r.PrincipalID), r.KID, stamp(r.IssuedAt), stamp(r.ExpiresAt), r.SourceIP)
			}
			return
		}
		row(w, "JTI", "SUBJECT", "CLIENT", "PRINCIPAL", "KID", "ISSUED", "EXPIRES", "SOURCE")
		for _, r := range recs {
			row(w, r.JTI, cmp.Or(r.Subject, "-"), label(r.ClientName, r.ClientID), label(r.PrincipalName, r.PrincipalID), r.KID, stamp(r.IssuedAt),
				stamp(r.ExpiresAt), r.SourceIP)
		}
	})
}

// digest is a token digest flag, checked before it is sent.
type digest struct{ d *string }

func (d digest) String() string {
	if d.d == nil {
		return ""
	}
	return *d.d
}

func (digest) Type() string { return "string" }

func (d digest) Set(v string) error {
	if b, err := base64.RawURLEncoding.Strict().DecodeString(v); err != nil || len(v) != canon.DigestLen || len(b) != 16 {
		return fmt.Errorf("expected a token digest: %d base64url characters, as canon.Digest makes", canon.DigestLen)
	}
	*d.d = v
	return nil
}

// instant is a time flag: an RFC 3339 time, Unix seconds, or a duration
// before now such as 1h.
type instant struct{ t *time.Time }

func (i instant) String() string {
	if i.t == nil || i.t.IsZero() {
		return ""
	}
	return i.t.Format(time.RFC3339)
}

func (i instant) Set(v string) error {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		*i.t = t
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		*i.t = time.Unix(n, 0)
		return nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		*i.t = time.Now().Add(-d)
		return nil
	}
	return errors.New("expected an RFC 3339 time such as 2026-01-02T15:04:05Z, Unix seconds, or a duration ago such as 90s, 15m or 2h")
}

func tokenRevoke(ctx context.Context, args []string, env Env) error {
	var reason string
	f, a, c, err := admin("token revoke", args, env, 1, "one JTI", reasonFlag(&reason))
	if err != nil {
		return err
	}
	rev, err := c.RevokeToken(ctx, f.pos[0], reason)
	if err != nil {
		return err
	}
	return a.print(env, rev, revocationText(rev))
}
