package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

func completionCommands() *command {
	c := &command{name: "completion", summary: "print a shell completion script for commands, subcommands and flags"}
	for _, sh := range []struct{ name, load string }{
		{"bash", "source <(mayfly completion bash)"},
		{"zsh", "source <(mayfly completion zsh), after compinit"},
		{"fish", "mayfly completion fish | source"},
	} {
		c.sub = append(c.sub, &command{name: sh.name, summary: "print the " + sh.name + " completion script; load it with " + sh.load,
			run: func(ctx context.Context, args []string, env Env) error {
				f := newFlags("completion "+sh.name, env)
				if err := f.parse(args); err != nil {
					return err
				}
				if err := f.args(0, "no arguments"); err != nil {
					return err
				}
				return writeCompletion(env.Stdout, sh.name)
			}})
	}
	return c
}

// completionTable is what a script completes: the words that may follow
// each group's path, and the flags of each path. It is made from the
// command tree, so a new command is completed as soon as it is added.
type completionTable struct {
	paths []string // in tree order, "" first
	words map[string][]string
	flags map[string][]string
}

func newCompletionTable() (*completionTable, error) {
	t := &completionTable{words: map[string][]string{}, flags: map[string][]string{}}
	var add func(c *command, path string) error
	add = func(c *command, path string) error {
		t.paths = append(t.paths, path)
		if c.run == nil {
			for _, s := range c.sub {
				t.words[path] = append(t.words[path], s.name)
			}
			t.flags[path] = []string{"--help"}
			for _, s := range c.sub {
				if err := add(s, strings.TrimSpace(path+" "+s.name)); err != nil {
					return err
				}
			}
			return nil
		}
		f, err := describe(c)
		if err != nil {
			return err
		}
		f.VisitAll(func(fl *flag.Flag) { t.flags[path] = append(t.flags[path], dashed(fl.Name)) })
		t.flags[path] = append(t.flags[path], "--help")
		return nil
	}
	if err := add(root, ""); err != nil {
		return nil, err
	}
	t.flags[""] = []string{"--addr", "--token", "--json", "--help", "--version"}
	return t, nil
}

func writeCompletion(w io.Writer, shell string) error {
	t, err := newCompletionTable()
	if err != nil {
		return err
	}
	var b strings.Builder
	switch shell {
	case "bash":
		b.WriteString("# bash completion for mayfly, made by 'mayfly completion bash'.\n")
		b.WriteString("# Load it with: source <(mayfly completion bash)\n\n")
		t.shCase(&b, "_mayfly_words", t.words)
		t.shCase(&b, "_mayfly_flags", t.flags)
		b.WriteString(bashMain)
	case "zsh":
		b.WriteString("#compdef mayfly\n")
		b.WriteString("# zsh completion for mayfly, made by 'mayfly completion zsh'.\n")
		b.WriteString("# Load it with: source <(mayfly completion zsh), after compinit;\n")
		b.WriteString("# or save it as _mayfly in a directory of $fpath.\n\n")
		t.shCase(&b, "_mayfly_words", t.words)
		t.shCase(&b, "_mayfly_flags", t.flags)
		b.WriteString(zshMain)
	case "fish":
		b.WriteString("# fish completion for mayfly, made by 'mayfly completion fish'.\n")
		b.WriteString("# Load it with: mayfly completion fish | source;\n")
		b.WriteString("# or save it as ~/.config/fish/completions/mayfly.fish\n\n")
		t.fishSwitch(&b, "__mayfly_words", t.words)
		t.fishSwitch(&b, "__mayfly_flags", t.flags)
		b.WriteString(fishMain)
	default:
		return usagef("no completion for %s: bash, zsh or fish", shell)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// shCase writes a function that prints the words for the path given as
// its argument; bash and zsh read the same case statement.
func (t *completionTable) shCase(b *strings.Builder, name string, m map[string][]string) {
	fmt.Fprintf(b, "%s() {\n\tcase \"$1\" in\n", name)
	for _, p := range t.paths {
		if ws := m[p]; len(ws) > 0 {
			fmt.Fprintf(b, "\t%q) printf '%%s\\n' %q ;;\n", p, strings.Join(ws, " "))
		}
	}
	b.WriteString("\tesac\n}\n\n")
}

func (t *completionTable) fishSwitch(b *strings.Builder, name string, m map[string][]string) {
	fmt.Fprintf(b, "function %s\n\tswitch \"$argv[1]\"\n", name)
	for _, p := range t.paths {
		if ws := m[p]; len(ws) > 0 {
			fmt.Fprintf(b, "\t\tcase %q\n\t\t\tprintf '%%s\\n' %s\n", p, strings.Join(ws, " "))
		}
	}
	b.WriteString("\tend\nend\n\n")
}

// Each script walks the words typed so far: a word that names a
// subcommand of the path so far extends it, anything else (flag values,
// arguments) is passed over; "help" first completes like what follows it.
const bashMain = `_mayfly() {
	local cur="${COMP_WORDS[COMP_CWORD]}" p="" w i
	for ((i = 1; i < COMP_CWORD; i++)); do
		w="${COMP_WORDS[i]}"
		if [[ -z $p && $w == help ]]; then continue; fi
		if [[ " $(_mayfly_words "$p") " == *" $w "* ]]; then p="${p:+$p }$w"; fi
	done
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_mayfly_flags "$p")" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$(_mayfly_words "$p")" -- "$cur"))
	fi
}
complete -F _mayfly mayfly
`

const zshMain = `_mayfly() {
	local p="" w
	local -i i
	for ((i = 2; i < CURRENT; i++)); do
		w="${words[i]}"
		if [[ -z $p && $w == help ]]; then continue; fi
		if [[ " $(_mayfly_words "$p") " == *" $w "* ]]; then p="${p:+$p }$w"; fi
	done
	local -a cands
	if [[ ${words[CURRENT]} == -* ]]; then
		cands=(${=$(_mayfly_flags "$p")})
	else
		cands=(${=$(_mayfly_words "$p")})
	fi
	compadd -- $cands
}
if [[ $funcstack[1] == _mayfly ]]; then
	_mayfly "$@"
else
	compdef _mayfly mayfly
fi
`

const fishMain = `function __mayfly_complete
	set -l p ""
	for w in (commandline -opc)[2..-1]
		if test -z "$p" -a "$w" = help
			continue
		end
		if contains -- $w (__mayfly_words "$p")
			set p (string trim -- "$p $w")
		end
	end
	if string match -q -- '-*' (commandline -ct)
		__mayfly_flags "$p"
	else
		__mayfly_words "$p"
	end
end

complete -c mayfly -f -a '(__mayfly_complete)'
`
