package pgtest

import "testing"

func TestWithParam(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://mayfly@/mayfly?host=/tmp/pg", "postgres://mayfly@/mayfly?host=%2Ftmp%2Fpg&search_path=t_1"},
		{"postgres://mayfly@localhost:5432/mayfly", "postgres://mayfly@localhost:5432/mayfly?search_path=t_1"},
		{"postgresql://u:p%40ss@db/x?sslmode=disable", "postgresql://u:p%40ss@db/x?search_path=t_1&sslmode=disable"},
		{"host=/tmp/pg dbname=mayfly ", "host=/tmp/pg dbname=mayfly search_path=t_1"},
	}
	for _, tt := range tests {
		got, err := withParam(tt.dsn, "search_path", "t_1")
		if err != nil {
			t.Errorf("withParam(%q): %v", tt.dsn, err)
			continue
		}
		if got != tt.want {
			t.Errorf("withParam(%q): got %q, want %q", tt.dsn, got, tt.want)
		}
	}
}
