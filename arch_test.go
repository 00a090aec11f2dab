package mayfly_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly"
)

const module = "github.com/mayflyhq/mayfly"

// pkg is one package directory of the module: its import paths, from its
// non-test files and from its test files.
type pkg struct {
	files, tests []string
	imports      map[string]bool // of the non-test files
	testImports  map[string]bool // of the test files
}

// packages returns every package directory of the module, by its path
// relative to the module's root ("." for the domain).
func packages(t *testing.T) map[string]*pkg {
	t.Helper()
	dirs := map[string]*pkg{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(p))
		if dirs[dir] == nil {
			dirs[dir] = &pkg{imports: map[string]bool{}, testImports: map[string]bool{}}
		}
		k := dirs[dir]
		into := k.imports
		if strings.HasSuffix(p, "_test.go") {
			k.tests, into = append(k.tests, p), k.testImports
		} else {
			k.files = append(k.files, p)
		}
		af, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range af.Imports {
			into[strings.Trim(im.Path.Value, `"`)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// The layers of the module, from the bottom. A package's layer follows
// from its path, so a new package is placed, and checked, without being
// listed: everything under internal/ is policy unless it is assembly.
const (
	domain    = "domain"    // the root: types, store contracts, Error
	library   = "library"   // public packages on the domain alone: api, bundle, sdk
	policy    = "policy"    // internal/*: who may do what
	storage   = "storage"   // store/*: backends and their suite
	transport = "transport" // httpapi
	assembly  = "assembly"  // internal/app, internal/apptest, server, server/servertest
	client    = "client"    // the typed API client
	command   = "command"   // cli, cmd/mayfly
	bench     = "bench"     // load generators, outside the product
	deploy    = "deploy"    // deploy/: tests of the files an operator deploys with
)

// layerOf places a package directory; "" means it has no place, which is
// itself a violation.
func layerOf(dir string) string {
	top, _, _ := strings.Cut(dir, "/")
	switch {
	case dir == ".":
		return domain
	case dir == "api" || dir == "bundle" || top == "sdk":
		return library
	case dir == "internal/app" || dir == "internal/apptest" || top == "server":
		return assembly
	case top == "internal":
		return policy
	case top == "store":
		return storage
	case top == "httpapi": // the API, and the console it mounts
		return transport
	case dir == "client":
		return client
	case dir == "cli" || top == "cmd":
		return command
	case top == "bench":
		return bench
	case top == "deploy":
		return deploy
	}
	return ""
}

// mayImport lists, for each layer, the layers of the module its packages
// may import; everything else is refused.
var mayImport = map[string][]string{
	domain:    {},
	library:   {domain, library},
	policy:    {domain, library, policy},
	storage:   {domain, storage},
	transport: {domain, library, policy, transport},
	assembly:  {domain, library, policy, storage, transport, assembly, client},
	client:    {domain, library},
	command:   {domain, library, client, assembly, command},
	bench:     {domain, library, transport, assembly, client, bench},
	deploy:    {},
}

// mayImportInternal is the one package of the module's internal/ a layer
// that otherwise may not import policy may still import. A named
// exception goes here, with the reason beside it.
var mayImportInternal = map[string][]string{
	// The codec of the ledger's record bitmaps, which both the ledger's
	// policy (making bucket deltas) and its storage (merging buckets)
	// read and write; it holds no policy.
	"store/internal/sqlstore": {"internal/recordset"},
	// Its benchmarks make bitmaps as the ingest does.
	"store/storetest": {"internal/recordset"},
}

// forbiddenStd are the standard library and third-party imports a layer,
// or one package, may not have, by import path prefix.
var forbiddenStd = map[string][]string{
	domain: {"github.com/", "golang.org/", "modernc.org/"},
	// The wire types, which other languages' clients are built against.
	"api":   {"github.com/", "golang.org/", "modernc.org/"},
	policy:  {"net/http", "github.com/prometheus/", "github.com/jackc/", "modernc.org/"},
	client:  {"github.com/prometheus/", "github.com/jackc/", "modernc.org/"},
	library: {"github.com/prometheus/", "github.com/jackc/", "modernc.org/"},
}

// stdExceptions are named exceptions to forbiddenStd: package, import.
var stdExceptions = map[[2]string]string{
	// The Shared Signals transmitter pushes SETs to receivers: HTTP as a
	// client, never the server's handlers.
	{"internal/ssf", "net/http"}: "pushes SETs as an HTTP client",
	// Alert webhooks go out to receivers the same way.
	{"internal/alert", "net/http"}: "delivers signed alert webhooks as an HTTP client",
}

// violations checks one package's imports against the layers. testFiles
// says whether they are its test files' imports: the tests of policy and
// storage packages run without the HTTP layer too.
func violations(dir string, imports map[string]bool, testFiles bool) []string {
	layer := layerOf(dir)
	if layer == "" {
		return []string{fmt.Sprintf("%s has no layer: place it in layerOf", dir)}
	}
	var out []string
	for im := range imports {
		if rel, ok := strings.CutPrefix(im, module+"/"); ok || im == module {
			if im == module {
				rel = "."
			}
			to := layerOf(rel)
			allowed := slices.Contains(mayImport[layer], to) || slices.Contains(mayImportInternal[dir], rel)
			if testFiles && (layer == policy || layer == storage) {
				// Their tests run on real stores and assemble Mayfly with
				// internal/apptest, which compiles no HTTP.
				allowed = allowed || to == storage || rel == "internal/apptest" || rel == "internal/app"
			} else if testFiles {
				allowed = true
			}
			if !allowed {
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s)", dir, layer, rel, to))
			}
			continue
		}
		if testFiles {
			continue
		}
		for _, prefix := range slices.Concat(forbiddenStd[layer], forbiddenStd[dir]) {
			if strings.HasPrefix(im, prefix) && stdExceptions[[2]string{dir, im}] == "" {
				out = append(out, fmt.Sprintf("%s (%s) imports %s", dir, layer, im))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestArchitecture keeps the layers visible: the domain depends on nothing
// but the standard library; policy knows nothing of HTTP or of a
// particular store; stores hold no policy; the HTTP layer reaches stores
// only through policy; the client and the CLI need no server. No import
// runs upward: every import goes to a layer mayImport allows.
func TestArchitecture(t *testing.T) {
	for dir, p := range packages(t) {
		if len(p.files) > 0 {
			for _, v := range violations(dir, p.imports, false) {
				t.Error(v)
			}
		}
		for _, v := range violations(dir, p.testImports, true) {
			t.Error(v)
		}
	}
}

// TestArchitectureRules shows that the rules refuse what they exist to
// refuse, including for packages nobody has listed yet.
func TestArchitectureRules(t *testing.T) {
	tests := []struct {
		dir, imp string
		tests    bool
		refused  bool
	}{
		{"internal/keys", "net/http", false, true},
		{"internal/newthing", "net/http", false, true}, // unlisted, still policy
		{"internal/newthing", module + "/httpapi", false, true},
		{"internal/newthing", module + "/store/sqlite", false, true},
		{"internal/audit", module + "/server", false, true},
		{"internal/ssf", "net/http", false, false},
		{"internal/keys", module + "/internal/revoke", false, false},
		{"internal/keys", module + "/server/servertest", true, true},
		{"internal/keys", module + "/internal/apptest", true, false},
		{"client", module + "/internal/audit", false, true},
		{"client", module + "/httpapi", false, true},
		{"client", "github.com/prometheus/client_golang/prometheus", false, true},
		{"client", module + "/api", false, false},
		{"cli", module + "/internal/doctor", false, true},
		{"cli", module + "/server", false, false},
		{"httpapi", module + "/store/sqlite", false, true},
		{"httpapi", module + "/internal/token", false, false},
		{"store/sqlite", module + "/internal/keys", false, true},
		{"store/newbackend", module + "/httpapi", false, true},
		{".", "github.com/go-jose/go-jose/v4", false, true},
		{".", module + "/api", false, true},
		{"api", module + "/internal/token", false, true},
		{"api", "github.com/transparency-dev/merkle", false, true},
		{"bundle", "github.com/transparency-dev/merkle", false, false},
		{"newtop", "fmt", false, true}, // no layer at all
	}
	for _, tt := range tests {
		got := violations(tt.dir, map[string]bool{tt.imp: true}, tt.tests)
		if refused := len(got) > 0; refused != tt.refused {
			t.Errorf("%s importing %s (tests %v): refused %v (%q); want %v", tt.dir, tt.imp, tt.tests, refused, got, tt.refused)
		}
	}
}

// TestPackageDocs: every package says what it owns.
func TestPackageDocs(t *testing.T) {
	for dir, p := range packages(t) {
		if len(p.files) == 0 {
			continue
		}
		documented := false
		for _, f := range p.files {
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

// actions are the audit log's vocabulary, as action.go declares it.
func actions(t *testing.T) map[string]string {
	t.Helper()
	af, err := parser.ParseFile(token.NewFileSet(), "action.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(af, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Values) == 1 {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				v, _ := strconv.Unquote(lit.Value)
				out[v] = vs.Names[0].Name
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("action.go declares no actions")
	}
	return out
}

// TestActionsDeclaredOnce: an audit action is written only in action.go;
// everywhere else names it by its constant, so detection rules subscribe
// to one vocabulary and a typo cannot create a new action.
func TestActionsDeclaredOnce(t *testing.T) {
	vocabulary := actions(t)
	if got := len(vocabulary); got != len(slices.Collect(func(yield func(mayfly.Action) bool) {
		for v := range vocabulary {
			if !yield(mayfly.Action(v)) {
				return
			}
		}
	})) {
		t.Fatalf("duplicate action values")
	}
	for dir, p := range packages(t) {
		for _, f := range p.files {
			if path.Clean(filepath.ToSlash(f)) == "action.go" {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if v, _ := strconv.Unquote(lit.Value); vocabulary[v] != "" {
					t.Errorf("%s (%s): writes the action %q; use mayfly.%s", f, dir, v, vocabulary[v])
				}
				return true
			})
		}
	}
}
