// Package all links every stage into the binary. Each stage package
// registers itself with the pipeline registry from its init function; the
// daemon's main package imports this package for that side effect, the way
// programs import database/sql drivers. A new stage is added here.
package all

import (
	_ "github.com/assistant-dev/assistant/stages/persist" // posts.tagged -> PostgreSQL
	_ "github.com/assistant-dev/assistant/stages/tag"     // posts.parsed -> posts.tagged
)
