// Package cli is the mayfly command line. Every command except serve is a
// client of the admin API; serve runs the server itself.
//
// # Invariants
//
// Errors are one line on stderr with a non-zero exit: 2 for a usage error,
// 1 for anything else. A client secret is printed only by the command that
// created it. --json prints the API's response as it is.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/client"
)

// Version is set at build time.
var Version = "dev"

// Env is what a command sees of its surroundings.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Run runs the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	err := dispatch(ctx, commands, args, env)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "mayfly: %s\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(env.Stderr, "mayfly: %s\n", oneLine(mayfly.ErrorMessage(err), err))
		return 1
	}
}

func oneLine(msg string, err error) string {
	if mayfly.ErrorCode(err) == mayfly.Internal {
		var me *mayfly.Error
		if !errors.As(err, &me) || me.Msg == "" {
			msg = err.Error()
		}
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is a leaf that runs or a group of subcommands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env Env) error
	sub     []*command
}

var commands []*command

func init() {
	commands = []*command{
		{name: "serve", summary: "run the Mayfly server", run: serve},
		{name: "migrate", summary: "apply the store's pending schema migrations [--store URL]", run: migrate},
		{name: "principal", summary: "manage people and services", sub: []*command{
			{name: "create", summary: "create a principal: NAME --kind human|service [--owner PRINCIPAL]", run: principalCreate},
			{name: "list", summary: "list principals", run: principalList},
			{name: "show", summary: "show a principal: PRINCIPAL", run: principalShow},
			{name: "suspend", summary: "suspend a principal; their tokens stop working: PRINCIPAL [--reason R]", run: principalSuspend},
			{name: "reactivate", summary: "make a suspended principal active again: PRINCIPAL [--reason R]", run: principalReactivate},
		}},
		{name: "client", summary: "manage OAuth2 clients", sub: []*command{
			{name: "create", summary: "create a client: NAME --owner PRINCIPAL [--scope S] [--audience A] [--ttl D] [--ring R] [--jwks FILE]", run: clientCreate},
			{name: "list", summary: "list clients", run: clientList},
			{name: "show", summary: "show a client: CLIENT_ID", run: clientShow},
			{name: "revoke", summary: "revoke a client and all its tokens: CLIENT_ID [--reason R]", run: clientRevoke},
			{name: "rotate-secret", summary: "give a client a new secret, shown once (to an admin credential only): CLIENT_ID [--reason R]", run: clientRotateSecret},
		}},
		{name: "key", summary: "manage signing keys and key rings", sub: []*command{
			{name: "list", summary: "list signing keys [--ring R]", run: keyList},
			{name: "rotate", summary: "make a ring's next key sign now: RING", run: keyRotate},
			{name: "revoke", summary: "revoke a key; its tokens stop verifying: KID [--reason R]", run: keyRevoke},
			{name: "ring", summary: "manage key rings", sub: []*command{
				{name: "create", summary: "create a ring: NAME [--alg ES256|RS256|EdDSA] [--lifetime D]", run: ringCreate},
				{name: "list", summary: "list rings", run: ringList},
			}},
		}},
		{name: "token", summary: "inspect and revoke issued tokens", sub: []*command{
			{name: "list", summary: "list issuance records [--client ID] [--kid KID] [--since T] [--until T] [--limit N]", run: tokenList},
			{name: "revoke", summary: "revoke one token: JTI [--reason R]", run: tokenRevoke},
		}},
		auditCommands(),
		scimCommands(),
		ssfCommands(),
		pendingCommands(),
		{name: "healthcheck", summary: "exit 0 if the server answers /healthz with 200, 1 if not [--url URL]", run: healthcheck},
		{name: "doctor", summary: "report credentials, keys and custody that break policy; exits 1 if anything is found", run: doctor},
		{name: "version", summary: "print the version", run: func(ctx context.Context, args []string, env Env) error {
			fmt.Fprintln(env.Stdout, "mayfly", Version)
			return nil
		}},
	}
}

func init() {
	// Commands kept in their own files: principal lifecycle, offboarding,
	// custody and credentials.
	commands = append(commands, peopleCommands()...)
}

func dispatch(ctx context.Context, cmds []*command, args []string, env Env) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(env.Stdout, cmds, "")
		if len(args) == 0 {
			return usagef("missing command")
		}
		return nil
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		if c.run != nil {
			return c.run(ctx, args[1:], env)
		}
		if len(args) == 1 {
			printUsage(env.Stderr, c.sub, c.name+" ")
			return usagef("%s needs a subcommand", c.name)
		}
		return dispatch(ctx, c.sub, args[1:], env)
	}
	return usagef("unknown command %q; run 'mayfly help'", args[0])
}

func printUsage(w io.Writer, cmds []*command, prefix string) {
	fmt.Fprintln(w, "usage: mayfly "+prefix+"COMMAND [flags]")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	var walk func([]*command, string)
	walk = func(cs []*command, p string) {
		for _, c := range cs {
			if c.run != nil {
				fmt.Fprintf(tw, "  %s%s\t%s\n", p, c.name, c.summary)
			}
			walk(c.sub, p+c.name+" ")
		}
	}
	walk(cmds, prefix)
	tw.Flush()
}

// flags is a flag set that allows flags after positional arguments, as in
// "principal create alice --kind human".
type flags struct {
	*flag.FlagSet
	pos    []string
	stderr io.Writer
}

func newFlags(name string, env Env) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors come back as one line from Run; only -h prints the flags.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, stderr: env.Stderr}
}

func (f *flags) parse(args []string) error {
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(f.stderr, "usage of mayfly %s:\n", f.Name())
				f.SetOutput(f.stderr)
				f.PrintDefaults()
				return err
			}
			return usageError{err.Error()}
		}
		args = f.Args()
		if len(args) == 0 {
			return nil
		}
		f.pos = append(f.pos, args[0])
		args = args[1:]
	}
}

// args checks the positional argument count.
func (f *flags) args(n int, names string) error {
	if len(f.pos) != n {
		return usagef("%s takes %s", f.Name(), names)
	}
	return nil
}

// list is a repeatable flag whose values may also be comma-separated.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		*l = append(*l, s)
	}
	return nil
}

// adminFlags is the shared part of every admin command: where the server
// is, the credential, and --json.
type adminFlags struct {
	addr, token string
	json        bool
}

func (a *adminFlags) register(f *flags, env Env) {
	f.StringVar(&a.addr, "addr", firstNonEmpty(env.Getenv("MAYFLY_ADDR"), "127.0.0.1:8740"), "server address or URL (MAYFLY_ADDR)")
	// The credential's default is looked up when it is needed, not shown
	// as the flag's default: help text must never print it.
	f.StringVar(&a.token, "token", "", "admin credential; default: MAYFLY_TOKEN, else the contents of MAYFLY_DATA/admin.token")
	f.BoolVar(&a.json, "json", false, "print JSON")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func (a *adminFlags) client(env Env) (*client.Client, error) {
	base := a.addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	tok := firstNonEmpty(a.token, env.Getenv("MAYFLY_TOKEN"))
	if tok == "" {
		path := filepath.Join(firstNonEmpty(env.Getenv("MAYFLY_DATA"), "mayfly-data"), "admin.token")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("no admin credential: set MAYFLY_TOKEN or --token (no %s either)", path)
		}
		tok = strings.TrimSpace(string(b))
	}
	return client.New(base, tok), nil
}

// print writes v as JSON with --json, and as text otherwise.
func (a *adminFlags) print(env Env, v any, text func(w io.Writer)) error {
	if a.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

// fields prints name/value pairs in the order given.
func fields(w io.Writer, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(w, "%s:\t%s\n", kv[i], kv[i+1])
	}
}

// admin parses an admin command's args: the shared flags, those define
// adds, and exactly n positional arguments described by names.
func admin(name string, args []string, env Env, n int, names string, define func(f *flags)) (*flags, *adminFlags, *client.Client, error) {
	f := newFlags(name, env)
	a := &adminFlags{}
	a.register(f, env)
	if define != nil {
		define(f)
	}
	if err := f.parse(args); err != nil {
		return nil, nil, nil, err
	}
	if err := f.args(n, names); err != nil {
		return nil, nil, nil, err
	}
	c, err := a.client(env)
	return f, a, c, err
}
