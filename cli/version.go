package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version, when set at link time (-ldflags "-X
// github.com/mayflyhq/mayfly/cli.Version=v1.2.3"), is printed instead of
// the module version in the build information.
var Version string

// buildInfo is what "mayfly version" prints. An empty field is unknown:
// a build outside version control has no commit, nor date.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

// readBuildInfo reads the version from the module version and the
// version control information Go stamps into a binary: the module
// version is the tag, or a pseudo-version made from the commit, for
// "go install module@version" and for "go build" in a clone.
func readBuildInfo(bi *debug.BuildInfo, ok bool, override string) buildInfo {
	b := buildInfo{Version: "devel", Go: runtime.Version()}
	if ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
		if bi.GoVersion != "" {
			b.Go = bi.GoVersion
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Date = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.Commit != "" {
			b.Commit += "-dirty"
		}
	}
	if override != "" {
		b.Version = override
	}
	return b
}

func version(ctx context.Context, args []string, env Env) error {
	f := newFlags("version", env)
	jsonOut := f.Bool("json", false, "print JSON: version, commit, date and go")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.args(0, "no arguments"); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	b := readBuildInfo(bi, ok, Version)
	if *jsonOut {
		return printJSON(env, b)
	}
	fmt.Fprintf(env.Stdout, "mayfly %s\ncommit: %s\ndate:   %s\ngo:     %s\n", b.Version, orUnknown(b.Commit), orUnknown(b.Date), b.Go)
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
