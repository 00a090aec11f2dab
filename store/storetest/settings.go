package storetest

import (
	"errors"
	"testing"

	"github.com/mayflyhq/mayfly"
)

// Settings runs the suite of mayfly.SettingStore.
func Settings(t *testing.T, open func(t *testing.T) SettingStore) {
	t.Helper()
	run(t, open, []test[SettingStore]{
		{"PutAndDelete", testSettings},
		{"Replace", testSettingsReplace},
	})
}

func putSetting(t *testing.T, s SettingStore, name string, value []byte) error {
	return commit(t, s, func(tx mayfly.Tx) error { return s.PutSetting(tx, name, value) })
}

func replaceSetting(t *testing.T, s SettingStore, name string, value []byte) error {
	return commit(t, s, func(tx mayfly.Tx) error { return s.ReplaceSetting(tx, name, value) })
}

func testSettings(t *testing.T, s SettingStore) {
	ctx := t.Context()
	if _, err := s.Setting(ctx, "x"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("missing setting: got %v, want ErrNotFound", err)
	}
	must(t, "PutSetting", putSetting(t, s, "x", []byte("one")))
	if err := putSetting(t, s, "x", []byte("two")); !errors.Is(err, mayfly.ErrConflict) {
		t.Errorf("PutSetting twice: got %v, want ErrConflict", err)
	}
	if v, err := s.Setting(ctx, "x"); err != nil || string(v) != "one" {
		t.Errorf("Setting: %q, %v; want the first value", v, err)
	}
	must(t, "DeleteSetting", do(t, s, s.DeleteSetting, "x"))
	if _, err := s.Setting(ctx, "x"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("deleted setting: got %v, want ErrNotFound", err)
	}
}

func testSettingsReplace(t *testing.T, s SettingStore) {
	ctx := t.Context()
	must(t, "ReplaceSetting (new)", replaceSetting(t, s, "root.check", []byte("one")))
	if v, err := s.Setting(ctx, "root.check"); err != nil || string(v) != "one" {
		t.Errorf("Setting after ReplaceSetting of a new name: %q, %v; want \"one\"", v, err)
	}
	must(t, "ReplaceSetting (existing)", replaceSetting(t, s, "root.check", []byte("two")))
	if v, err := s.Setting(ctx, "root.check"); err != nil || string(v) != "two" {
		t.Errorf("Setting after ReplaceSetting: %q, %v; want \"two\"", v, err)
	}
	must(t, "DeleteSetting", do(t, s, s.DeleteSetting, "root.check"))
	if _, err := s.Setting(ctx, "root.check"); !errors.Is(err, mayfly.ErrNotFound) {
		t.Errorf("deleted setting: got %v, want ErrNotFound", err)
	}
}
