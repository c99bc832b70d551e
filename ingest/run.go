package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
)

// DefaultStream is the stream posts go to when Options.Stream is empty
// (config streams.parsed).
const DefaultStream = "posts.parsed"

// DefaultBatchSize is how many XADDs go in one pipelined round trip.
const DefaultBatchSize = 500

// Options control Run.
type Options struct {
	// Stream is the unprefixed stream name; Run prefixes it with Keys.
	// Empty means DefaultStream.
	Stream string
	// Format of the input files; empty or FormatAuto detects each file's.
	Format Format
	// DryRun writes each event to Out as one JSON line (the stream entry's
	// data field) instead of publishing; Redis is not touched and may be nil.
	DryRun bool
	// Out receives the dry run's JSON lines. Required with DryRun.
	Out io.Writer
	// Limit stops after that many posts over all files; 0 means no limit.
	Limit int
	// BatchSize is the number of XADDs per round trip; 0 means
	// DefaultBatchSize.
	BatchSize int
	// Progress receives progress: on a terminal a line redrawn in place
	// while reading, otherwise nothing until the summary line at the end.
	// nil shows nothing.
	Progress io.Writer
	// Logger logs each problem (at warn level) and the summary; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnProblem, when set, also receives each problem.
	OnProblem func(Problem)
	// Retention, when set (posts.retention > 0), is checked against each
	// post: Summary.Retention counts those already older than it.
	Retention config.Posts
}

// Summary is the outcome of Run.
type Summary struct {
	Counts
	// Files is the number of files read (wholly or in part).
	Files int `json:"files"`
	// Published is the number of entries added to the stream, or written in
	// a dry run. It equals Counts.Posts unless publishing failed.
	Published int `json:"published"`
	// Stream is the (prefixed) stream key written to; empty in a dry run.
	Stream string `json:"stream,omitempty"`
	DryRun bool   `json:"dry_run"`
	// LimitReached reports that Options.Limit stopped the run early.
	LimitReached bool          `json:"limit_reached"`
	Elapsed      time.Duration `json:"elapsed"`
	// Retention counts the posts older than posts.retention (Options.Retention).
	Retention *RetentionTally `json:"retention,omitempty"`
}

// String is the summary line shown at the end of a run.
func (s Summary) String() string {
	verb := "published to " + s.Stream
	if s.DryRun {
		verb = "written (dry run)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ingested %d posts (%d media without text) from %d file(s) in %s: %d %s, %d skipped (%d service, %d empty",
		s.Posts, s.MediaOnly, s.Files, s.Elapsed.Round(time.Millisecond), s.Published, verb,
		s.Skipped(), s.SkippedService, s.SkippedEmpty)
	if s.SkippedChats > 0 {
		fmt.Fprintf(&b, "; %d non-channel chats", s.SkippedChats)
	}
	fmt.Fprintf(&b, "), %d malformed", s.Malformed)
	if s.LimitReached {
		b.WriteString(", stopped at the limit")
	}
	return b.String()
}

// errLimitReached stops reading once Options.Limit posts were taken.
var errLimitReached = errors.New("limit reached")

// Run reads files ("-" is standard input) and publishes their posts to the
// posts.parsed stream named by keys and opts.Stream, in pipelined batches,
// with XADD and no MAXLEN (spec section 12: a cap silently drops a backlog).
//
// A file that cannot be opened or read to its end is reported, and the other
// files are still read; Run then returns the summary and those errors
// joined. A Redis failure or the end of ctx stops the run at once. Entries
// published before a failure stay published: their ids are deterministic,
// so running the same files again is safe.
func Run(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, files []string, opts Options) (Summary, error) {
	start := time.Now()
	sum := Summary{DryRun: opts.DryRun}
	if len(files) == 0 {
		return sum, errors.New("ingest: no input files")
	}
	format, err := ParseFormat(string(opts.Format))
	if err != nil {
		return sum, fmt.Errorf("ingest: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	stream := opts.Stream
	if stream == "" {
		stream = DefaultStream
	}
	pub := &publisher{rdb: rdb, batchSize: opts.BatchSize}
	if opts.Retention.Retention > 0 {
		sum.Retention = NewRetentionTally(opts.Retention, start)
		pub.tally = sum.Retention
	}
	switch {
	case opts.DryRun && opts.Out == nil:
		return sum, errors.New("ingest: a dry run needs an output writer")
	case opts.DryRun:
		pub.dryRun = bufio.NewWriterSize(opts.Out, 64<<10)
	case rdb == nil:
		return sum, errors.New("ingest: no Redis client")
	default:
		pub.stream = keys.Stream(stream)
		pub.keys, pub.name = keys, stream
		sum.Stream = pub.stream
	}
	if pub.batchSize <= 0 {
		pub.batchSize = DefaultBatchSize
	}
	prog := newProgress(opts.Progress)

	var fileErrs []error
	// stop ends the run early: what was published stays published; a dry
	// run's buffered lines are still written out.
	stop := func(err error) (Summary, error) {
		prog.clear()
		if pub.dryRun != nil {
			_ = pub.dryRun.Flush()
		}
		sum.Published = pub.published
		sum.Elapsed = time.Since(start)
		return sum, err
	}
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		counts, err := ingestFile(ctx, path, format, pub, prog, logger, opts)
		sum.Files++
		sum.Counts.add(counts)
		if errors.Is(err, errLimitReached) {
			sum.LimitReached = true
			break
		}
		if err != nil && (errors.Is(err, errPublish) || ctx.Err() != nil) {
			return stop(err)
		}
		if err != nil {
			fileErrs = append(fileErrs, err)
		}
	}
	if err := pub.flush(ctx); err != nil {
		return stop(err)
	}
	sum.Published = pub.published
	sum.Elapsed = time.Since(start)
	prog.finish(sum)
	// Debug: the summary line (Options.Progress) already says this to a
	// person; the log line is for those who collect debug logs.
	logger.Debug("ingest finished", "files", sum.Files, "posts", sum.Posts, "published", sum.Published,
		"skipped", sum.Skipped(), "malformed", sum.Malformed, "dry_run", sum.DryRun,
		"stream", sum.Stream, "elapsed", sum.Elapsed)
	return sum, errors.Join(fileErrs...)
}

// ingestFile reads one file into the publisher.
func ingestFile(ctx context.Context, path string, format Format, pub *publisher, prog *progress, logger *slog.Logger, opts Options) (Counts, error) {
	var in io.Reader
	var size int64
	if path == "-" {
		in = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			err = fmt.Errorf("open input: %w", err)
			prog.clear()
			logger.Error("ingest: cannot read file", "file", path, "error", err)
			return Counts{}, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	counter := &countingReader{r: in}
	prog.startFile(path, size, counter)

	malformed := 0
	emit := func(ev *events.PostParsed) error {
		if err := pub.add(ctx, ev); err != nil {
			return err
		}
		prog.tick(pub.accepted, malformed)
		if opts.Limit > 0 && pub.accepted >= opts.Limit {
			return errLimitReached
		}
		return nil
	}
	report := func(p Problem) {
		if !p.Fatal {
			malformed++
		}
		prog.clear()
		attrs := []any{"file", p.File, "reason", p.Reason}
		if p.Line > 0 {
			attrs = append(attrs, "line", p.Line)
		}
		if p.Index >= 0 {
			attrs = append(attrs, "chat", p.Chat, "index", p.Index)
		}
		if p.MessageID != 0 {
			attrs = append(attrs, "message_id", p.MessageID)
		}
		if p.Fatal {
			logger.Error("ingest: file unreadable from here on", attrs...)
		} else {
			logger.Warn("ingest: record skipped", attrs...)
		}
		if opts.OnProblem != nil {
			opts.OnProblem(p)
		}
	}
	counts, err := Read(ctx, counter, path, format, emit, report)
	if err != nil && !errors.Is(err, errLimitReached) && !errors.Is(err, errPublish) && ctx.Err() == nil {
		return counts, fmt.Errorf("ingest %s: %w", path, err)
	}
	return counts, err
}

// errPublish marks a failure to write to Redis (or the dry-run output):
// unlike a bad input file, it ends the run.
var errPublish = errors.New("publish")

// publisher batches events into pipelined XADDs, or writes them as JSON
// lines in a dry run.
type publisher struct {
	rdb    redis.UniversalClient
	stream string
	// keys and name place each entry in its post's partition
	// (streams.partitions); stream is the unpartitioned key.
	keys      pipeline.Keys
	name      string
	dryRun    *bufio.Writer
	batchSize int
	batch     []map[string]any
	accepted  int // events taken, published or queued
	published int // events known to be in the stream (or written)
	tally     *RetentionTally
}

func (p *publisher) add(ctx context.Context, ev *events.PostParsed) error {
	values, err := events.Encode(ev)
	if err != nil {
		return fmt.Errorf("%w: post %s: %w", errPublish, ev.PostID, err)
	}
	p.accepted++
	p.tally.Observe(ev.PostedAt)
	if p.dryRun != nil {
		data, _ := values[events.DataField].(string)
		if _, err := p.dryRun.WriteString(data + "\n"); err != nil {
			return fmt.Errorf("%w: write dry-run output: %w", errPublish, err)
		}
		p.published++
		return nil
	}
	p.batch = append(p.batch, values)
	if len(p.batch) >= p.batchSize {
		return p.flush(ctx)
	}
	return nil
}

// flush sends the queued XADDs in one pipeline round trip.
func (p *publisher) flush(ctx context.Context) error {
	if p.dryRun != nil {
		if err := p.dryRun.Flush(); err != nil {
			return fmt.Errorf("%w: write dry-run output: %w", errPublish, err)
		}
		return nil
	}
	if len(p.batch) == 0 {
		return nil
	}
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(p.batch))
	for i, values := range p.batch {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.keys.EntryStream(p.name, values), Values: values})
	}
	_, execErr := pipe.Exec(ctx)
	var firstErr error
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		p.published++
	}
	clear(p.batch)
	p.batch = p.batch[:0]
	if firstErr == nil {
		firstErr = execErr
	}
	if firstErr != nil {
		return fmt.Errorf("%w: XADD %s: %w", errPublish, p.stream, firstErr)
	}
	return nil
}

// countingReader counts the bytes read, for the progress bar.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
