package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/pipeline"
)

func (a *app) dlqCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, replay and purge dead-lettered entries",
		Long: `A stage sends an entry to the dead-letter queue of its input stream
(<stream>` + ".dlq" + ` by default) when it cannot be handled: at once for a permanent
failure, after runner.max_attempts deliveries for a transient one. STREAM is a
configured stream's name (posts.parsed) or role (parsed); ID is the entry's id
in the DLQ, as "dlq list" shows it.`,
	}
	cmd.AddCommand(a.dlqListCommand(), a.dlqShowCommand(), a.dlqReplayCommand(), a.dlqPurgeCommand())
	return cmd
}

func (a *app) dlqListCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list STREAM",
		Short: "List the DLQ of a stream, oldest first, one entry per line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rdb, keys, stream, err := a.openDLQ(cmd, args[0])
			if err != nil {
				return err
			}
			defer rdb.Close()
			page, err := pipeline.DLQList(cmd.Context(), rdb, keys, stream, limit)
			if err != nil {
				return err
			}
			return writeDLQList(a.stdout, page)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many entries (0: all)")
	return cmd
}

func writeDLQList(w io.Writer, page pipeline.DLQPage) error {
	fmt.Fprintf(w, "%s: %d entries", page.Key, page.Total)
	if int64(len(page.Entries)) < page.Total {
		fmt.Fprintf(w, " (showing the oldest %d)", len(page.Entries))
	}
	fmt.Fprintln(w)
	if len(page.Entries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTAGE\tCLASS\tATTEMPTS\tFAILED AT\tERROR")
	for _, e := range page.Entries {
		failed := e.Fields[pipeline.DLQFieldFailedAt]
		if !e.FailedAt.IsZero() {
			failed = e.FailedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n",
			e.ID, dash(e.Stage), dash(e.ErrorClass), e.Attempts, dash(failed), truncateRunes(oneLine(e.Error), 160))
	}
	return tw.Flush()
}

func (a *app) dlqShowCommand() *cobra.Command {
	var streamFlag string
	cmd := &cobra.Command{
		Use:   "show ID [--stream STREAM]",
		Short: "Show every field of one DLQ entry, the original entry pretty-printed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			streams := streamNames(configuredStreams(cfg, a.stages, true))
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
			entry, err := pipeline.DLQGet(cmd.Context(), rdb, keysOf(cfg), streams, args[0])
			if err != nil {
				return err
			}
			return writeDLQEntry(a.stdout, entry)
		},
	}
	cmd.Flags().StringVar(&streamFlag, "stream", "", "the stream whose DLQ holds the entry (default: search every DLQ)")
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
	// Fields a newer runner may add are shown too: nothing is hidden.
	for _, f := range sortedKeys(e.Fields) {
		if !shown[f] {
			fmt.Fprintf(tw, "%s:\t%s\n", f, e.Fields[f])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "data:")
	_, err := io.WriteString(w, indent(prettyDLQData(e), "  "))
	return err
}

// prettyDLQData renders the original entry: for the usual single data field,
// the event JSON itself, indented; for flat legacy fields, the fields as an
// indented JSON object; when the data field is not JSON, the raw text and why.
func prettyDLQData(e pipeline.DLQEntry) string {
	if e.Data == nil {
		return fmt.Sprintf("%s\n(%v)\n", e.Fields[pipeline.DLQFieldData], e.DataErr)
	}
	if event, ok := e.Data[pipeline.DataField]; ok && len(e.Data) == 1 {
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(event), "", "  "); err == nil {
			return "data = " + buf.String() + "\n"
		}
		return "data = " + event + "\n"
	}
	keys := sortedKeys(e.Data)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, e.Data[k])
	}
	return b.String()
}

func (a *app) dlqReplayCommand() *cobra.Command {
	return a.dlqChangeCommand(dlqChange{
		use:     "replay STREAM (--id ID... | --all)",
		short:   "Put dead-lettered entries back on their stream (XADD + XDEL in one MULTI/EXEC each)",
		idHelp:  "DLQ entry id to replay (repeatable, or comma-separated)",
		allHelp: "replay every entry in the DLQ",
		done:    "replayed",
		run:     pipeline.DLQReplay,
		// A replay that fails partway has already moved the entries before
		// the failure: say how many.
		countOnError: true,
	})
}

func (a *app) dlqPurgeCommand() *cobra.Command {
	return a.dlqChangeCommand(dlqChange{
		use:     "purge STREAM (--id ID... | --all)",
		short:   "Delete dead-lettered entries for good",
		idHelp:  "DLQ entry id to delete (repeatable, or comma-separated)",
		allHelp: "delete every entry in the DLQ",
		done:    "purged",
		run:     pipeline.DLQPurge,
	})
}

// dlqChange describes a dlq subcommand that changes a stream's DLQ: it takes
// STREAM and --id ID... or --all, and reports how many entries it handled.
type dlqChange struct {
	use, short      string
	idHelp, allHelp string
	done            string // past participle in the report: "replayed 3 entries from ..."
	run             func(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, ids []string, all bool) (pipeline.DLQResult, error)
	// countOnError prints the count even when run fails.
	countOnError bool
}

func (a *app) dlqChangeCommand(op dlqChange) *cobra.Command {
	var ids []string
	var all bool
	cmd := &cobra.Command{
		Use:   op.use,
		Short: op.short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := oneOfIDsOrAll(cmd, ids, all); err != nil {
				return err
			}
			rdb, keys, stream, err := a.openDLQ(cmd, args[0])
			if err != nil {
				return err
			}
			defer rdb.Close()
			res, err := op.run(cmd.Context(), rdb, keys, stream, ids, all)
			if err != nil && !op.countOnError {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %d entries from %s\n", op.done, res.Done, keys.DLQ(stream))
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(a.stderr, "skipped %s\n", s)
			}
			if len(res.Skipped) > 0 {
				return fmt.Errorf("%d entries could not be %s and stay in the DLQ (see \"dlq show\")", len(res.Skipped), op.done)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ids, "id", nil, op.idHelp)
	cmd.Flags().BoolVar(&all, "all", false, op.allHelp)
	return cmd
}

// openDLQ loads the configuration, resolves the STREAM argument (a stream's
// name or role) and connects to Redis; the caller closes rdb.
func (a *app) openDLQ(cmd *cobra.Command, streamArg string) (rdb *redis.Client, keys pipeline.Keys, stream string, err error) {
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
