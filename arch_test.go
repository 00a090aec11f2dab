package mayfly_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// packages returns every package directory of the module with its non-test
// files parsed for imports and docs.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	dirs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func imports(t *testing.T, files []string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			out[strings.Trim(im.Path.Value, `"`)] = true
		}
	}
	return out
}

// TestArchitecture keeps the layers visible: the domain depends on nothing
// but the standard library, policy packages know nothing of HTTP or of a
// particular store, and the API's wire types and its client need no server.
func TestArchitecture(t *testing.T) {
	const module = "github.com/mayflyhq/mayfly"
	policy := []string{"internal/keys", "internal/token", "internal/identity", "internal/revoke", "internal/seal", "internal/batch", "internal/offboard", "internal/doctor"}
	// The Shared Signals transmitter is policy too, but pushes SETs itself:
	// HTTP as a client, never the server's handlers or a store backend.
	transmitter := "internal/ssf"
	for dir, files := range packages(t) {
		ims := imports(t, files)
		for im := range ims {
			switch {
			case dir == "." && strings.Contains(strings.Split(im, "/")[0], "."):
				t.Errorf("domain package imports %s; it may use the standard library only", im)
			case contains(policy, filepath.ToSlash(dir)) && (im == "net/http" || strings.HasPrefix(im, module+"/store") || strings.HasPrefix(im, module+"/httpapi")):
				t.Errorf("%s imports %s; policy must not depend on HTTP or a store backend", dir, im)
			case filepath.ToSlash(dir) == transmitter && (strings.HasPrefix(im, module+"/store") || strings.HasPrefix(im, module+"/httpapi")):
				t.Errorf("%s imports %s; the transmitter must not depend on the HTTP API or a store backend", dir, im)
			case strings.HasPrefix(filepath.ToSlash(dir), "store/") && (strings.HasPrefix(im, module+"/internal/") || strings.HasPrefix(im, module+"/httpapi")):
				t.Errorf("%s imports %s; a store holds no policy", dir, im)
			case (filepath.ToSlash(dir) == "client" || filepath.ToSlash(dir) == "cli") && strings.HasPrefix(im, module+"/internal/"):
				t.Errorf("%s imports %s; the client and the CLI reach Mayfly through its API, not its internals", dir, im)
			case filepath.ToSlash(dir) == "api" && im != module && strings.Contains(strings.Split(im, "/")[0], "."):
				t.Errorf("api imports %s; the wire types may use the standard library and the domain package only", im)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestPackageDocs: every package says what it owns.
func TestPackageDocs(t *testing.T) {
	for dir, files := range packages(t) {
		documented := false
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package %s has no package comment", dir)
		}
	}
	if _, err := os.Stat("README.md"); err != nil {
		t.Errorf("README.md: %v", err)
	}
}
