package cli

import "testing"

func TestLabel(t *testing.T) {
	tests := []struct{ name, id, want string }{
		{"alice", "prn_fw7f", "alice (prn_fw7f)"},
		{"", "prn_gone", "prn_gone"},   // unknown or deleted: the ID alone
		{"mayfly", "mayfly", "mayfly"}, // a name that is its own ID
		{"", "", "-"},
		{"Zoë\tx", "adm_1", `Zoë\tx (adm_1)`}, // a tab would split the table's row
	}
	for _, tt := range tests {
		if got := label(tt.name, tt.id); got != tt.want {
			t.Errorf("label(%q, %q) = %q, want %q", tt.name, tt.id, got, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ærøskøbing-api", "Ærøskøbing-api"},
		{"two\nlines", `two\nlines`},
		{"bell\a and \x1b[31mred", `bell\a and \x1b[31mred`},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
