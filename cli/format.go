package cli

import (
	"strings"
	"time"
)

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
