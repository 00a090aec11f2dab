package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/sqlite"
)

// TestDestroyedMaterialLeavesNoBytes: once DestroyKeyMaterial returns, no
// file of the store holds the sealed key any more, neither freed page space
// nor WAL frames. The key is checkpointed into the database between creation
// and destruction (a key lifetime apart on a running server), modelled here
// by closing and reopening.
func TestDestroyedMaterialLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	if err := st.CreateRing(ctx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	marker := bytes.Repeat([]byte("SEALED-PRIVATE-KEY-MATERIAL!"), 8)
	k := &mayfly.Key{KID: "k1", Ring: "r", Alg: mayfly.ES256, Public: []byte("pub"), Sealed: marker,
		CreatedAt: now, ActivateAt: now, DeactivateAt: now.Add(time.Hour), RetireAt: now.Add(2 * time.Hour)}
	if err := st.SaveKeys(ctx, []*mayfly.Key{k}); err != nil {
		t.Fatal(err)
	}
	st.Close() // checkpoint
	if st, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := st.DestroyKeyMaterial(ctx, []string{"k1"}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		files, _ := filepath.Glob(path + "*")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, marker) {
				t.Errorf("%s: %s still holds the destroyed sealed key material", when, filepath.Base(f))
			}
		}
	}
	check("after DestroyKeyMaterial returned")
	st.Close()
	check("after close")
}
