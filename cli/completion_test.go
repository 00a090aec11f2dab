package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestBashCompletesEveryCommand: the bash script completes every group's
// subcommands and every command's flags, as the tree has them, so a new
// command needs nothing more than its place in the tree.
func TestBashCompletesEveryCommand(t *testing.T) {
	var script bytes.Buffer
	if err := writeCompletion(&script, "bash"); err != nil {
		t.Fatal(err)
	}
	// The scripts quote names as Go does; that is shell quoting only for
	// names of these characters.
	name := regexp.MustCompile(`^-{0,2}[a-z0-9][a-z0-9-]*$`)
	type check struct {
		words []string
		want  []string
	}
	var checks []check
	var walkTree func(c *command, path []string)
	walkTree = func(c *command, path []string) {
		if c.run == nil {
			var want []string
			for _, s := range c.sub {
				want = append(want, s.name)
				walkTree(s, append(path[:len(path):len(path)], s.name))
			}
			checks = append(checks, check{append(path[:len(path):len(path)], ""), want})
			return
		}
		if c.name == "help" {
			return // "help" completes as what follows it does
		}
		f, err := describe(c)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"--help"}
		f.VisitAll(func(fl *flag.Flag) { want = append(want, dashed(fl.Name)) })
		checks = append(checks, check{append(path[:len(path):len(path)], "-"), want})
	}
	walkTree(root, nil)
	if len(checks) < 60 {
		t.Fatalf("%d checks; the tree has more commands than that", len(checks))
	}
	script.WriteString("\ntry() { COMP_WORDS=(mayfly \"$@\"); COMP_CWORD=$#; COMPREPLY=(); _mayfly; echo \"${COMPREPLY[*]}\"; }\n")
	for _, c := range checks {
		for _, w := range append(c.words[:len(c.words)-1:len(c.words)-1], c.want...) {
			if !name.MatchString(w) {
				t.Errorf("%q cannot go unquoted into a completion script", w)
			}
		}
		fmt.Fprintf(&script, "try %s '%s'\n", strings.Join(c.words[:len(c.words)-1], " "), c.words[len(c.words)-1])
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash here")
	}
	cmd := exec.Command("bash", "--norc", "--noprofile")
	cmd.Stdin = &script
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(checks) {
		t.Fatalf("bash printed %d lines for %d checks:\n%s", len(lines), len(checks), out)
	}
	for i, c := range checks {
		got := strings.Fields(lines[i])
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("mayfly %s<TAB>: got %q; want %q", strings.Join(c.words, " "), got, want)
		}
	}
}
