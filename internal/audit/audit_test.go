package audit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/bundle"
	"github.com/mayflyhq/mayfly/internal/apptest"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/store/sqlite"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"
)

const origin = "mayfly.test/audit"

type fixture struct {
	path string
	st   mayfly.Store
	log  *audit.Log
	root []byte
}

func open(t *testing.T, path string, root []byte) *fixture { return openB(t, path, root) }

func openB(t testing.TB, path string, root []byte) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return openStore(t, st, path, root)
}

// openStore opens the log on st; path is the SQLite file, if st is one.
func openStore(t testing.TB, st mayfly.Store, path string, root []byte) *fixture {
	t.Helper()
	s, err := seal.New(root)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), audit.Config{Store: st, Sealer: s, Clock: apptest.NewClock(apptest.Epoch),
		Rand: rand.Reader, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{path: path, st: st, log: l, root: root}
	t.Cleanup(f.close)
	return f
}

func (f *fixture) close() {
	if f.log != nil {
		f.log.Close()
		f.st.Close()
		f.log = nil
	}
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	root := make([]byte, 32)
	rand.Read(root)
	f := open(t, filepath.Join(t.TempDir(), "audit.db"), root)
	appendN(t, f.log, n)
	return f
}

// appendN appends n entries from 8 concurrent writers.
func appendN(t *testing.T, l *audit.Log, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := l.Append(context.Background(), mayfly.AuditEntry{Action: "test.append", Principal: fmt.Sprintf("p%d", i)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// parse opens a checkpoint with only sumdb/note and returns size and root.
func parse(t *testing.T, l *audit.Log, cp *mayfly.Checkpoint) (uint64, []byte) {
	t.Helper()
	v, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(cp.Note), note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if lines[0] != origin {
		t.Fatalf("origin %q", lines[0])
	}
	size, _ := strconv.ParseUint(lines[1], 10, 64)
	root, _ := base64.StdEncoding.DecodeString(lines[2])
	return size, root
}

// TestProofsVerifyWithStandardLibraries: checkpoints open with sumdb/note,
// and inclusion and consistency proofs verify with transparency-dev/merkle.
func TestProofsVerifyWithStandardLibraries(t *testing.T) {
	f := newFixture(t, 300)
	ctx := context.Background()
	cp1, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	size1, root1 := parse(t, f.log, cp1)
	if size1 != 300 {
		t.Fatalf("checkpoint size %d, want 300", size1)
	}
	appendN(t, f.log, 77)
	cp2, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	size2, root2 := parse(t, f.log, cp2)
	recs, err := f.st.AuditEntries(ctx, mayfly.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(recs)) != size2 {
		t.Fatalf("%d entries stored, checkpoint says %d", len(recs), size2)
	}
	h := rfc6962.DefaultHasher
	for _, i := range []uint64{0, 1, 2, 63, 64, 127, 128, 255, 299} {
		p, err := f.log.Inclusion(ctx, i, size1)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(h, i, size1, h.HashLeaf(recs[i].Body), p, root1); err != nil {
			t.Errorf("inclusion of %d in %d: %v", i, size1, err)
		}
	}
	for _, i := range []uint64{0, 299, 300, 376} {
		p, err := f.log.Inclusion(ctx, i, size2)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(h, i, size2, h.HashLeaf(recs[i].Body), p, root2); err != nil {
			t.Errorf("inclusion of %d in %d: %v", i, size2, err)
		}
	}
	p, err := f.log.Consistency(ctx, size1, size2)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(h, size1, size2, p, root1, root2); err != nil {
		t.Errorf("consistency %d -> %d: %v", size1, size2, err)
	}
	// A wrong leaf does not verify: the check above could fail.
	bad, _ := f.log.Inclusion(ctx, 5, size2)
	if err := proof.VerifyInclusion(h, 5, size2, h.HashLeaf(recs[6].Body), bad, root2); err == nil {
		t.Errorf("entry 6 verified as entry 5")
	}
	// Entries carry their index and are numbered densely.
	for i, r := range recs {
		var e mayfly.AuditEntry
		json.Unmarshal(r.Body, &e)
		if e.Index != uint64(i) || e.V != 1 {
			t.Fatalf("entry %d: index %d, version %d", i, e.Index, e.V)
		}
	}
}

// TestReopenContinuesTheTree: after a restart, appends extend the same tree
// and the log still verifies.
func TestReopenContinuesTheTree(t *testing.T) {
	f := newFixture(t, 100)
	ctx := context.Background()
	cp1, _ := f.log.Checkpoint(ctx)
	f.close()
	g := open(t, f.path, f.root)
	appendN(t, g.log, 50)
	cp2, err := g.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s1, r1 := parse(t, g.log, cp1)
	s2, r2 := parse(t, g.log, cp2)
	p, err := g.log.Consistency(ctx, s1, s2)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, s1, s2, p, r1, r2); err != nil {
		t.Errorf("consistency across restart: %v", err)
	}
	rep, err := g.log.Verify(ctx)
	if err != nil || !rep.OK || rep.Entries != 150 {
		t.Errorf("verify: %+v %v", rep, err)
	}
}

// TestTamperIsDetected changes the stored log behind the service's back.
func TestTamperIsDetected(t *testing.T) {
	tests := []struct {
		name     string
		tamper   string // SQL run on the database file
		firstBad int64
		want     string
	}{
		{"untouched", "", -1, ""},
		{"byte changed", `UPDATE audit_entries SET body = CAST(replace(CAST(body AS TEXT), 'test.append', 'test.appenD') AS BLOB) WHERE idx = 17`, 17, "altered"},
		{"byte and leaf hash changed", `UPDATE audit_entries SET body = CAST(replace(CAST(body AS TEXT), 'test.append', 'test.appenD') AS BLOB), leaf_hash = X'00' WHERE idx = 17`, 17, "altered"},
		{"deleted", `DELETE FROM audit_entries WHERE idx = 40`, 40, "missing"},
		{"swapped", `UPDATE audit_entries SET idx = -1 WHERE idx = 10; UPDATE audit_entries SET idx = 10 WHERE idx = 11; UPDATE audit_entries SET idx = 11 WHERE idx = -1`, 10, "claims index"},
		{"last deleted", `DELETE FROM audit_entries WHERE idx = 59`, 59, "not stored"},
		{"forged appended", `INSERT INTO audit_entries SELECT 60, body, leaf_hash, time, action, principal, client, kid FROM audit_entries WHERE idx = 0`, 60, "claims index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 60)
			if _, err := f.log.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tt.tamper != "" {
				db, err := sql.Open("sqlite", "file:"+f.path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(tt.tamper); err != nil {
					t.Fatalf("tamper: %v", err)
				}
				db.Close()
			}
			rep, err := f.log.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != (tt.want == "") || rep.FirstBad != tt.firstBad || !strings.Contains(rep.Problem, tt.want) {
				t.Errorf("got ok=%v first_bad=%d %q; want first_bad=%d and %q", rep.OK, rep.FirstBad, rep.Problem, tt.firstBad, tt.want)
			}
		})
	}
}

var zeroTime time.Time

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyRotation: the transition checkpoint carries both keys' signatures,
// later ones only the new key's, every stored checkpoint still verifies,
// and the old private key is gone.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t, 20)
	ctx := context.Background()
	if _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	oldKey := f.log.VerifierKey()
	newKey, err := f.log.RotateKey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if newKey == oldKey || newKey != f.log.VerifierKey() {
		t.Fatalf("rotation kept the key")
	}
	verifies := func(key string) bool {
		b, err := f.log.Export(ctx, zeroTime, zeroTime)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bundle.Verify(mustJSON(t, b), key)
		return err == nil
	}
	if !verifies(oldKey) || !verifies(newKey) {
		t.Errorf("transition checkpoint: old key verifies %v, new key %v; want both", verifies(oldKey), verifies(newKey))
	}
	appendN(t, f.log, 5)
	if verifies(oldKey) || !verifies(newKey) {
		t.Errorf("after the transition: old key verifies %v, new key %v; want only the new", verifies(oldKey), verifies(newKey))
	}
	if rep, err := f.log.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("verify after rotation: %+v %v", rep, err)
	}
	if _, err := f.st.Setting(ctx, "audit.log_key.1"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("old private key still stored: %v", err)
	}
	f.close()
	g := open(t, f.path, f.root)
	if g.log.VerifierKey() != newKey {
		t.Errorf("after restart the log signs with %q, want %q", g.log.VerifierKey(), newKey)
	}
	if rep, err := g.log.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("verify after restart: %+v %v", rep, err)
	}
}
