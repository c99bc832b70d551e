// Command assistant is the daemon that turns Telegram channel posts into
// tagged, enriched, searchable knowledge: one process whose stages (tag,
// persist, ...) exchange events over Redis Streams. See README.md; the
// command line lives in package cli.
package main

import (
	"os"

	"github.com/assistant-dev/assistant/cli"
	_ "github.com/assistant-dev/assistant/stages/all" // registers every stage
)

func main() {
	os.Exit(cli.Execute())
}
