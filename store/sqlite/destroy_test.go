package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/store/sqlite"
)

// TestDestroyedMaterialLeavesNoBytes: once a transaction that destroys key
// material and deletes a setting holding it commits, no file of the store
// holds the sealed key any more, neither freed page space nor WAL frames. The key is checkpointed into the database between creation
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
	marker := bytes.Repeat([]byte("SEALED-PRIVATE-KEY-MATERIAL!"), 8)
	k := &mayfly.Key{KID: "k1", Ring: "r", Alg: mayfly.ES256, Public: []byte("pub"), Sealed: marker,
		CreatedAt: now, ActivateAt: now, DeactivateAt: now.Add(time.Hour), RetireAt: now.Add(2 * time.Hour)}
	err = mayfly.Transact(ctx, st, func(tx mayfly.Tx) error {
		return errors.Join(st.CreateRing(tx, &mayfly.Ring{Name: "r", Alg: mayfly.ES256, Lifetime: time.Hour, CreatedAt: now}),
			st.SaveKeys(tx, []*mayfly.Key{k}), st.PutSetting(tx, "sealed", marker))
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // checkpoint
	if st, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	err = mayfly.Transact(ctx, st, func(tx mayfly.Tx) error {
		return errors.Join(st.DestroyKeyMaterial(tx, []string{"k1"}), st.DeleteSetting(tx, "sealed"))
	})
	if err != nil {
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
	check("after the transaction destroying it committed")
	st.Close()
	check("after close")
}
