// Package ingest turns Telegram posts from files into posts.parsed events
// (spec sections 1–3): JSONL dumps in the format of the telegram-news-ru
// corpus, and Telegram Desktop JSON exports (result.json, a single chat or a
// whole account). It is the library behind `assistant ingest FILE...`.
//
// Read and ReadFile stream a file and hand each post to a callback as a
// *events.PostParsed, without Redis; Run publishes them to the posts.parsed
// stream in pipelined batches (or writes them as JSON lines in a dry run)
// and shows progress.
//
// Both readers skip what is not a post (service messages, messages with
// neither text nor media) — a photo or video without a caption is a post,
// with an empty text and has_media — and
// report what is broken (a malformed line or message object, with its line
// number or index and the reason) without stopping: one bad record never
// costs the rest of the file.
//
// Ids are deterministic (see PostID), so ingesting a file again publishes
// events with the same post ids and idempotency keys; the consumers'
// idempotency makes the second run a no-op downstream. Ingest itself does
// not deduplicate: a re-run is also how an operator replays a file.
package ingest
