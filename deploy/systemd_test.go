package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const unitFile = "systemd/mayfly.service"

// unit is a systemd unit file: section -> key -> values, in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not KEY=VALUE in a section", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// TestSystemdUnit: the unit runs serve sandboxed: its own user, nothing
// writable but its state directory, no capabilities, a system call allow
// list, and reload as SIGHUP. Where systemd-analyze is installed, systemd
// itself verifies the unit and rates its exposure.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitFile)
	svc := u["Service"]
	if svc == nil {
		t.Fatalf("%s: no [Service] section", unitFile)
	}
	want := map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "mayfly",
		"StateDirectoryMode":      "0700",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"MemoryDenyWriteExecute":  "yes",
		"LockPersonality":         "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"SystemCallArchitectures": "native",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"Restart":                 "on-failure",
	}
	for k, v := range want {
		if got := svc[k]; !slices.Equal(got, []string{v}) {
			t.Errorf("%s: %s=%q; want %s=%s", unitFile, k, got, k, v)
		}
	}
	if got := svc["SystemCallFilter"]; len(got) == 0 || got[0] != "@system-service" {
		t.Errorf("%s: SystemCallFilter=%q; want @system-service first", unitFile, got)
	}
	if u["Install"]["WantedBy"] == nil {
		t.Errorf("%s: no WantedBy, so systemctl enable does nothing", unitFile)
	}

	// serve's data directory is the state directory, and every flag the
	// unit passes is one serve has.
	exec0 := svc["ExecStart"]
	if len(exec0) != 1 {
		t.Fatalf("%s: ExecStart=%q", unitFile, exec0)
	}
	argv := strings.Fields(exec0[0])
	if len(argv) < 2 || argv[0] != "/usr/local/bin/mayfly" || argv[1] != "serve" {
		t.Fatalf("%s: ExecStart=%s; want /usr/local/bin/mayfly serve ...", unitFile, exec0[0])
	}
	flags, _ := load(t, "")
	given := map[string]string{}
	for i := 2; i < len(argv); i += 2 {
		name, ok := strings.CutPrefix(argv[i], "--")
		if !ok || i+1 == len(argv) || !slices.Contains(flags, name) {
			t.Fatalf("%s: ExecStart: %q is not a serve flag with a value", unitFile, argv[i:])
		}
		given[name] = argv[i+1]
	}
	if given["data"] != "%S/mayfly" {
		t.Errorf("%s: serve --data %q; want %%S/mayfly, the StateDirectory", unitFile, given["data"])
	}
	if given["config"] != "/etc/mayfly/mayfly.conf" {
		t.Errorf("%s: serve --config %q; want /etc/mayfly/mayfly.conf, where the README installs the example", unitFile, given["config"])
	}

	t.Run("systemd-analyze", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd); the unit was checked by the parse above only")
		}
		// verify wants ExecStart's binary to exist: the unit as installed,
		// but for where the binary is.
		dir := t.TempDir()
		b, err := os.ReadFile(unitFile)
		if err != nil {
			t.Fatal(err)
		}
		copyUnit := filepath.Join(dir, "mayfly.service")
		text := strings.ReplaceAll(string(b), "/usr/local/bin/mayfly", build(t))
		if err := os.WriteFile(copyUnit, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(analyze, "verify", "--man=no", copyUnit).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify (error %v) says:\n%s", err, out)
		}
		// Exposure from 0 (sandboxed) to 10; 15 here means 1.5.
		if out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=15", copyUnit).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze security: exposure above 1.5 (%v):\n%s", err, out)
		}
	})
}
