package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the packages other services import pull in the standard
// library and go-jose, nothing else: no database driver, no Mayfly server
// code, not even Mayfly's domain package.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	for _, pkg := range []string{"github.com/mayflyhq/mayfly/sdk", "github.com/mayflyhq/mayfly/sdk/canon", "github.com/mayflyhq/mayfly/sdk/sdktest", "github.com/mayflyhq/mayfly/sdk/dpop"} {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		var got []string
		for _, dep := range strings.Fields(string(out)) {
			got = append(got, dep)
			switch {
			case dep == "github.com/go-jose/go-jose/v4" || strings.HasPrefix(dep, "github.com/go-jose/go-jose/v4/"):
			case dep == "github.com/mayflyhq/mayfly/sdk" || strings.HasPrefix(dep, "github.com/mayflyhq/mayfly/sdk/"):
			default:
				t.Errorf("%s depends on %s; only the standard library and go-jose are allowed", pkg, dep)
			}
		}
		if !strings.Contains(strings.Join(got, " "), pkg) {
			t.Errorf("go list -deps %s listed %q, not the package itself", pkg, got)
		}
	}
}
