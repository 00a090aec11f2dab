package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
	"github.com/mayflyhq/mayfly/bundle"
)

func auditCommands() *command {
	return &command{name: "audit", summary: "read and verify the tamper-evident audit log", sub: []*command{
		{name: "tail", summary: "show the newest entries, oldest first", run: auditTail},
		{name: "show", args: "INDEX", summary: "show one entry", run: auditShow},
		{name: "search", summary: "find entries, oldest first", run: auditSearch},
		{name: "verify", summary: "recompute the log and check every entry and checkpoint", run: auditVerify},
		{name: "proof", args: "INDEX", summary: "inclusion proof of an entry in the latest checkpoint", run: auditProof},
		{name: "consistency", args: "OLD NEW", summary: "consistency proof between tree sizes", run: auditConsistency},
		{name: "export", summary: "write a self-contained, verifiable bundle to stdout", run: auditExport},
		{name: "verify-bundle", args: "FILE --log-key KEY", summary: "verify a bundle offline, with no server", run: auditVerifyBundle},
		{name: "key", summary: "print the log's public key (signed-note verifier key)", run: auditKey},
		{name: "rotate-key", summary: "replace the log key; the next checkpoint is signed by both", run: auditRotateKey},
	}}
}

func auditTable(w io.Writer, items []api.AuditItem) {
	row(w, "INDEX", "TIME", "ACTION", "ACTOR", "PRINCIPAL", "CLIENT", "KID", "RING")
	for _, it := range items {
		e := it.Entry
		row(w, strconv.FormatUint(e.Index, 10), stamp(e.Time), string(e.Action), label(it.ActorName, e.Actor), label(it.PrincipalName, e.Principal),
			label(it.ClientName, e.Client), dash(e.KID), dash(e.Ring))
	}
}

func auditTail(ctx context.Context, args []string, env Env) error {
	var n int
	_, a, c, err := admin("audit tail", args, env, 0, "no arguments", func(f *flags) {
		f.CountVar(&n, "n", 20, "how many entries")
	})
	if err != nil {
		return err
	}
	items, err := c.AuditSearch(ctx, mayfly.AuditFilter{Limit: n, Newest: true})
	if err != nil {
		return err
	}
	slices.Reverse(items)
	return a.print(env, items, func(w io.Writer) { auditTable(w, items) })
}

func indexArg(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usagef("%q is not an entry index", s)
	}
	return n, nil
}

func auditShow(ctx context.Context, args []string, env Env) error {
	f, _, c, err := admin("audit show", args, env, 1, "one INDEX", nil)
	if err != nil {
		return err
	}
	idx, err := indexArg(f.pos[0])
	if err != nil {
		return err
	}
	it, err := c.AuditEntry(ctx, idx)
	if err != nil {
		return err
	}
	return printJSON(env, it) // an entry is best read whole
}

func printJSON(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func auditSearch(ctx context.Context, args []string, env Env) error {
	var flt mayfly.AuditFilter
	var action string
	_, a, c, err := admin("audit search", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&action, "action", "", "only this action, such as key.revoked")
		f.StringVar(&flt.Principal, "principal", "", "only entries about this principal ID")
		f.StringVar(&flt.Client, "client", "", "only entries about this client ID")
		f.StringVar(&flt.KID, "kid", "", "only entries about this key")
		f.Var(instant{&flt.Since}, "since", "only entries at or after: RFC 3339 time, Unix seconds or a duration ago")
		f.Var(instant{&flt.Until}, "until", "only entries before (same forms)")
		f.CountVar(&flt.Limit, "limit", 100, "at most this many, oldest first")
	})
	if err != nil {
		return err
	}
	flt.Action = mayfly.Action(action)
	items, err := c.AuditSearch(ctx, flt)
	if err != nil {
		return err
	}
	return a.print(env, items, func(w io.Writer) { auditTable(w, items) })
}

func auditVerify(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("audit verify", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	rep, err := c.AuditVerify(ctx)
	if err != nil {
		return err
	}
	if err := a.print(env, rep, func(w io.Writer) {
		if rep.OK {
			fmt.Fprintf(w, "ok: %s and %s verify\n", plural(rep.Entries, "entry", "entries"), plural(rep.Checkpoints, "checkpoint", "checkpoints"))
		}
	}); err != nil {
		return err
	}
	if !rep.OK {
		return mayfly.Errorf(mayfly.Invalid, "audit log does not verify: first bad index %d: %s", rep.FirstBad, rep.Problem)
	}
	return nil
}

func auditProof(ctx context.Context, args []string, env Env) error {
	f, _, c, err := admin("audit proof", args, env, 1, "one INDEX", nil)
	if err != nil {
		return err
	}
	idx, err := indexArg(f.pos[0])
	if err != nil {
		return err
	}
	p, err := c.AuditProof(ctx, idx)
	if err != nil {
		return err
	}
	return printJSON(env, p)
}

func auditConsistency(ctx context.Context, args []string, env Env) error {
	f, _, c, err := admin("audit consistency", args, env, 2, "OLD and NEW tree sizes", nil)
	if err != nil {
		return err
	}
	old, err := indexArg(f.pos[0])
	if err != nil {
		return err
	}
	nw, err := indexArg(f.pos[1])
	if err != nil {
		return err
	}
	p, err := c.AuditConsistency(ctx, old, nw)
	if err != nil {
		return err
	}
	return printJSON(env, p)
}

func auditExport(ctx context.Context, args []string, env Env) error {
	var from, to time.Time
	_, _, c, err := admin("audit export", args, env, 0, "no arguments", func(f *flags) {
		f.Var(instant{&from}, "from", "entries at or after: RFC 3339 time, Unix seconds or a duration ago")
		f.Var(instant{&to}, "to", "entries before (same forms)")
	})
	if err != nil {
		return err
	}
	b, err := c.AuditExport(ctx, from, to)
	if err != nil {
		return err
	}
	return printJSON(env, b)
}

// auditVerifyBundle needs no server: it is what an investigator runs.
func auditVerifyBundle(ctx context.Context, args []string, env Env) error {
	f := newFlags("audit verify-bundle", env)
	key := f.String("log-key", "", "the log's public key, from 'mayfly audit key' (required)")
	jsonOut := f.Bool("json", false, "print JSON")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(1, "one bundle FILE (- for stdin)"); err != nil {
		return err
	}
	if *key == "" {
		return usagef("audit verify-bundle needs --log-key")
	}
	var raw []byte
	var err error
	if f.pos[0] == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(f.pos[0])
	}
	if err != nil {
		return err
	}
	rep, err := bundle.Verify(raw, *key)
	if err != nil {
		return mayfly.Errorf(mayfly.Invalid, "bundle does not verify: %v", err)
	}
	if *jsonOut {
		return printJSON(env, rep)
	}
	fmt.Fprintf(env.Stdout, "ok: %d entries verified against a checkpoint of %d entries signed by %s\n", rep.Entries, rep.Size, rep.Origin)
	fmt.Fprintf(env.Stdout, "root hash: %s\n", base64.StdEncoding.EncodeToString(rep.Root))
	return nil
}

func auditKey(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("audit key", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	k, err := c.AuditKey(ctx)
	if err != nil {
		return err
	}
	return a.print(env, k, func(w io.Writer) { fmt.Fprintln(w, k.VerifierKey) })
}

func auditRotateKey(ctx context.Context, args []string, env Env) error {
	_, a, c, err := admin("audit rotate-key", args, env, 0, "no arguments", nil)
	if err != nil {
		return err
	}
	k, err := c.AuditRotateKey(ctx)
	if err != nil {
		return err
	}
	return a.print(env, k, func(w io.Writer) { fmt.Fprintln(w, k.VerifierKey) })
}

// plural is n and the noun in the number n calls for.
func plural[N ~int | ~int64 | ~uint64](n N, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
