#!/usr/bin/env bash
# The newcomer's demo: on a fresh machine, start Redis and PostgreSQL if
# needed, build the daemon, migrate, ingest the 500-post sample, run the
# daemon (tag with the offline tagger + persist) until every post is stored,
# stop it, and print a summary. Re-running it is harmless: posts already
# tagged are recognised and not tagged again.
#
# It uses its own database (assistant_demo) and key prefix (demo:), so it
# touches nothing else on the servers. DEMO_PORT changes the ops port;
# REDIS_URL, when set, is the Redis the demo uses (default the local one).
# Crawling is off (this is usually an offline machine, where every crawl
# fails slowly): posts go through enrich as crawl_disabled; DEMO_CRAWL=true
# turns it on.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${DEMO_PORT:-8000}
DB=assistant_demo
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/${DB}?sslmode=disable"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export ASSISTANT_REDIS_KEY_PREFIX="demo:"
export ASSISTANT_HTTP_ADDR="127.0.0.1:${PORT}"
export ASSISTANT_AI_TAGGER=local ASSISTANT_AI_EMBEDDER=local
export ASSISTANT_LOG_FORMAT=text
export ASSISTANT_STAGES_ENRICH_CRAWL_ENABLED="${DEMO_CRAWL:-false}"
# The sample's posts are from 2024: posts.receipt_floor (default 90 days
# from when the daemon received them) keeps them searchable after ingest;
# no retention setting is needed (docs/retention.md).
# The daemon's tables live in its own schema (database.schema, default
# assistant); psql is pointed there.
export ASSISTANT_DATABASE_SCHEMA=assistant
sql() { PGOPTIONS="-c search_path=${ASSISTANT_DATABASE_SCHEMA}" psql "$DATABASE_URL" "$@"; }
SAMPLE=testdata/telegram-news-ru/sample.jsonl
BIN=bin/assistant
LOG=$(mktemp -t assistant-demo.XXXXXX.log)

step() { printf '\n==> %s\n' "$*"; }

step "Redis and PostgreSQL"
bash scripts/services.sh
psql -h 127.0.0.1 -U postgres -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '${DB}'" | grep -q 1 ||
	createdb -h 127.0.0.1 -U postgres "$DB"

step "build ${BIN}"
# The Makefile's build: static flags and the version stamped.
make -s build BIN="$BIN"

step "migrate"
"$BIN" migrate up

step "ingest ${SAMPLE}"
"$BIN" ingest "$SAMPLE"
expected=$(grep -c . "$SAMPLE")

step "run the daemon until every post is stored (log: ${LOG})"
"$BIN" run >"$LOG" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
count() { sql -Atqc "SELECT count(*) FROM post_enrichment WHERE kind = 'tags'"; }
for ((i = 0; i < 120; i++)); do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "the daemon stopped; its log:" >&2
		cat "$LOG" >&2
		exit 1
	fi
	n=$(count)
	# On a terminal one line is rewritten; in a log or a pipe each new
	# count gets its own line.
	if [ -t 1 ]; then
		printf '\r%s of %s posts stored' "$n" "$expected"
	elif [ "$n" != "${last:-}" ]; then
		printf '%s of %s posts stored\n' "$n" "$expected"
		last=$n
	fi
	[ "$n" -ge "$expected" ] && break
	sleep 1
done
if [ -t 1 ]; then echo; fi
[ "$(count)" -ge "$expected" ] || { echo "not every post was stored in 2 minutes; log: $LOG" >&2; exit 1; }

step "streams"
"$BIN" streams

step "metrics (http://127.0.0.1:${PORT}/metrics)"
curl -fsS "http://127.0.0.1:${PORT}/metrics" |
	grep -E '^(tagging_processed_total|tags_persisted_total|stage_messages_total|stage_dlq_total)' || true

kill -TERM "$pid"
wait "$pid"
trap - EXIT

step "summary"
sql -qc "
SELECT count(*) AS posts,
       round(avg(jsonb_array_length(data->'tags')), 2) AS tags_per_post,
       count(*) FILTER (WHERE jsonb_array_length(data->'tags') >= 3) AS with_3_or_more_tags
FROM post_enrichment WHERE kind = 'tags';"
sql -qc "
SELECT left(regexp_replace(p.text, '\s+', ' ', 'g'), 70) AS post, e.data->'tags' AS tags
FROM posts p JOIN post_enrichment e ON e.post_id = p.post_id AND e.kind = 'tags'
WHERE length(p.text) > 120 ORDER BY p.posted_at DESC LIMIT 6;"
cat <<MSG
The daemon stored the sample in database ${DB}; its streams carry the prefix "demo:".
Run it yourself with:  DATABASE_URL=${DATABASE_URL} ASSISTANT_REDIS_KEY_PREFIX=demo: ${BIN} run
Metrics, health and readiness are then at http://127.0.0.1:${PORT}/metrics, /healthz, /readyz.
MSG
