// Package telegram is the live Telegram source of the daemon: a service that
// reads channels with a user account over MTProto (github.com/gotd/td) and
// publishes their posts to posts.parsed and their deletions to
// posts.deleted, the way `assistant ingest` does for exported files.
//
// Per channel it keeps a checkpoint (the highest message id published) in
// PostgreSQL. On start it reads the history above the checkpoint, or the
// last backfill_days of a channel it has never read, and then follows the
// channel's updates through gotd's updates engine, which recovers gaps
// (updates lost while disconnected) with getChannelDifference. Edits are
// published again under the same post id; deletions become posts.deleted
// entries with reason=telegram.
//
// Telegram's limits are respected: a FLOOD_WAIT is slept and the call
// retried, calls are paced per method, a lost connection is re-established
// with backoff. Replicas share the channels through a Redis lease per
// channel, so no two replicas read the same channel.
//
// Post ids come from ingest.Message, the builder file ingest uses, so a post
// read live and from a Telegram Desktop export is one post.
//
// The session (the account's auth key) is created by `assistant telegram
// login` (Login) or imported from a Telethon string session
// (ImportTelethon), and stored in PostgreSQL or in a file readable by its
// owner only.
package telegram
