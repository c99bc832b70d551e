package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
)

func (a *app) dlqCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, replay and purge dead-lettered entries",
		Long: `A stage sends an entry to the dead-letter queue of its input stream
(<stream>` + ".dlq" + ` by default) when it cannot be handled: at once for a permanent
failure, after runner.max_attempts deliveries for a transient one. STREAM is a
configured stream's name (posts.parsed) or role (parsed); ID is the entry's id
in the DLQ, as "dlq list" shows it ("dlq show" also takes the original id).`,
	}
	cmd.AddCommand(a.dlqListCommand(), a.dlqShowCommand(), a.dlqReplayCommand(), a.dlqPurgeCommand())
	return cmd
}

func (a *app) dlqListCommand() *cobra.Command {
	var (
		limit        int
		asJSON       bool
		filter       operator.DLQFilter
		since, until string
	)
	cmd := &cobra.Command{
		Use:   "list STREAM [--stage S] [--class C] [--post-id ID] [--since T] [--until T] [--json]",
		Short: "List the DLQ of a stream, oldest first, one entry per line",
		Long: `List shows the dead-lettered entries of STREAM's DLQ, oldest first. Filters
combine: --stage and --class (permanent, exhausted) match the entry's fields,
--post-id the post in the original event, --since and --until when the entry
was dead-lettered (RFC 3339, e.g. 2026-11-30T10:00:00Z, or a duration back
from now, e.g. 2h).`,
		Args: a.oneStreamArg("list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var err error
			if filter.Since, err = parseSince(now, since); err != nil {
				return errUsage(cmd, "--since: %v", err)
			}
			if filter.Until, err = parseSince(now, until); err != nil {
				return errUsage(cmd, "--until: %v", err)
			}
			rdb, keys, stream, err := a.openDLQ(cmd, args[0])
			if err != nil {
				return err
			}
			defer rdb.Close()
			page, err := operator.DLQQuery(cmd.Context(), rdb, keys, stream, filter, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return writeDLQListJSON(a.stdout, page)
			}
			return writeDLQList(a.stdout, page)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many entries (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entries as JSON")
	cmd.Flags().StringVar(&filter.Stage, "stage", "", "only entries dead-lettered by this stage")
	cmd.Flags().StringVar(&filter.ErrorClass, "class", "", "only entries of this error class (permanent, exhausted)")
	cmd.Flags().StringVar(&filter.PostID, "post-id", "", "only entries of this post")
	cmd.Flags().StringVar(&since, "since", "", "only entries dead-lettered at or after this time (RFC 3339, or a duration ago: 2h)")
	cmd.Flags().StringVar(&until, "until", "", "only entries dead-lettered before this time (RFC 3339, or a duration ago)")
	return cmd
}

// parseSince reads a point in time: RFC 3339, or a duration back from now.
func parseSince(now time.Time, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
}

func writeDLQList(w io.Writer, page operator.DLQMatches) error {
	fmt.Fprintf(w, "%s: %s", page.Key, count(page.Total, "entry", "entries"))
	if page.Matched != page.Total {
		fmt.Fprintf(w, ", %d matching", page.Matched)
	}
	if int64(len(page.Entries)) < page.Matched {
		fmt.Fprintf(w, " (showing the oldest %d)", len(page.Entries))
	}
	fmt.Fprintln(w)
	if len(page.Entries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENTRY ID\tSTAGE\tCLASS\tATTEMPTS\tFAILED AT\tPOST\tERROR")
	for _, e := range page.Entries {
		failed := e.Fields[pipeline.DLQFieldFailedAt]
		if !e.FailedAt.IsZero() {
			failed = e.FailedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			e.ID, dash(e.EntryID), dash(e.Stage), dash(e.ErrorClass), e.Attempts, dash(failed),
			dash(operator.DLQPostID(e)), truncateRunes(oneLine(e.Error), 160))
	}
	return tw.Flush()
}

// dlqEntryJSON is one entry of `dlq list --json`. Times are omitted when
// the entry does not carry them, rather than printed as year 1.
type dlqEntryJSON struct {
	ID          string            `json:"id"`
	Stream      string            `json:"stream"`
	Group       string            `json:"group,omitempty"`
	EntryID     string            `json:"entry_id,omitempty"`
	Stage       string            `json:"stage,omitempty"`
	ErrorClass  string            `json:"error_class,omitempty"`
	Attempts    int               `json:"attempts"`
	FirstSeenAt *time.Time        `json:"first_seen_at,omitempty"`
	FailedAt    *time.Time        `json:"failed_at,omitempty"`
	TraceID     string            `json:"trace_id,omitempty"`
	PostID      string            `json:"post_id,omitempty"`
	Error       string            `json:"error"`
	Data        map[string]string `json:"data"` // the original entry's fields; null when undecodable
	// DataEscaped: a field name or value held bytes that are not UTF-8;
	// data shows each as \xNN (the DLQ keeps the bytes; replay writes them).
	DataEscaped bool `json:"data_escaped,omitempty"`
}

func writeDLQListJSON(w io.Writer, page operator.DLQMatches) error {
	out := struct {
		Key     string         `json:"key"`
		Total   int64          `json:"total"`
		Matched int64          `json:"matched"`
		Entries []dlqEntryJSON `json:"entries"`
	}{Key: page.Key, Total: page.Total, Matched: page.Matched, Entries: []dlqEntryJSON{}}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, dlqEntryJSON{
			ID: e.ID, Stream: e.Stream, Group: e.Group, EntryID: e.EntryID, Stage: e.Stage,
			ErrorClass: e.ErrorClass, Attempts: e.Attempts, FirstSeenAt: timeOrNil(e.FirstSeenAt),
			FailedAt: timeOrNil(e.FailedAt), TraceID: e.TraceID, PostID: operator.DLQPostID(e),
			Error: e.Error, Data: pipeline.VisibleFields(e.Data), DataEscaped: !maps.Equal(pipeline.VisibleFields(e.Data), e.Data),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// count is "1 entry", "3 entries".
func count[N int | int64](n N, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(int(n), one, many))
}

func (a *app) dlqShowCommand() *cobra.Command {
	var streamFlag string
	cmd := &cobra.Command{
		Use:   "show ID [--stream STREAM]",
		Short: "Show every field of one DLQ entry, the original entry pretty-printed",
		Long: `Show prints a dead-lettered entry. ID is either its id in the DLQ (as "dlq
list" shows it) or the id the entry had in its original stream (the entry_id
of the "entry dead-lettered" log line); an original id dead-lettered by
several stages shows each of their DLQ entries.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			streams := streamNames(configuredStreams(cfg, a.stages, false))
			if streamFlag != "" {
				stream, err := resolveStream(cfg, a.stages, streamFlag)
				if err != nil {
					return err
				}
				streams = []string{stream}
			}
			rdb, err := connectRedis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			entries, err := operator.DLQFind(cmd.Context(), rdb, keysOf(cfg), streams, args[0])
			if err != nil {
				return err
			}
			for i, e := range entries {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				if err := writeDLQEntry(a.stdout, e); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&streamFlag, "stream", "", "the stream whose DLQ holds the entry (default: search the DLQ of every configured stream)")
	return cmd
}

func writeDLQEntry(w io.Writer, e pipeline.DLQEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", e.ID)
	shown := map[string]bool{pipeline.DLQFieldData: true}
	for _, f := range []string{
		pipeline.DLQFieldStream, pipeline.DLQFieldGroup, pipeline.DLQFieldEntryID, pipeline.DLQFieldStage,
		pipeline.DLQFieldErrorClass, pipeline.DLQFieldAttempts, pipeline.DLQFieldFirstSeenAt,
		pipeline.DLQFieldFailedAt, pipeline.DLQFieldTraceID, pipeline.DLQFieldError,
	} {
		shown[f] = true
		fmt.Fprintf(tw, "%s:\t%s\n", f, dash(e.Fields[f]))
	}
	// Fields a newer runner may add are shown too: nothing is hidden. The
	// raw: copies of the original fields are what "data:" shows below.
	for _, f := range sortedKeys(e.Fields) {
		if !shown[f] && !strings.HasPrefix(f, pipeline.DLQRawFieldPrefix) {
			fmt.Fprintf(tw, "%s:\t%s\n", pipeline.VisibleBytes(f), pipeline.VisibleBytes(e.Fields[f]))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "data:")
	_, err := io.WriteString(w, indent(prettyDLQData(e), "  "))
	return err
}

// prettyDLQData renders the original entry: the event of a data field as
// indented JSON, then any other fields (flat legacy fields, or fields beside
// data) one per line; when the DLQ's data field is not JSON, the raw text
// and why. Bytes that are not UTF-8 are shown as \xNN (pipeline.VisibleBytes).
func prettyDLQData(e pipeline.DLQEntry) string {
	if e.Data == nil {
		return fmt.Sprintf("%s\n(%v)\n", pipeline.VisibleBytes(e.Fields[pipeline.DLQFieldData]), e.DataErr)
	}
	var b strings.Builder
	if event, ok := e.Data[events.DataField]; ok {
		var buf bytes.Buffer
		// json.Indent passes bytes inside strings through as they are, so
		// escaping after indenting shows the bad bytes where they are.
		if err := json.Indent(&buf, []byte(event), "", "  "); err == nil {
			event = buf.String()
		}
		b.WriteString("data = " + pipeline.VisibleBytes(event) + "\n")
	}
	for _, k := range sortedKeys(e.Data) {
		if k != events.DataField {
			fmt.Fprintf(&b, "%s = %s\n", pipeline.VisibleBytes(k), pipeline.VisibleBytes(e.Data[k]))
		}
	}
	return b.String()
}

func (a *app) dlqReplayCommand() *cobra.Command {
	return a.dlqChangeCommand(dlqChange{
		use:     "replay STREAM (--id ID... | --all) [--dry-run]",
		short:   "Put dead-lettered entries back on their stream (XADD + XDEL in one MULTI/EXEC each)",
		idHelp:  "DLQ entry id to replay (repeatable, or comma-separated)",
		allHelp: "replay every entry in the DLQ",
		verb:    "replay",
		done:    "replayed",
		run:     operator.DLQReplay,
		// A replay that fails partway has already moved the entries before
		// the failure: say how many.
		countOnError: true,
	})
}

func (a *app) dlqPurgeCommand() *cobra.Command {
	return a.dlqChangeCommand(dlqChange{
		use:     "purge STREAM (--id ID... | --all [--yes]) [--dry-run]",
		short:   "Delete dead-lettered entries for good (--all asks first, or needs --yes)",
		idHelp:  "DLQ entry id to delete (repeatable, or comma-separated)",
		allHelp: "delete every entry in the DLQ (asks on a terminal; --yes otherwise)",
		verb:    "purge",
		done:    "purged",
		run:     operator.DLQPurge,
		// Deleting a whole DLQ cannot be undone: confirm it.
		confirmAll: true,
	})
}

// dlqChange describes a dlq subcommand that changes a stream's DLQ: it takes
// STREAM and --id ID... or --all, and reports how many entries it handled.
type dlqChange struct {
	use, short      string
	idHelp, allHelp string
	verb            string // "purge": for --dry-run and the confirmation
	done            string // past participle in the report: "replayed 3 entries from ..."
	run             func(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, ids []string, all bool) (operator.DLQResult, error)
	// countOnError prints the count even when run fails.
	countOnError bool
	// confirmAll makes --all ask on a terminal and need --yes elsewhere.
	confirmAll bool
}

func (a *app) dlqChangeCommand(op dlqChange) *cobra.Command {
	var ids []string
	var all, dryRun, yes bool
	cmd := &cobra.Command{
		Use:   op.use,
		Short: op.short,
		Args:  a.oneStreamArg(op.verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := oneOfIDsOrAll(cmd, ids, all); err != nil {
				return err
			}
			rdb, keys, stream, err := a.openDLQ(cmd, args[0])
			if err != nil {
				return err
			}
			defer rdb.Close()
			dlqKey := operator.DLQName(keys, stream)
			if dryRun || (all && op.confirmAll && !yes) {
				n, err := operator.DLQCount(cmd.Context(), rdb, keys, stream, ids, all)
				if err != nil {
					return err
				}
				if dryRun {
					_, err := fmt.Fprintf(a.stdout, "would %s %s from %s (dry run: nothing changed)\n", op.verb, count(n, "entry", "entries"), dlqKey)
					return err
				}
				if n == 0 {
					_, err := fmt.Fprintf(a.stdout, "%s is empty: nothing to %s\n", dlqKey, op.verb)
					return err
				}
				if err := a.confirm(cmd, fmt.Sprintf("%s all %s of %s", op.verb, count(n, "entry", "entries"), dlqKey)); err != nil {
					return err
				}
			}
			res, err := op.run(cmd.Context(), rdb, keys, stream, ids, all)
			if err != nil && !op.countOnError {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s from %s\n", op.done, count(res.Done, "entry", "entries"), dlqKey)
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(a.stderr, "skipped %s\n", s)
			}
			if len(res.Skipped) > 0 {
				return fmt.Errorf("%s could not be %s and %s in the DLQ (see \"dlq show\")",
					count(len(res.Skipped), "entry", "entries"), op.done, plural(len(res.Skipped), "stays", "stay"))
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ids, "id", nil, op.idHelp)
	cmd.Flags().BoolVar(&all, "all", false, op.allHelp)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say how many entries would be handled, and change nothing")
	if op.confirmAll {
		cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	}
	return cmd
}

// openDLQ loads the configuration, resolves the STREAM argument (a stream's
// name or role) and connects to Redis; the caller closes rdb.
// oneStreamArg accepts exactly one STREAM argument. Without one, the error
// lists the streams whose DLQ the command could work on, rather than
// cobra's "accepts 1 arg(s), received 0".
func (a *app) oneStreamArg(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 1:
			return nil
		case len(args) > 1:
			return errUsage(cmd, "takes one STREAM, got %d arguments: %s", len(args), strings.Join(args, " "))
		}
		// The streams of the configuration when it loads; a broken one is
		// reported by the command itself once a stream is named.
		cfg := a.stages.DefaultConfig()
		if loaded, err := a.loadConfig(); err == nil {
			cfg = *loaded
		}
		return errUsage(cmd, "name the stream whose DLQ to %s: one of %s (e.g. assistant %s %s; assistant streams shows each DLQ's size)",
			verb, strings.Join(streamNames(configuredStreams(&cfg, a.stages, false)), ", "), commandName(cmd), cfg.Streams.Tagged)
	}
}

func (a *app) openDLQ(cmd *cobra.Command, streamArg string) (rdb redis.UniversalClient, keys pipeline.Keys, stream string, err error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, pipeline.Keys{}, "", err
	}
	stream, err = resolveStream(cfg, a.stages, streamArg)
	if err != nil {
		return nil, pipeline.Keys{}, "", err
	}
	rdb, err = connectRedis(cmd.Context(), cfg)
	if err != nil {
		return nil, pipeline.Keys{}, "", err
	}
	return rdb, keysOf(cfg), stream, nil
}

func oneOfIDsOrAll(cmd *cobra.Command, ids []string, all bool) error {
	switch {
	case all && len(ids) > 0:
		return errUsage(cmd, "give either --id or --all, not both")
	case !all && len(ids) == 0:
		return errUsage(cmd, "name the entries with --id ID, or use --all")
	}
	if slices.Contains(ids, "") {
		return errUsage(cmd, "--id must not be empty")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
