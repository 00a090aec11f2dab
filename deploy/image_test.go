package deploy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// image is what the Dockerfile's last stage says about running the image.
type image struct {
	env                []string
	uid, gid           int
	entry, healthcheck []string
	volume             string
}

func readImage(t *testing.T) image {
	t.Helper()
	stages := parseDockerfile(t, "../Dockerfile")
	final := stages[len(stages)-1]
	var im image
	argv := func(cmd string) []string {
		var v []string
		for _, in := range final.all(cmd) {
			args := in.args
			if i := strings.Index(args, "CMD ["); cmd == "HEALTHCHECK" && i >= 0 {
				args = args[i+len("CMD "):]
			}
			v = nil
			if err := json.Unmarshal([]byte(args), &v); err != nil {
				t.Fatalf("Dockerfile:%d: %s %s: %v", in.line, cmd, in.args, err)
			}
		}
		return v
	}
	for _, in := range final.all("ENV") {
		im.env = append(im.env, strings.Fields(in.args)...)
	}
	for _, in := range final.all("USER") {
		u, g, _ := strings.Cut(in.args, ":")
		im.uid, _ = strconv.Atoi(u)
		im.gid, _ = strconv.Atoi(g)
	}
	im.entry = append(argv("ENTRYPOINT"), argv("CMD")...)
	im.healthcheck = argv("HEALTHCHECK")
	if v := argv("VOLUME"); len(v) == 1 {
		im.volume = v[0]
	}
	if len(im.entry) < 2 || len(im.healthcheck) < 1 || im.volume == "" || im.uid == 0 {
		t.Fatalf("Dockerfile: the image stage says too little: %+v", im)
	}
	return im
}

// TestImageLayout runs the image's entrypoint and healthcheck as the
// Dockerfile gives them, in a root with nothing but what the image has of
// its own (the binary, a passwd entry, the data directory, /tmp), as the
// image's user. No container engine runs here; this is the nearest check
// that the image needs no shell, no C library and no root. The listen
// address alone differs: loopback and a free port instead of 0.0.0.0:8740.
func TestImageLayout(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to chroot and run as the image's user")
	}
	im := readImage(t)
	bin := build(t)
	root := filepath.Join(t.TempDir(), "root")
	dataDir := filepath.Join(root, im.volume)
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{root, 0o755}, {filepath.Join(root, "etc"), 0o755}, {filepath.Join(root, "tmp"), 0o777 | os.ModeSticky}, {filepath.Dir(filepath.Join(root, im.entry[0])), 0o755}, {dataDir, 0o700}} {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dataDir, im.uid, im.gid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, im.entry[0]), b, 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + strconv.Itoa(im.uid) + ":" + strconv.Itoa(im.gid) + ":nonroot:/home/nonroot:/sbin/nologin\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}

	inImage := func(ctx context.Context, env []string, argv ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = "/"
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: uint32(im.uid), Gid: uint32(im.gid), Groups: []uint32{}},
		}
		return cmd
	}
	env := append(append([]string{}, im.env...), "MAYFLY_ADDR=127.0.0.1:0")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound, not a measurement
	defer cancel()
	srv := inImage(ctx, env, im.entry...)
	addr, out := serving(t, srv)
	if addr == "" {
		t.Fatalf("%q in the image's root as %d:%d did not serve:\n%s", im.entry, im.uid, im.gid, out)
	}

	hc := inImage(ctx, append(append([]string{}, im.env...), "MAYFLY_ADDR="+addr), im.healthcheck...)
	if b, err := hc.CombinedOutput(); err != nil {
		t.Errorf("HEALTHCHECK %q in the image's root: %v\n%s", im.healthcheck, err, b)
	}
	for _, name := range []string{"root.key", "admin.token"} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Errorf("the volume has no %s: %v", name, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != im.uid || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: owner %d, mode %o; want %d and 0600", name, st.Uid, fi.Mode().Perm(), im.uid)
		}
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Errorf("serve in the image's root after SIGTERM: %v; want a clean exit", err)
	}
}
