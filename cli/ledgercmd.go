package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mayflyhq/mayfly"
)

// ledgerCommands read the access ledger: what each token read, and where
// the ledger is incomplete.
func ledgerCommands() *command {
	return &command{name: "ledger", summary: "read the access ledger: which token read which records", sub: []*command{
		{name: "show", summary: "list ledger buckets: per time bucket, token and namespace, the records read", run: ledgerShow},
		{name: "gaps", summary: "list the reports services dropped, where the ledger is incomplete", run: ledgerGaps},
		ledgerImportCommand(),
	}}
}

func ledgerShow(ctx context.Context, args []string, env Env) error {
	var flt mayfly.LedgerFilter
	_, a, c, err := admin("ledger show", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&flt.JTI, "jti", "", "only buckets of the token with this jti")
		f.Var(digest{&flt.Digest}, "digest", "only buckets of the token with this digest")
		f.StringVar(&flt.KID, "kid", "", "only buckets of tokens signed by this key")
		f.StringVar(&flt.ClientID, "client", "", "only buckets of tokens of this client")
		f.StringVar(&flt.PrincipalID, "principal", "", "only buckets of tokens of this principal")
		f.StringVar(&flt.Subject, "sub", "", "only buckets of tokens with this subject")
		f.StringVar(&flt.Namespace, "namespace", "", "only reads in this namespace, such as customer")
		f.Var(instant{&flt.From}, "from", "only buckets that end after: RFC 3339 time, Unix seconds, or a duration ago such as 1h")
		f.Var(instant{&flt.To}, "to", "only buckets that start before (same forms as --from)")
		f.CountVar(&flt.Limit, "limit", 1000, "at most this many, oldest first")
	})
	if err != nil {
		return err
	}
	bs, err := c.LedgerBuckets(ctx, flt)
	if err != nil {
		return err
	}
	return a.print(env, bs, func(w io.Writer) {
		row(w, "START", "END", "JTI", "CLIENT", "NAMESPACE", "RECORDS", "REQUESTS", "REFUSALS", "SERVICES", "SOURCES")
		for _, b := range bs {
			records := fmt.Sprint(b.RecordCount)
			if len(b.Records) > 0 && len(b.Records) <= 10 {
				records = strings.Trim(fmt.Sprint(b.Records), "[]")
			}
			jti := b.Token.JTI
			if b.Token.IsRollUp() {
				jti = "(credential)"
			}
			row(w, stamp(b.Start), stamp(b.End), jti, b.Token.ClientID, b.Namespace, records, fmt.Sprint(b.Requests),
				fmt.Sprint(b.Refusals), more(b.Services, b.ServicesMore), more(b.Sources, b.SourcesMore))
		}
	})
}

func ledgerGaps(ctx context.Context, args []string, env Env) error {
	var flt mayfly.LedgerFilter
	_, a, c, err := admin("ledger gaps", args, env, 0, "no arguments", func(f *flags) {
		f.Var(instant{&flt.From}, "from", "only gaps that end after: RFC 3339 time, Unix seconds, or a duration ago such as 1h")
		f.Var(instant{&flt.To}, "to", "only gaps that start before (same forms as --from)")
	})
	if err != nil {
		return err
	}
	gs, err := c.LedgerGaps(ctx, flt.From, flt.To)
	if err != nil {
		return err
	}
	return a.print(env, gs, func(w io.Writer) {
		row(w, "SERVICE", "FROM", "TO", "DROPPED")
		for _, g := range gs {
			row(w, g.Service, stamp(g.From), stamp(g.To), fmt.Sprint(g.Dropped))
		}
	})
}

// more lists vs, with "..." if there were more.
func more(vs []string, more bool) string {
	s := strings.Join(vs, ",")
	if more {
		s += ",..."
	}
	if s == "" {
		return "-"
	}
	return s
}
