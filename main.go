// Command assistant is the daemon that turns Telegram channel posts into
// tagged, enriched, searchable knowledge: one process whose stages (tag,
// persist, ...) exchange events over Redis Streams. See README.md; the
// command line lives in package cli, the list of stages in stages/all.
package main

import (
	"os"

	"github.com/assistant-dev/assistant/cli"
	"github.com/assistant-dev/assistant/stages/all"
)

func main() {
	os.Exit(cli.Execute(all.Registry()))
}
