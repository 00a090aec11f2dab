package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func subjectCommands() *command {
	return &command{name: "subject", summary: "log out token subjects such as customers", sub: []*command{
		{name: "revoke", args: "SUBJECT | --namespace NS [--before T]",
			summary: "reject a subject's tokens issued until now, or a whole namespace's issued before T", run: subjectRevoke},
	}}
}

func subjectRevoke(ctx context.Context, args []string, env Env) error {
	var ns, reason string
	var before time.Time
	f := newFlags("subject revoke", env)
	a := &adminFlags{}
	a.register(f, env)
	f.StringVar(&ns, "namespace", "", "log out every subject NS:... instead of one subject")
	f.Var(instant{&before}, "before", "with --namespace: reject tokens issued before this time (RFC 3339, Unix seconds, or a duration ago such as 15m); default: now")
	reasonFlag(&reason)(f)
	if err := f.parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case set["namespace"] && len(f.pos) > 0:
		return usagef("subject revoke takes a SUBJECT or --namespace, not both; see 'mayfly subject revoke --help'")
	case set["namespace"] && ns == "":
		return usagef("--namespace needs a subject namespace, such as customer")
	case !set["namespace"] && set["before"]:
		return usagef("--before is for --namespace: one subject is revoked as of now")
	case !set["namespace"] && len(f.pos) != 1:
		return usagef("subject revoke takes one SUBJECT, such as customer:48213377, or --namespace NS; see 'mayfly subject revoke --help'")
	}
	c, err := a.client(env)
	if err != nil {
		return err
	}
	var rev *api.RevocationView
	if set["namespace"] {
		rev, err = c.RevokeNamespace(ctx, api.NamespaceRevokeRequest{Namespace: ns, Before: before, Reason: reason})
	} else {
		rev, err = c.RevokeSubject(ctx, f.pos[0], reason)
	}
	if err != nil {
		return err
	}
	return a.print(env, rev, func(w io.Writer) {
		if rev.Kind == mayfly.RevokeNamespace {
			fmt.Fprintf(w, "revoked namespace %s: every token of a subject %s:... issued before %s is rejected (revocation %d)\n",
				rev.Subject, rev.Subject, stamp(rev.At), rev.Seq)
			return
		}
		fmt.Fprintf(w, "revoked subject %s: its tokens issued before %s are rejected (revocation %d)\n",
			rev.Subject, stamp(rev.At), rev.Seq)
	})
}
