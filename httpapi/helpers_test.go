package httpapi_test

import (
	"errors"
	"strings"

	"github.com/mayflyhq/mayfly/internal/server"
)

type serverConfig = server.Config

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
