// Package offboardcol is how both stores keep an offboarding run's Done
// and Actions: each as a JSON document in a column of its own.
package offboardcol

import (
	"encoding/json"
	"fmt"

	"github.com/mayflyhq/mayfly"
)

// Encode returns the stored forms of o.Done and o.Actions.
func Encode(o *mayfly.Offboarding) (done, actions string, err error) {
	d, err := json.Marshal(o.Done)
	if err != nil {
		return "", "", err
	}
	a, err := json.Marshal(o.Actions)
	if err != nil {
		return "", "", err
	}
	return string(d), string(a), nil
}

// Decode reads the stored forms of o's Done and Actions into o.
func Decode(o *mayfly.Offboarding, done, actions string) error {
	if err := json.Unmarshal([]byte(done), &o.Done); err != nil {
		return fmt.Errorf("offboarding %s: done: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(actions), &o.Actions); err != nil {
		return fmt.Errorf("offboarding %s: actions: %w", o.ID, err)
	}
	return nil
}
