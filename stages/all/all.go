// Package all lists the stages of the production binary. Each stage package
// exports a Definition; Registry puts them, in pipeline order, into the
// explicit registry that main hands to the command line. A new stage is one
// line here. Test and benchmark stages are not listed: tests and
// `assistant bench` build registries of their own.
package all

import (
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/stages/enrich"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/stages/persist"
	"github.com/assistant-dev/assistant/stages/tag"
	"github.com/assistant-dev/assistant/stages/telegram"
)

// Registry returns the registry of every production stage.
func Registry() *pipeline.Registry {
	return pipeline.MustRegistry(
		tag.Definition(),      // posts.parsed -> posts.tagged
		persist.Definition(),  // posts.tagged -> PostgreSQL
		enrich.Definition(),   // posts.tagged -> crawl -> PostgreSQL, posts.enriched
		index.Definition(),    // posts.enriched -> vector + graph stores -> posts.indexed
		telegram.Definition(), // Telegram channels -> posts.parsed, posts.deleted (service)
		cleanup.Definition(),  // posts.deleted + the TTL sweep -> every store
	)
}
