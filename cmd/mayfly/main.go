// Command mayfly runs the Mayfly server and manages it. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mayflyhq/mayfly/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
