package cli

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Text output is tables and name/value lines written through the
// tabwriter of adminFlags.print, which aligns columns by counting runes:
// a name of letters with accents, one rune each, lines up; one of wide
// East Asian characters or combining marks is as wide as its runes, not
// as its glyphs, and the columns after it shift.

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func join(ss []string) string { return dash(strings.Join(ss, " ")) }

// label shows an ID with the name it stands for first, "alice
// (prn_fw7f...)", so that people read the name and scripts and commands
// still get the whole ID. An ID without a name (unknown, gone, or
// "mayfly") shows alone; no ID shows as "-".
func label(name, id string) string {
	switch {
	case id == "":
		return "-"
	case name == "" || name == id:
		return cell(id)
	}
	return cell(name) + " (" + cell(id) + ")"
}

// cell makes text fit in one cell of a table: a tab or a line break in a
// name or reason would split the row, and other control characters would
// reach the terminal. They are shown escaped instead.
func cell(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// row writes one table row: its cells, each made safe, separated by tabs.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, cell(c))
	}
	io.WriteString(w, "\n")
}
