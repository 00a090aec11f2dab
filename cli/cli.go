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
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/client"
)

// Env is what a command sees of its surroundings.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string

	// describe, when set, is handed a command's flag set in place of
	// parsing it: help and completion learn a command's flags this way,
	// so they show exactly the flags the command parses.
	describe func(*flags)
}

// Main runs the command line args as the mayfly binary does and returns
// the exit code: the first SIGINT or SIGTERM stops the command gracefully
// (serve drains and logs its shutdown); a second one ends the process at
// once, for a shutdown that hangs on an unreachable store.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the next signal gets the default action
	}()
	return Run(ctx, args, Env{Stdout: os.Stdout, Stderr: os.Stderr})
}

// Run runs the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	err := dispatch(ctx, args, env)
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

// command is a leaf that runs or a group of subcommands. The tree below
// is the one source of the dispatch, the help, shell completion and the
// README's check of its own examples.
//
// Why by hand and not spf13/cobra, measured when help, completion and
// version were added: the hand-written part (dispatch, help, flag errors,
// completion scripts for three shells, version) is about 580 lines of
// code. Cobra would replace perhaps 400 of them (dispatch, help,
// completion), but every command would still need its definition, its
// flags would move out of its function into a cobra.Command, and keeping
// what users' scripts rely on would take hooks on every command: pflag
// reads -ttl as -t -t -l, so the single-dash long flags Go's flag package
// accepts would break; cobra prints "Error:" and the usage on a bad flag,
// where ours is one line with exit 2; a group named alone exits 0 in
// cobra and 2 here. About 250 lines saved, for two more modules (cobra,
// pflag) and 390 KB on a 29.2 MB binary, is not worth changing flag
// spellings and exit codes people have scripted against.
type command struct {
	name string
	// args is what the usage line shows between the command and
	// [flags]: the positional arguments and any required flags.
	args    string
	summary string
	run     func(ctx context.Context, args []string, env Env) error
	sub     []*command
}

// root is the whole tree; it has no name of its own.
var root = &command{}

func init() {
	root.sub = []*command{
		{name: "serve", summary: "run the Mayfly server", run: serve},
		{name: "migrate", summary: "apply the store's pending schema migrations", run: migrate},
		{name: "principal", summary: "manage people and services", sub: []*command{
			{name: "create", args: "NAME --kind human|service", summary: "create a principal; a service needs --owner", run: principalCreate},
			{name: "list", summary: "list principals", run: principalList},
			{name: "show", args: "PRINCIPAL", summary: "show a principal", run: principalShow},
			{name: "suspend", args: "PRINCIPAL", summary: "suspend a principal; their tokens stop working", run: principalSuspend},
			{name: "reactivate", args: "PRINCIPAL", summary: "make a suspended principal active again", run: principalReactivate},
		}},
		{name: "client", summary: "manage OAuth2 clients", sub: []*command{
			{name: "create", args: "NAME --owner PRINCIPAL", summary: "create a client; its secret is shown once", run: clientCreate},
			{name: "list", summary: "list clients", run: clientList},
			{name: "show", args: "CLIENT_ID", summary: "show a client", run: clientShow},
			{name: "revoke", args: "CLIENT_ID", summary: "revoke a client and all its tokens", run: clientRevoke},
			{name: "rotate-secret", args: "CLIENT_ID", summary: "give a client a new secret, shown once (to an admin credential only)", run: clientRotateSecret},
		}},
		{name: "key", summary: "manage signing keys and key rings", sub: []*command{
			{name: "list", summary: "list signing keys", run: keyList},
			{name: "rotate", args: "RING", summary: "make a ring's next key sign now", run: keyRotate},
			{name: "revoke", args: "KID", summary: "revoke a key; its tokens stop verifying", run: keyRevoke},
			{name: "ring", summary: "manage key rings", sub: []*command{
				{name: "create", args: "NAME", summary: "create a ring", run: ringCreate},
				{name: "list", summary: "list rings", run: ringList},
			}},
		}},
		{name: "token", summary: "inspect and revoke issued tokens", sub: []*command{
			{name: "list", summary: "list issuance records, newest first", run: tokenList},
			{name: "revoke", args: "JTI", summary: "revoke one token", run: tokenRevoke},
		}},
		subjectCommands(),
		auditCommands(),
		scimCommands(),
		ssfCommands(),
		pendingCommands(),
		ledgerCommands(),
		scopeCommand(),
		alertCommands(),
		{name: "healthcheck", summary: "exit 0 if the server answers /healthz with 200, 1 if not [--url URL]", run: healthcheck},
		{name: "doctor", summary: "report credentials, keys and custody that break policy; exits 1 if anything is found", run: doctor},
	}
	// Commands kept in their own files: principal lifecycle, offboarding,
	// custody and credentials.
	root.sub = append(root.sub, peopleCommands()...)
	root.sub = append(root.sub,
		&command{name: "version", summary: "print the version, commit and build date", run: version},
		completionCommands(),
		&command{name: "help", args: "[COMMAND...]", summary: "show the commands of a group, or a command's usage and flags", run: help},
	)
}

// dispatch finds the command args name and runs it. Help is asked for
// with "help PATH", with -h or --help anywhere, or by naming a group
// alone (then as an error).
func dispatch(ctx context.Context, args []string, env Env) error {
	global, args, err := leadingFlags(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		printHelp(env.Stderr, root, nil)
		return usagef("missing command")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printHelp(env.Stdout, root, nil)
		return nil
	case "-version", "--version":
		return version(ctx, append(global, args[1:]...), env)
	}
	c, path, rest := walk(args)
	switch {
	case c == root:
		return usagef("unknown command %q; run 'mayfly help'", args[0])
	case c.run == nil && len(rest) == 0:
		printHelp(env.Stderr, c, path)
		return usagef("%s needs a subcommand", strings.Join(path, " "))
	case c.run == nil && isHelpFlag(rest[0]):
		printHelp(env.Stdout, c, path)
		return nil
	case c.run == nil:
		return usagef("unknown command %q; run 'mayfly help %s'", strings.Join(append(path, rest[0]), " "), strings.Join(path, " "))
	}
	err = c.run(ctx, append(global, rest...), env)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(env.Stdout, c, path)
		return nil
	}
	return err
}

// walk follows args down the tree as far as they name commands, and
// returns the command reached, its path and the args left.
func walk(args []string) (*command, []string, []string) {
	c, path := root, []string(nil)
	// A command that runs may have subcommands too (scope, scope diff).
	for len(args) > 0 {
		next := c.child(args[0])
		if next == nil {
			break
		}
		c, path, args = next, append(path, args[0]), args[1:]
	}
	return c, path, args
}

func (c *command) child(name string) *command {
	for _, s := range c.sub {
		if s.name == name {
			return s
		}
	}
	return nil
}

func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// leadingFlags takes the global flags given before the command, as in
// "mayfly --json client list", to be handed to the command after its
// name.
func leadingFlags(args []string) (global, rest []string, err error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch {
		case name == "json":
			global, args = append(global, args[0]), args[1:]
		case name == "addr" || name == "token":
			if !hasValue && len(args) < 2 {
				return nil, nil, usagef("--%s needs a value", name)
			}
			n := 1
			if !hasValue {
				n = 2
			}
			global, args = append(global, args[:n]...), args[n:]
		case name == "h" || name == "help" || name == "version":
			return global, args, nil
		default:
			return nil, nil, usagef("unknown flag %s before the command; run 'mayfly help'", args[0])
		}
	}
	return global, args, nil
}

// flags is a flag set that allows flags after positional arguments, as in
// "principal create alice --kind human".
type flags struct {
	*flag.FlagSet
	pos      []string
	describe func(*flags)
	// global names the flags every admin command shares (--addr, --token,
	// --json), which help lists apart from the command's own.
	global map[string]bool
}

func newFlags(name string, env Env) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors come back as one line from Run; help is printed by dispatch.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, describe: env.describe}
}

// errDescribed is what parse returns when it was only asked for the flags.
var errDescribed = errors.New("flags described")

func (f *flags) parse(args []string) error {
	if f.describe != nil {
		f.describe(f)
		return errDescribed
	}
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usagef("%s; see 'mayfly %s --help'", f.explain(err), f.Name())
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
		return usagef("%s takes %s; see 'mayfly %s --help'", f.Name(), names, f.Name())
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
	f.StringVar(&a.addr, "addr", firstNonEmpty(env.Getenv("MAYFLY_ADDR"), "127.0.0.1:8740"), "server address or URL; MAYFLY_ADDR sets the default")
	// The credential's default is looked up when it is needed, not shown
	// as the flag's default: help text must never print it.
	f.StringVar(&a.token, "token", "", "admin credential; default: MAYFLY_TOKEN, else the contents of MAYFLY_DATA/admin.token (never printed)")
	f.BoolVar(&a.json, "json", false, "print JSON")
	f.global = map[string]bool{"addr": true, "token": true, "json": true}
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
