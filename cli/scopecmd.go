package cli

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
)

// scopeCommand answers "what did this key, person, client or address
// read?" from the access ledger.
func scopeCommand() *command {
	c := &command{name: "scope", args: "[diff|report|verify]", summary: "the exact records a key, person, client or address read: counts, timeline, IDs"}
	c.sub = []*command{
		{name: "report", summary: "a scope as evidence: signed with the audit log's key and appended to the log (JSON on stdout)", run: scopeReport},
		{name: "verify", args: "REPORT --log-key KEY", summary: "verify a scope report offline against the audit log's public key", run: scopeVerify},
		{name: "diff", args: "'QUERY A' 'QUERY B'", summary: "the records read under query A but not under B (each a quoted list of scope flags)", run: scopeDiff},
	}
	c.run = scopeRun
	return c
}

// scopeFlags defines the flags of a scope query on f.
func scopeFlags(f *flags, q *mayfly.ScopeQuery) {
	f.Var((*list)(&q.KIDs), "kid", "tokens signed by this key, forged ones included (repeat or comma-separate for any of several)")
	f.Var((*list)(&q.Principals), "principal", "the tokens of this principal and of every client and service it owns")
	f.BoolVar(&q.Custody, "custody", false, "with --principal: also every token signed by a key of a ring they had custody of")
	f.Var((*list)(&q.Clients), "client", "tokens of this client")
	f.Var((*list)(&q.Subjects), "subject", "tokens with this subject, such as customer:48213377")
	f.Var((*list)(&q.Services), "service", "buckets this service reported")
	f.Var(prefixes{&q.Sources}, "source", "buckets with a source address in this CIDR, such as 203.0.113.0/24")
	f.BoolVar(&q.Forged, "forged", false, "only tokens with no issuance record")
	f.Var((*list)(&q.AfterOffboarding), "after-offboarding", "only use after this person's offboarding began")
	f.Var(instant{&q.From}, "from", "from: RFC 3339 time, Unix seconds, or a duration ago such as 720h")
	f.Var(instant{&q.To}, "to", "until (same forms as --from)")
	f.Var((*list)(&q.Namespaces), "namespace", "only reads in this namespace, such as customer")
}

// prefixes is a repeatable CIDR flag.
type prefixes struct{ p *[]netip.Prefix }

func (prefixes) Type() string { return "CIDR" }
func (p prefixes) String() string {
	if p.p == nil {
		return ""
	}
	var s []string
	for _, v := range *p.p {
		s = append(s, v.String())
	}
	return strings.Join(s, ",")
}
func (p prefixes) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		pr, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil {
				return fmt.Errorf("expected a CIDR such as 203.0.113.0/24, not %q", s)
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		*p.p = append(*p.p, pr.Masked())
	}
	return nil
}

func scopeRun(ctx context.Context, args []string, env Env) error {
	var q mayfly.ScopeQuery
	var ids, format string
	_, a, c, err := admin("scope", args, env, 0, "no arguments", func(f *flags) {
		scopeFlags(f, &q)
		f.StringVar(&q.By, "by", "", "break the answer down by source, client, principal, service or day")
		f.StringVar(&q.Step, "step", "day", "the timeline's step: hour or day")
		f.StringVar(&ids, "ids", "", "write the record IDs to FILE (- for stdout)")
		f.StringVar(&format, "format", "text", "of --ids: text (one ID a line) or roaring (the portable roaring64 format)")
	})
	if err != nil {
		return err
	}
	if format != "text" && format != "roaring" {
		return usagef("--format is text or roaring, not %q", format)
	}
	q.IDs = ids != ""
	sc, err := c.Scope(ctx, q)
	if err != nil {
		return err
	}
	if q.IDs {
		if err := writeIDs(sc, ids, format, env); err != nil {
			return err
		}
		if ids == "-" {
			return nil
		}
	}
	return printScope(a, env, sc)
}

func scopeDiff(ctx context.Context, args []string, env Env) error {
	var ids, format string
	// The queries are arguments that begin with dashes themselves: they
	// are taken out before the flags are parsed.
	args, queries := splitQueries(args)
	_, a, c, err := admin("scope diff", args, env, 0, "two queries, A and B, each a quoted list of scope flags", func(f *flags) {
		f.StringVar(&ids, "ids", "", "write the record IDs to FILE (- for stdout)")
		f.StringVar(&format, "format", "text", "of --ids: text or roaring")
	})
	if err != nil {
		return err
	}
	if len(queries) != 2 {
		return usagef("scope diff needs two queries, A and B, each a quoted list of scope flags such as '--kid K --after-offboarding dev'")
	}
	qa, err := parseQuery("A", queries[0], env)
	if err != nil {
		return err
	}
	qb, err := parseQuery("B", queries[1], env)
	if err != nil {
		return err
	}
	qa.Minus, qa.IDs = qb, ids != ""
	sc, err := c.Scope(ctx, *qa)
	if err != nil {
		return err
	}
	if qa.IDs {
		if err := writeIDs(sc, ids, format, env); err != nil {
			return err
		}
		if ids == "-" {
			return nil
		}
	}
	return printScope(a, env, sc)
}

// splitQueries takes out of args the queries of scope diff: every
// argument that is not one of its own flags or their values.
func splitQueries(args []string) (flagArgs, queries []string) {
	valued := map[string]bool{"addr": true, "token": true, "ids": true, "format": true}
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case !strings.HasPrefix(args[i], "-") || strings.ContainsAny(args[i], " \t") || args[i] == "-":
			queries = append(queries, args[i])
		case valued[name] && !hasValue && i+1 < len(args):
			flagArgs = append(flagArgs, args[i], args[i+1])
			i++
		case valued[name] || name == "json" || name == "h" || name == "help":
			flagArgs = append(flagArgs, args[i])
		default:
			queries = append(queries, args[i]) // a query of one flag
		}
	}
	return flagArgs, queries
}

// parseQuery reads one query of scope diff: scope flags in one argument.
func parseQuery(name, s string, env Env) (*mayfly.ScopeQuery, error) {
	var q mayfly.ScopeQuery
	f := newFlags("scope diff "+name, env)
	scopeFlags(f, &q)
	if err := f.parse(strings.Fields(s)); err != nil {
		return nil, err
	}
	if err := f.args(0, "flags only"); err != nil {
		return nil, usagef("query %s: %v", name, err)
	}
	return &q, nil
}

// writeIDs writes the answer's record IDs, of its one namespace.
func writeIDs(sc *mayfly.Scope, file, format string, env Env) error {
	var read []mayfly.ScopeNamespace
	for _, ns := range sc.Namespaces {
		if ns.Records > 0 || len(sc.Namespaces) == 1 {
			read = append(read, ns)
		}
	}
	if len(read) > 1 {
		return usagef("records of %d namespaces were read: --ids needs --namespace to say whose IDs to write", len(read))
	}
	rb := roaring64.New()
	if len(read) == 1 && len(read[0].Bitmap) > 0 {
		if err := rb.UnmarshalBinary(read[0].Bitmap); err != nil {
			return fmt.Errorf("the server's record bitmap: %w", err)
		}
	}
	w := env.Stdout
	if file != "-" {
		out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		w = out
	}
	bw := bufio.NewWriter(w)
	if format == "roaring" {
		if len(read) == 1 && len(read[0].Bitmap) > 0 {
			bw.Write(read[0].Bitmap)
		} else if _, err := rb.WriteTo(bw); err != nil {
			return err
		}
	} else {
		var buf []byte
		it := rb.Iterator()
		for it.HasNext() {
			buf = strconv.AppendUint(buf[:0], it.Next(), 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && file != "-" {
		return f.Close()
	}
	return nil
}

func printScope(a *adminFlags, env Env, sc *mayfly.Scope) error {
	return a.print(env, sc, func(w io.Writer) {
		window := stamp(sc.From) + " to " + stamp(sc.To)
		if sc.From.IsZero() && sc.To.IsZero() {
			window = "the whole ledger"
		}
		fields(w, "window", window)
		if sc.Buckets > 0 {
			fields(w, "buckets", fmt.Sprintf("%d, covering %s to %s", sc.Buckets, stamp(sc.CoveredFrom), stamp(sc.CoveredTo)))
		}
		for _, ns := range sc.Namespaces {
			v := fmt.Sprintf("%d", ns.Records)
			if ns.Records > 0 {
				v += fmt.Sprintf(" (first read %s, last %s)", stamp(ns.FirstRead), stamp(ns.LastRead))
			}
			fields(w, "records "+cmp.Or(ns.Namespace, "-"), v, "digest "+cmp.Or(ns.Namespace, "-"), "sha256:"+ns.Digest)
		}
		if len(sc.Namespaces) == 0 {
			fields(w, "records", "0")
		}
		fields(w, "tokens", fmt.Sprintf("%d (%d of them a credential's tokens of a day)", sc.Tokens, sc.Credentials),
			"requests", fmt.Sprintf("%d accepted, %d refused", sc.Requests, sc.Refusals),
			"services", fmt.Sprintf("%d: %s", len(sc.Services), more(sc.Services, false)),
			"sources", fmt.Sprintf("%d: %s", len(sc.Sources), more(firstN(sc.Sources, 20), len(sc.Sources) > 20)))
		fields(w, "reporting", more(sc.Completeness.Reporting, sc.Completeness.ReportingMore))
		if len(sc.Completeness.Gaps) == 0 {
			fields(w, "gaps", "none recorded")
		}
		for _, g := range sc.Completeness.Gaps {
			fields(w, "gap", fmt.Sprintf("%s dropped %d reports between %s and %s", g.Service, g.Dropped, stamp(g.From), stamp(g.To)))
		}
		if sc.Completeness.Unsure > 0 {
			fields(w, "unsure", fmt.Sprintf("%d buckets kept only some of their services or sources and may have matched", sc.Completeness.Unsure))
		}
		if len(sc.Timeline) > 0 {
			fmt.Fprintln(w)
			row(w, "FIRST READ IN", "NAMESPACE", "RECORDS")
			for _, p := range sc.Timeline {
				row(w, stamp(p.Start), p.Namespace, fmt.Sprint(p.Records))
			}
		}
		if len(sc.Groups) > 0 {
			fmt.Fprintln(w)
			row(w, strings.ToUpper(sc.Query.By), "NAMESPACE", "RECORDS", "TOKENS", "REQUESTS")
			for _, g := range sc.Groups {
				for i, ns := range g.Namespaces {
					if i == 0 {
						row(w, cmp.Or(g.Key, "-"), ns.Namespace, fmt.Sprint(ns.Records), fmt.Sprint(g.Tokens), fmt.Sprint(g.Requests))
					} else {
						row(w, "", ns.Namespace, fmt.Sprint(ns.Records), "", "")
					}
				}
				if len(g.Namespaces) == 0 {
					row(w, cmp.Or(g.Key, "-"), "-", "0", fmt.Sprint(g.Tokens), fmt.Sprint(g.Requests))
				}
			}
		}
	})
}

func firstN(vs []string, n int) []string {
	if len(vs) > n {
		return vs[:n]
	}
	return vs
}

func scopeReport(ctx context.Context, args []string, env Env) error {
	var q mayfly.ScopeQuery
	_, _, c, err := admin("scope report", args, env, 0, "no arguments", func(f *flags) {
		scopeFlags(f, &q)
		f.StringVar(&q.By, "by", "", "break the answer down by source, client, principal, service or day")
		f.StringVar(&q.Step, "step", "day", "the timeline's step: hour or day")
	})
	if err != nil {
		return err
	}
	rep, err := c.ScopeReport(ctx, q)
	if err != nil {
		return err
	}
	return printJSON(env, rep)
}

func scopeVerify(ctx context.Context, args []string, env Env) error {
	f := newFlags("scope verify", env)
	key := f.String("log-key", "", "the log's public key, from 'mayfly audit key' (required)")
	jsonOut := f.Bool("json", false, "print JSON")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(1, "one report FILE (- for stdin)"); err != nil {
		return err
	}
	if *key == "" {
		return usagef("scope verify needs --log-key")
	}
	var raw []byte
	var err error
	if f.pos[0] == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 256<<20))
	} else {
		raw, err = os.ReadFile(f.pos[0])
	}
	if err != nil {
		return err
	}
	rep, err := bundle.VerifyScopeReport(raw, *key)
	if err != nil {
		return mayfly.Errorf(mayfly.Invalid, "report does not verify: %v", err)
	}
	if *jsonOut {
		return printJSON(env, rep)
	}
	fmt.Fprintf(env.Stdout, "ok: scope report signed by %s, recorded by audit entry %d, made %s by %s\n", rep.Report.Origin, rep.AuditIndex,
		stamp(rep.Report.Time), rep.Report.Actor)
	for _, ns := range rep.Report.Scope.Namespaces {
		fmt.Fprintf(env.Stdout, "records %s: %d, sha256:%s\n", cmp.Or(ns.Namespace, "-"), ns.Records, ns.Digest)
	}
	return nil
}
