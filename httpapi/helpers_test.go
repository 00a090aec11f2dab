package httpapi_test

import (
	"crypto/sha256"
	"hash"

	"errors"
	"github.com/mayflyhq/mayfly"
	"strings"

	"github.com/mayflyhq/mayfly/server"
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

func mayflyAlg(s string) mayfly.Alg { return mayfly.Alg(s) }

func sha256New() hash.Hash { return sha256.New() }
