package deploy_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

// stage is a FROM and what follows it.
type stage struct {
	from  string
	instr []instruction
}

// parseDockerfile reads the few forms this Dockerfile uses: instructions,
// backslash continuations, comments. No container engine runs here, so
// the file is checked as text.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur string
	start := 0
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur == "" {
			start = i + 1
		}
		if more, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur += more + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " "), start}
		cur = ""
		if in.cmd == "FROM" {
			stages = append(stages, stage{from: in.args})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before FROM", path, in.line, in.cmd)
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm parses an instruction's JSON array form; a shell form, which
// needs a shell the image does not have, is an error.
func execForm(t *testing.T, in instruction, args string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
		t.Errorf("Dockerfile:%d: %s %s: want the exec form [\"...\"]: the image has no shell", in.line, in.cmd, args)
	}
	return argv
}

// TestDockerfile: a static build, as TestStaticBinary makes it, copied
// into an image with no shell, run as a numeric non-root user, with its
// data directory a volume, its port exposed and a healthcheck that runs
// the binary itself.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages; want a build stage and the image", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.from, "golang:1.26 ") || !strings.HasSuffix(build.from, " AS build") {
		t.Errorf("Dockerfile: build stage FROM %s; want golang:1.26 AS build", build.from)
	}
	built := false
	want := buildEnv + " go build " + buildFlags + ` -ldflags="` + buildLDFlags + `${VERSION}"`
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, want) && strings.HasSuffix(in.args, " ./cmd/mayfly") {
			built = true
		}
	}
	if !built {
		t.Errorf("Dockerfile: no RUN in the build stage runs %s ... ./cmd/mayfly, the build TestStaticBinary checks", want)
	}

	if final.from != "gcr.io/distroless/static-debian12:nonroot" && final.from != "scratch" {
		t.Errorf("Dockerfile: the image is FROM %s; want a base with no shell: distroless static or scratch", final.from)
	}
	for _, cmd := range []string{"RUN", "SHELL", "ADD"} {
		for _, in := range final.all(cmd) {
			t.Errorf("Dockerfile:%d: %s in the image stage: it has no shell to run it", in.line, cmd)
		}
	}
	last := func(cmd string) instruction {
		ins := final.all(cmd)
		if len(ins) == 0 {
			t.Fatalf("Dockerfile: the image stage has no %s", cmd)
		}
		return ins[len(ins)-1]
	}

	user := last("USER").args
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("Dockerfile: USER %s; want a numeric, non-root uid, which runAsNonRoot can check", user)
	}
	if n, err := strconv.Atoi(gid); gid != "" && (err != nil || n == 0) {
		t.Errorf("Dockerfile: USER %s; want a numeric, non-root gid", user)
	}

	env := map[string]string{}
	for _, in := range final.all("ENV") {
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Errorf("Dockerfile:%d: ENV %s: want KEY=VALUE", in.line, in.args)
			}
			env[k] = v
		}
	}
	volume := last("VOLUME")
	if env["MAYFLY_DATA"] == "" || !slices.Contains(execForm(t, volume, volume.args), env["MAYFLY_DATA"]) {
		t.Errorf("Dockerfile: VOLUME %s, MAYFLY_DATA %q; want the data directory to be the volume", volume.args, env["MAYFLY_DATA"])
	}
	// The volume starts as the image's directory: it must be the user's.
	owned := false
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		dst := strings.TrimSuffix(f[len(f)-1], "/")
		if slices.Contains(f, "--chown="+user) && (dst == env["MAYFLY_DATA"] || dst == filepath.Dir(env["MAYFLY_DATA"])) {
			owned = true
		}
	}
	if !owned {
		t.Errorf("Dockerfile: no COPY --chown=%s makes the data directory %s the user's", user, env["MAYFLY_DATA"])
	}
	_, port, err := net.SplitHostPort(env["MAYFLY_ADDR"])
	if err != nil || last("EXPOSE").args != port {
		t.Errorf("Dockerfile: EXPOSE %s, MAYFLY_ADDR %q; want the port serve listens on exposed", last("EXPOSE").args, env["MAYFLY_ADDR"])
	}

	ep := last("ENTRYPOINT")
	entry := execForm(t, ep, ep.args)
	if len(entry) != 1 {
		t.Fatalf("Dockerfile: ENTRYPOINT %s; want the mayfly binary alone", ep.args)
	}
	bin := entry[0]
	copied := false
	for _, in := range final.all("COPY") {
		copied = copied || (strings.Contains(in.args, "--from=build") && strings.HasSuffix(in.args, " "+bin))
	}
	if !copied {
		t.Errorf("Dockerfile: nothing copies the built binary to %s", bin)
	}
	cmd := last("CMD")
	if argv := execForm(t, cmd, cmd.args); !slices.Equal(argv, []string{"serve"}) {
		t.Errorf("Dockerfile: CMD %s; want [\"serve\"]", cmd.args)
	}
	hc := last("HEALTHCHECK")
	i := strings.Index(hc.args, "CMD [")
	if i < 0 {
		t.Fatalf("Dockerfile: HEALTHCHECK %s; want CMD in exec form", hc.args)
	}
	if argv := execForm(t, hc, hc.args[i+len("CMD "):]); !slices.Equal(argv, []string{bin, "healthcheck"}) {
		t.Errorf("Dockerfile: HEALTHCHECK runs %q; want %q healthcheck", argv, bin)
	}
}

// TestDockerignore: nothing that cmd/mayfly compiles is left out of the
// build context.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "../cmd/mayfly").Output()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %q", needed)
	}
	for _, p := range needed {
		// A path is left out if it or a directory above it matches.
		for q := p; q != "." && q != "/"; q = filepath.Dir(q) {
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, q); ok {
					t.Errorf(".dockerignore: %s leaves out %s, which the build needs", pat, p)
				}
			}
		}
	}
}
