package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// help is "mayfly help [COMMAND...]": the same as COMMAND --help.
func help(ctx context.Context, args []string, env Env) error {
	f := newFlags("help", env)
	if err := f.parse(args); err != nil {
		return err
	}
	c, path, rest := walk(f.pos)
	if len(rest) > 0 {
		at := "mayfly help"
		if len(path) > 0 {
			at += " " + strings.Join(path, " ")
		}
		return usagef("unknown command %q; run '%s'", strings.Join(append(path, rest[0]), " "), at)
	}
	printHelp(env.Stdout, c, path)
	return nil
}

// printHelp writes the help of a group (its usage and every command
// below it) or of a command (its usage and flags).
func printHelp(w io.Writer, c *command, path []string) {
	name := strings.Join(append([]string{"mayfly"}, path...), " ")
	if c.run != nil {
		printCommandHelp(w, c, name)
		return
	}
	if c == root {
		fmt.Fprintln(w, "usage: mayfly COMMAND [flags]")
		fmt.Fprintln(w, "\nMayfly issues short-lived tokens from short-lived signing keys, and tracks and revokes")
		fmt.Fprintln(w, "every credential a person owns or could have seen.")
	} else {
		fmt.Fprintf(w, "usage: %s COMMAND\n\n%s.\n", name, capitalize(c.summary))
	}
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	var list func(*command, []string)
	list = func(c *command, path []string) {
		for _, s := range c.sub {
			p := append(path[:len(path):len(path)], s.name)
			if s.run != nil {
				fmt.Fprintf(tw, "  %s\t%s\n", strings.Join(p, " "), s.summary)
			}
			list(s, p)
		}
	}
	list(c, path)
	tw.Flush()
	if c == root {
		fmt.Fprintln(w, "\nGlobal flags, taken by every command that calls the server, before or after its name:")
		f := newFlags("", Env{Getenv: func(string) string { return "" }})
		(&adminFlags{}).register(f, Env{Getenv: func(string) string { return "" }})
		printFlags(w, f, func(string) bool { return true })
		fmt.Fprintln(w, "\nOther flags:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  -h, --help\tshow this help; after a command, that command's usage and flags")
		fmt.Fprintln(tw, "  --version\tprint the version, as 'mayfly version' does")
		tw.Flush()
		fmt.Fprintln(w, "\nRun 'mayfly help COMMAND' or 'mayfly COMMAND --help' for a command's usage and flags.")
		return
	}
	fmt.Fprintf(w, "\nRun 'mayfly help %s COMMAND' or '%s COMMAND --help' for a command's usage and flags.\n", strings.Join(path, " "), name)
}

func printCommandHelp(w io.Writer, c *command, name string) {
	f, err := describe(c)
	usage := "usage: " + name
	if c.args != "" {
		usage += " " + c.args
	}
	if err == nil && hasFlags(f) {
		usage += " [flags]"
	}
	fmt.Fprintf(w, "%s\n\n%s.\n", usage, capitalize(c.summary))
	if len(c.sub) > 0 {
		// A command that runs and has subcommands too (scope).
		fmt.Fprintln(w, "\nCommands:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, s := range c.sub {
			fmt.Fprintf(tw, "  %s %s\t%s\n", name, s.name, s.summary)
		}
		tw.Flush()
	}
	if err != nil {
		return
	}
	own := func(name string) bool { return !f.global[name] }
	if hasFlagsWhere(f, own) {
		fmt.Fprintln(w, "\nFlags:")
		printFlags(w, f, own)
	}
	if len(f.global) > 0 {
		fmt.Fprintln(w, "\nGlobal flags:")
		printFlags(w, f, func(name string) bool { return f.global[name] })
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// describe returns the flags c parses, without running it.
func describe(c *command) (*flags, error) {
	if c.run == nil {
		return nil, fmt.Errorf("%s is a group", c.name)
	}
	var got *flags
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" },
		describe: func(f *flags) { got = f }}
	// A command that did not ask for its flags first would run: with a
	// cancelled context it can at least reach nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.run(ctx, nil, env); !errors.Is(err, errDescribed) || got == nil {
		return nil, fmt.Errorf("command %s does not parse its flags before anything else", c.name)
	}
	return got, nil
}

func hasFlags(f *flags) bool { return hasFlagsWhere(f, func(string) bool { return true }) }

func hasFlagsWhere(f *flags, include func(string) bool) bool {
	found := false
	f.VisitAll(func(fl *flag.Flag) { found = found || include(fl.Name) })
	return found
}

// printFlags lists flags as they are typed: --name for a long flag, -n
// for a one-letter one (Go's flag package prints one dash for both).
func printFlags(w io.Writer, f *flags, include func(string) bool) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	f.VisitAll(func(fl *flag.Flag) {
		if !include(fl.Name) {
			return
		}
		typ, usage := flagType(fl)
		spelled := dashed(fl.Name)
		if typ != "" {
			spelled += " " + typ
		}
		if !isZero(fl) {
			usage += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", spelled, usage)
	})
	tw.Flush()
}

// dashed spells a flag's name as it is typed.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagType names the kind of value a flag takes ("" for a switch), and
// returns its usage without the back quotes that may name it.
func flagType(fl *flag.Flag) (string, string) {
	name, usage := flag.UnquoteUsage(fl)
	if t, ok := fl.Value.(interface{ Type() string }); ok && !strings.Contains(fl.Usage, "`") {
		name = t.Type()
	}
	return name, usage
}

func isZero(fl *flag.Flag) bool {
	switch fl.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}
