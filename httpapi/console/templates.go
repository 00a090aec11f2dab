package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// pageNames are the pages, each templates/<name>.html with the layout.
var pageNames = []string{"login", "error", "overview", "rings", "ring", "confirm", "people", "person", "offboard", "report",
	"tokens", "audit", "alerts", "alertlist"}

var funcs = template.FuncMap{
	"dur":   human,
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"join":  strings.Join,
	"add":   func(a, b int) int { return a + b },
	"sub":   func(a, b int64) int64 { return a - b },
	"int":   func(n uint64) int { return int(n) },
	"half":  func(n int) int { return n/2 - 12 },
	"keys":  sortedKeys[string],
	"short": func(s string, n int) string { return short(s, n) },
	"str":   func(v any) string { return fmt.Sprint(v) },
	"zero":  func(t time.Time) bool { return t.IsZero() },
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html", "templates/"+n+".html")
		if err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, nil
}

// human writes a duration for people: the two largest units.
func human(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		s = fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		s = fmt.Sprintf("%dm %ds", d/time.Minute, d%time.Minute/time.Second)
	default:
		s = fmt.Sprintf("%ds", d/time.Second)
	}
	if neg {
		return "-" + s
	}
	return s
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
