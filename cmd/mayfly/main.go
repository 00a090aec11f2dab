// Command mayfly runs the Mayfly server and manages it. See the README.
package main

import (
	"os"

	"github.com/mayflyhq/mayfly/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
