package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestHelpOfEveryCommand: for every group and command of the tree, "help
// PATH", "PATH --help" and "PATH -h" print the same help: a group's lists
// exactly the commands below it, a command's usage line names it. No help
// spells a long flag with one dash.
func TestHelpOfEveryCommand(t *testing.T) {
	oneDash := regexp.MustCompile(`(^|[\s\[(])-[a-z][a-z-]+`)
	var visit func(c *command, path []string)
	visit = func(c *command, path []string) {
		name := strings.Join(path, " ")
		code, help, stderr := runCLI(append([]string{"help"}, path...)...)
		if code != 0 || stderr != "" {
			t.Errorf("mayfly help %s: exit %d, stderr %q", name, code, stderr)
		}
		for _, asked := range []string{"--help", "-h"} {
			if _, out, _ := runCLI(append(path[:len(path):len(path)], asked)...); out != help {
				t.Errorf("mayfly %s %s differs from mayfly help %s:\n%s\nwant:\n%s", name, asked, name, out, help)
			}
		}
		if m := oneDash.FindString(help); m != "" {
			t.Errorf("mayfly help %s spells a flag with one dash: %q", name, m)
		}
		usage, _, _ := strings.Cut(help, "\n")
		if c.run != nil {
			want := "usage: mayfly " + name
			if c.args != "" {
				want += " " + c.args
			}
			if usage != want && usage != want+" [flags]" {
				t.Errorf("mayfly help %s: usage line %q; want %q", name, usage, want+" [flags]")
			}
			if _, err := describe(c); err != nil {
				t.Error(err)
			}
			return
		}
		var listed, want []string
		for _, line := range strings.Split(help, "\n") {
			if fields := strings.Fields(line); strings.HasPrefix(line, "  ") && len(fields) > 0 && !strings.HasPrefix(fields[0], "-") {
				listed = append(listed, line)
			}
		}
		var leaves func(c *command, p string)
		leaves = func(c *command, p string) {
			for _, s := range c.sub {
				if s.run != nil {
					want = append(want, strings.TrimSpace(p+" "+s.name))
				}
				leaves(s, strings.TrimSpace(p+" "+s.name))
			}
		}
		leaves(c, name)
		if len(listed) != len(want) {
			t.Errorf("mayfly help %s lists %d commands; want %d: %q", name, len(listed), len(want), want)
		}
		for i := range min(len(listed), len(want)) {
			if !strings.HasPrefix(listed[i], "  "+want[i]+"  ") {
				t.Errorf("mayfly help %s: line %q; want command %q", name, listed[i], want[i])
			}
		}
		for _, s := range c.sub {
			visit(s, append(path[:len(path):len(path)], s.name))
		}
	}
	visit(root, nil)
}
