package deploy_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEnvironmentNames: every MAYFLY_* variable the image and the
// Kubernetes manifests set names a serve flag; serve would ignore a
// misspelt one, and start with a default instead.
func TestEnvironmentNames(t *testing.T) {
	flags, _ := load(t, "")
	sources := []struct {
		file string
		re   *regexp.Regexp
	}{
		{"kubernetes/deployment.yaml", regexp.MustCompile(`(?m)^[\s#]*- name: (MAYFLY_[A-Z0-9_]+)\s*$`)},
		{"../Dockerfile", regexp.MustCompile(`(?:^|\s)(MAYFLY_[A-Z0-9_]+)=`)},
	}
	for _, s := range sources {
		b, err := os.ReadFile(s.file)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range s.re.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
			flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(m[1], "MAYFLY_")), "_", "-")
			if !slices.Contains(flags, flag) {
				t.Errorf("%s: %s names no serve flag", s.file, m[1])
			}
		}
		if len(names) < 2 {
			t.Errorf("%s: found only %q", s.file, names)
		}
	}
}
