package mayfly_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
)

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"2160h", 90 * 24 * time.Hour, true},
		{"36h30m", 36*time.Hour + 30*time.Minute, true},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"0", 0, false},
		{"-1h", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := mayfly.ParseAge(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseAge(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
