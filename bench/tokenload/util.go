package main

import (
	"os"
	"runtime/pprof"

	"github.com/mayflyhq/mayfly"
)

func alg2(s string) mayfly.Alg { return mayfly.Alg(s) }

func profile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
