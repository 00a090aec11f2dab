package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestReadBuildInfo(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "309a7c37a5180870d747ceadb963925b76e675ae"
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		override string
		want     buildInfo
	}{
		{"tagged", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs(rev, "2026-01-02T03:04:05Z", "false")}, true, "",
			buildInfo{"v1.2.3", rev, "2026-01-02T03:04:05Z", "go1.26.8"}},
		{"clone with changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260102030405-309a7c37a518+dirty"}, Settings: vcs(rev, "2026-01-02T03:04:05Z", "true")}, true, "",
			buildInfo{"v0.0.0-20260102030405-309a7c37a518+dirty", rev + "-dirty", "2026-01-02T03:04:05Z", "go1.26.8"}},
		{"go install module@version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, true, "",
			buildInfo{"v1.2.3", "", "", "go1.26.8"}},
		{"no version control", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "",
			buildInfo{"devel", "", "", "go1.26.8"}},
		{"set at link time", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "2026-01-02T03:04:05Z", "false")}, true, "v9.9.9",
			buildInfo{"v9.9.9", rev, "2026-01-02T03:04:05Z", "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readBuildInfo(tt.bi, tt.ok, tt.override); got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
	if got := readBuildInfo(nil, false, ""); got.Version != "devel" || got.Commit != "" || !strings.HasPrefix(got.Go, "go") {
		t.Errorf("without build information: got %+v", got)
	}
}

// TestVersionOfABuild builds cmd/mayfly as a user would in a clone and
// checks that "mayfly version --json" names the commit checked out, marked
// dirty if the tree has changes, and the commit's time. Go stamps this
// only in a clone: in a git worktree (whose .git is a file) it does not.
func TestVersionOfABuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	top, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(top, ".git")); err != nil || !fi.IsDir() {
		t.Skip("not a git clone: Go stamps version control information only in one")
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", top}, args...)...).Output()
		if err != nil {
			t.Skipf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	bin := filepath.Join(t.TempDir(), "mayfly")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/mayfly")
	build.Dir = top
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wantCommit := git("rev-parse", "HEAD")
	if git("status", "--porcelain") != "" {
		wantCommit += "-dirty"
	}
	wantTime, err := time.Parse(time.RFC3339, git("log", "-1", "--format=%cI"))
	if err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("mayfly version --json: %v", err)
	}
	var got buildInfo
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("mayfly version --json: %v\n%s", err, out)
	}
	at, err := time.Parse(time.RFC3339, got.Date)
	if got.Commit != wantCommit || err != nil || !at.Equal(wantTime) || !strings.HasPrefix(got.Go, "go1.") {
		t.Errorf("mayfly version --json: got %+v; want commit %s, date %s", got, wantCommit, wantTime.UTC().Format(time.RFC3339))
	}
	if got.Version == "devel" || got.Version == "dev" || !strings.HasPrefix(got.Version, "v") {
		t.Errorf("version %q; want the module version Go made from the tag or commit", got.Version)
	}
	text, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(text), "mayfly "+got.Version+"\n") || !strings.Contains(string(text), "commit: "+wantCommit+"\n") {
		t.Errorf("mayfly --version: %v\n%s", err, text)
	}
}
