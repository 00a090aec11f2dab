package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/audit"
	"github.com/mayflyhq/mayfly/internal/keys"
	"github.com/mayflyhq/mayfly/internal/seal"
	"github.com/mayflyhq/mayfly/internal/ssf"
)

// The root key seals every signing key and the audit log key. Replacing it
// (when someone who had it leaves) goes in an order that a crash at any
// point can finish:
//
//  1. the new key is written to FILE.next;
//  2. the sealer takes it as current, keeping the old one to open with;
//  3. signing keys, the audit log key and the root check are sealed again;
//  4. FILE.next replaces FILE, and the old key is forgotten.
//
// A server that starts and finds FILE.next carries on from step 2.

const (
	rootCheckSetting   = "root.check"
	rootRotatedSetting = "root.rotated_at"
	rootCheckAAD       = "mayfly root key check"
)

// rootKey rotates the root key. It implements offboard.RootKey.
type rootKey struct {
	file   string
	sealer *seal.Sealer
	store  mayfly.Store
	keys   *keys.Service
	audit  *audit.Log
	clock  mayfly.Clock
	rand   io.Reader
	log    *slog.Logger
}

// loadRoot reads the root key file, creating it on first start, and any
// replacement a rotation left half done. created reports a new file.
func loadRoot(file string, rand io.Reader) (s *seal.Sealer, pending, created bool, err error) {
	key, created, err := seal.LoadOrCreateRootKey(file, rand)
	if err != nil {
		return nil, false, false, err
	}
	defer clear(key)
	if s, err = seal.New(key); err != nil {
		return nil, false, false, err
	}
	next, err := seal.ReadRootKey(file + ".next")
	if errors.Is(err, os.ErrNotExist) {
		return s, false, created, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	defer clear(next)
	return s, true, created, s.Rotate(next)
}

// RotatedAt is when the root key in use was made: the first start, or the
// last rotation. Zero for a store older than this record.
func (r *rootKey) RotatedAt(ctx context.Context) (time.Time, error) {
	b, err := r.store.Setting(ctx, rootRotatedSetting)
	if errors.Is(err, mayfly.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, string(b))
}

// Rotate replaces the root key. also, if not nil, runs in the transaction
// that records the rotation, with the index of its entry.
func (r *rootKey) Rotate(ctx context.Context, reason string, also func(tx mayfly.Tx, idx uint64) error) error {
	unlock, err := r.store.Lock(ctx, "root-key")
	if err != nil {
		return mayfly.E("root.Rotate", err)
	}
	defer unlock()
	key := make([]byte, seal.RootKeySize)
	defer clear(key)
	if _, err := io.ReadFull(r.rand, key); err != nil {
		return mayfly.E("root.Rotate", err)
	}
	if err := seal.WriteRootKey(r.file+".next", key); err != nil {
		return mayfly.E("root.Rotate", err)
	}
	if err := r.sealer.Rotate(key); err != nil {
		return mayfly.E("root.Rotate", err)
	}
	if err := r.finish(ctx, reason, also); err != nil {
		return err
	}
	r.log.Warn("root key rotated; every replica needs the new root key file", "file", r.file, "root_key_id", r.sealer.ID(), "reason", reason)
	return nil
}

// finish seals everything again under the sealer's current root key, puts
// the new key file in place and forgets the old key. The rotation is
// recorded, with also, in the step that marks it done in the store.
func (r *rootKey) finish(ctx context.Context, reason string, also func(tx mayfly.Tx, idx uint64) error) error {
	if err := r.keys.Reseal(ctx); err != nil {
		return err
	}
	if err := r.audit.Reseal(ctx); err != nil {
		return err
	}
	if err := ssf.Reseal(ctx, r.store, r.audit, r.sealer, r.rand); err != nil {
		return err
	}
	check, err := r.sealer.Seal(r.rand, []byte(rootCheckAAD), []byte(rootCheckAAD))
	if err != nil {
		return err
	}
	err = r.audit.Update(ctx, func(tx mayfly.Tx) error { return r.store.ReplaceSetting(tx, rootCheckSetting, check) })
	if err != nil {
		return err
	}
	// A replica that had not yet seen the new check may have sealed a
	// stream's header under the old key meanwhile; it can no longer.
	if err := ssf.Reseal(ctx, r.store, r.audit, r.sealer, r.rand); err != nil {
		return err
	}
	err = r.audit.Update(ctx, func(tx mayfly.Tx) error {
		if err := r.store.ReplaceSetting(tx, rootRotatedSetting, []byte(r.clock.Now().UTC().Format(time.RFC3339Nano))); err != nil {
			return err
		}
		idx, err := tx.Audit(mayfly.AuditEntry{Action: mayfly.ActionRootKeyRotated, Details: map[string]string{"reason": reason, "root_key_id": r.sealer.ID()}})
		if err != nil || also == nil {
			return err
		}
		return also(tx, idx)
	})
	if err != nil {
		return err
	}
	if err := os.Rename(r.file+".next", r.file); err != nil {
		return fmt.Errorf("root key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(r.file)); err == nil {
		d.Sync() // make the rename durable
		d.Close()
	}
	r.sealer.Retire()
	return nil
}

// canSeal fails unless the sealer can open the store's root check: new
// material sealed under a root key the store has moved past could not be
// opened by the replicas that have moved on.
func (r *rootKey) canSeal(ctx context.Context) error {
	check, err := r.store.Setting(ctx, rootCheckSetting)
	if errors.Is(err, mayfly.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := r.sealer.Open(check, []byte(rootCheckAAD)); err == nil {
		return nil
	}
	return r.follow(ctx)
}

// follow runs when another replica may have rotated the root key: if the
// store's check value no longer opens, it reads the root key file again,
// which a shared mount may have updated.
func (r *rootKey) follow(ctx context.Context) error {
	check, err := r.store.Setting(ctx, rootCheckSetting)
	if err != nil || r.sealer.Current(check) {
		return err
	}
	if _, err := r.sealer.Open(check, []byte(rootCheckAAD)); err == nil {
		return nil // mid-rotation here: the rotation finishes it
	}
	key, err := seal.ReadRootKey(r.file)
	if err != nil {
		return err
	}
	defer clear(key)
	if err := r.sealer.Rotate(key); err != nil {
		return err
	}
	if _, err := r.sealer.Open(check, []byte(rootCheckAAD)); err != nil {
		return fmt.Errorf("another replica rotated the root key: install its new root key file at %s and restart this replica", r.file)
	}
	r.log.Warn("root key rotated by another replica; now using the new root key file", "file", r.file, "root_key_id", r.sealer.ID())
	return nil
}
