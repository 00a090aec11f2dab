package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's commands are checked two ways. TestReadmeCommands: every
// mayfly command it shows, in a code block or in running text, is a
// command of the tree, with flags that command takes, and appears in its
// help. TestReadmeWalkthroughs: every shell block names the transcript in
// testdata/script that runs it (an HTML comment, <!-- transcript: NAME
// -->, on the line before it), and each of the block's mayfly and curl
// commands is a command of that transcript, so neither can drift from the
// other. A block that cannot run here says why instead: <!-- not run: WHY -->.

type readmeBlock struct {
	lang, marker, text string
	line               int
}

var markerRE = regexp.MustCompile(`^<!-- (transcript: (\S+)|not run: .+) -->$`)

// readReadme returns the README's fenced code blocks, and its text outside
// them.
func readReadme(t *testing.T) ([]readmeBlock, string) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var prose []string
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(trimmed, "```") {
			prose = append(prose, lines[i])
			continue
		}
		b := readmeBlock{lang: strings.TrimPrefix(trimmed, "```"), line: i + 1}
		for j := len(prose) - 1; j >= 0; j-- {
			if p := strings.TrimSpace(prose[j]); p != "" {
				if markerRE.MatchString(p) {
					b.marker = p
				}
				break
			}
		}
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], strings.Repeat(" ", indent)))
		}
		b.text = strings.Join(body, "\n")
		blocks = append(blocks, b)
		prose = append(prose, "")
	}
	return blocks, strings.Join(prose, "\n")
}

// anyWord stands in for a command substitution: it matches any word.
const anyWord = "\x00"

// shellCommands splits shell text into its simple commands, each a list
// of words with quoting removed. Command substitutions are commands of
// their own, and anyWord in the word they stood in. Redirections and
// comments are left out.
func shellCommands(s string) [][]string {
	l := &shellLexer{s: s}
	l.list(false)
	return l.cmds
}

type shellLexer struct {
	s    string
	i    int
	cmds [][]string
}

func (l *shellLexer) list(nested bool) {
	var words []string
	var word strings.Builder
	inWord, redirect := false, false
	endWord := func() {
		if inWord && !redirect {
			words = append(words, strings.Join(strings.Fields(word.String()), " "))
		}
		redirect = redirect && !inWord
		word.Reset()
		inWord = false
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			l.cmds = append(l.cmds, words)
		}
		words, redirect = nil, false
	}
	for l.i < len(l.s) {
		c, rest := l.s[l.i], l.s[l.i:]
		switch {
		case strings.HasPrefix(rest, "\\\n"):
			l.i += 2
		case c == '\\' && len(rest) > 1:
			word.WriteByte(rest[1])
			inWord, l.i = true, l.i+2
		case c == '\'':
			end := strings.IndexByte(rest[1:], '\'')
			if end < 0 {
				end = len(rest) - 1
			}
			word.WriteString(rest[1 : 1+end])
			inWord, l.i = true, l.i+end+2
		case c == '"':
			inWord, l.i = true, l.i+1
			for l.i < len(l.s) && l.s[l.i] != '"' {
				switch {
				case strings.HasPrefix(l.s[l.i:], "$("):
					l.i += 2
					l.list(true)
					word.WriteString(anyWord)
				case l.s[l.i] == '\\' && l.i+1 < len(l.s):
					word.WriteByte(l.s[l.i+1])
					l.i += 2
				default:
					word.WriteByte(l.s[l.i])
					l.i++
				}
			}
			l.i++
		case strings.HasPrefix(rest, "$(") || strings.HasPrefix(rest, "<("):
			l.i += 2
			l.list(true)
			word.WriteString(anyWord)
			inWord = true
		case c == ')' && nested:
			l.i++
			endCommand()
			return
		case c == '#' && !inWord:
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
		case c == ' ' || c == '\t':
			endWord()
			l.i++
		case c == '\n' || c == ';' || c == '|' || c == '&':
			endCommand()
			l.i++
		case c == '>' || c == '<':
			endWord()
			redirect, l.i = true, l.i+1
		default:
			word.WriteByte(c)
			inWord, l.i = true, l.i+1
		}
	}
	endCommand()
}

// program returns which program a command runs, mayfly or curl, and its
// arguments; "" for any other.
func program(words []string) (string, []string) {
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
		words = words[1:]
	}
	switch {
	case len(words) == 0:
		return "", nil
	case words[0] == "mayfly" || words[0] == "./mayfly":
		return "mayfly", words[1:]
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/mayfly":
		return "mayfly", words[3:]
	case words[0] == "curl":
		return "curl", words[1:]
	}
	return "", nil
}

// referenceCommands reads a line of a command reference, such as
// "mayfly key list [--ring R] | rotate RING": each alternative after the
// first is a sibling of the first command. Brackets, parentheses,
// comments and redirections are dropped.
func referenceCommands(line string) [][]string {
	line, _, _ = strings.Cut(line, " #")
	line, _, _ = strings.Cut(line, " > ")
	var alts []string
	depth, start := 0, 0
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '(' || line[i] == '[':
			depth++
		case line[i] == ')' || line[i] == ']':
			depth--
		case depth == 0 && strings.HasPrefix(line[i:], " | "):
			alts, start = append(alts, line[start:i]), i+3
		}
	}
	alts = append(alts, line[start:])
	var cmds [][]string
	var parent []string
	for n, alt := range alts {
		var words []string
		for _, w := range quotedFields(strings.NewReplacer("(", " ", ")", " ", "[", " ", "]", " ").Replace(alt)) {
			if w != "|" {
				words = append(words, w)
			}
		}
		if n == 0 {
			// "mayfly COMMAND --help" stands for any command.
			if len(words) < 2 || words[0] != "mayfly" || words[1] == strings.ToUpper(words[1]) {
				return nil
			}
			words = words[1:]
			_, path, _ := walk(words)
			if len(path) > 0 {
				parent = path[:len(path)-1]
			}
		} else {
			words = append(parent[:len(parent):len(parent)], words...)
		}
		cmds = append(cmds, words)
	}
	return cmds
}

// quotedFields splits s at spaces outside double quotes, and drops the
// quotes.
func quotedFields(s string) []string {
	var fields []string
	for i, part := range strings.Split(s, `"`) {
		if i%2 == 1 {
			fields = append(fields, part)
		} else {
			fields = append(fields, strings.Fields(part)...)
		}
	}
	return fields
}

// readmeCommands returns every mayfly command the README shows, with where.
func readmeCommands(t *testing.T) map[string][]string {
	blocks, prose := readReadme(t)
	cmds := map[string][]string{}
	for _, b := range blocks {
		switch b.lang {
		case "sh":
			for _, words := range shellCommands(b.text) {
				if prog, args := program(words); prog == "mayfly" {
					cmds[fmt.Sprintf("line %d: mayfly %s", b.line, strings.Join(args, " "))] = args
				}
			}
		case "":
			for n, line := range strings.Split(b.text, "\n") {
				for _, args := range referenceCommands(strings.TrimSpace(line)) {
					cmds[fmt.Sprintf("line %d: %s", b.line+1+n, strings.TrimSpace(line))+" ("+strings.Join(args, " ")+")"] = args
				}
			}
		}
	}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(prose, -1) {
		span := strings.Join(strings.Fields(m[1]), " ")
		for _, args := range referenceCommands(span) {
			cmds["`"+span+"` ("+strings.Join(args, " ")+")"] = args
		}
	}
	return cmds
}

func TestReadmeCommands(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 60 {
		t.Fatalf("found %d mayfly commands in the README; it has more", len(cmds))
	}
	for where, args := range cmds {
		if err := checkCommand(args); err != nil {
			t.Errorf("README %s: %v", where, err)
		}
	}
}

// checkCommand says what is wrong with a command line (without the
// program name): a path that is not in the tree, a flag the command does
// not take, or more arguments than it takes. Its help must show each flag.
func checkCommand(args []string) error {
	c, path, rest := walk(args)
	if c == root {
		return fmt.Errorf("no command %q", strings.Join(args, " "))
	}
	if c.run == nil {
		if len(rest) == 0 {
			return nil // a group named in running text
		}
		if alts := strings.Split(rest[0], "|"); len(alts) > 1 {
			for _, alt := range alts {
				if err := checkCommand(append(append(path[:len(path):len(path)], alt), rest[1:]...)); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("%s has no command %q", strings.Join(path, " "), rest[0])
	}
	f, err := describe(c)
	if err != nil {
		return err
	}
	_, help, _ := runCLI(append([]string{"help"}, path...)...)
	positional := 0
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		if w == "--" {
			positional += len(rest) - i - 1
			break
		}
		// A quoted word with a space is an argument, even one of flags
		// (scope diff's queries).
		if !strings.HasPrefix(w, "-") || w == "-" || strings.Contains(w, " ") {
			positional++
			continue
		}
		names := strings.Split(w, "/") // --client/--kid in running text
		for _, n := range names {
			name, _, hasValue := strings.Cut(strings.TrimLeft(n, "-"), "=")
			fl := f.Lookup(name)
			if fl == nil {
				return fmt.Errorf("%s has no flag %s", strings.Join(path, " "), dashed(name))
			}
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(dashed(name)) + `\b`).MatchString(help) {
				return fmt.Errorf("mayfly help %s does not show %s", strings.Join(path, " "), dashed(name))
			}
			if typ, _ := flagType(fl); typ != "" && !hasValue && len(names) == 1 {
				i++ // its value
			}
		}
	}
	if most := maxArgs(c.args); positional > most {
		return fmt.Errorf("%s takes at most %d arguments (%s), given %d", strings.Join(path, " "), most, c.args, positional)
	}
	return nil
}

// maxArgs counts the positional arguments a usage synopsis allows.
func maxArgs(synopsis string) int {
	words := strings.Fields(strings.NewReplacer("(", " ", ")", " ", "[", " ", "]", " ").Replace(synopsis))
	n := 0
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "|":
		case strings.HasSuffix(w, "..."):
			return 1 << 20
		case strings.HasPrefix(w, "-"):
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") && words[i+1] != "|" {
				i++
			}
		default:
			n++
		}
	}
	return n
}

func TestReadmeWalkthroughs(t *testing.T) {
	blocks, _ := readReadme(t)
	checked := 0
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		m := markerRE.FindStringSubmatch(b.marker)
		switch {
		case m == nil:
			t.Errorf("README line %d: a shell block without <!-- transcript: NAME --> or <!-- not run: WHY --> before it", b.line)
			continue
		case m[2] == "":
			continue // not run, and says why
		}
		script, err := os.ReadFile(filepath.Join("testdata", "script", m[2]))
		if err != nil {
			t.Errorf("README line %d: %v", b.line, err)
			continue
		}
		var have [][]string
		for _, line := range strings.Split(string(script), "\n") {
			if strings.HasPrefix(line, "-- ") {
				break // the files of the archive
			}
			line = regexp.MustCompile(`^\s*((!|\[[^\]]*\])\s+)*`).ReplaceAllString(line, "")
			if cmds := shellCommands(line); len(cmds) > 0 {
				if prog, _ := program(cmds[0]); prog != "" {
					have = append(have, cmds[0])
				}
			}
		}
		for _, words := range shellCommands(b.text) {
			prog, _ := program(words)
			if prog == "" {
				continue
			}
			checked++
			if words[0] == "go" {
				words = words[2:]
			}
			words[0] = prog
			if !hasCommand(have, words) {
				t.Errorf("README line %d: %s has no command %q", b.line, m[2], strings.ReplaceAll(strings.Join(words, " "), anyWord, "$(...)"))
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d commands of the README's walkthroughs; it has more", checked)
	}
}

// hasCommand reports whether a transcript has the README's command: the
// same words, where the README's server address is the transcript's
// $ISSUER and a command substitution matches any word.
func hasCommand(have [][]string, want []string) bool {
	var res []*regexp.Regexp
	for _, w := range want {
		w = strings.ReplaceAll(w, "http://127.0.0.1:8740", "$ISSUER")
		parts := strings.Split(w, anyWord)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		res = append(res, regexp.MustCompile("^"+strings.Join(parts, ".+")+"$"))
	}
	for _, h := range have {
		if len(h) != len(want) {
			continue
		}
		match := true
		for i := range h {
			match = match && res[i].MatchString(h[i])
		}
		if match {
			return true
		}
	}
	return false
}
