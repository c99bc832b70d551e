package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/assistant-dev/assistant/pipeline/operator"
	"github.com/spf13/cobra"
)

func (a *app) streamsCommand() *cobra.Command {
	var asJSON, showConsumers, showPartitions bool
	cmd := &cobra.Command{
		Use:   "streams",
		Short: "Show each stream: length, groups with lag, pending and oldest pending age, and DLQ size",
		Long: `Streams reports the configured streams (and the old worker's keys when
streams.legacy_consumer_enabled is set, or when they hold entries: then
nothing reads them, and a warning says so). For every consumer group: LAG is the
number of entries not yet delivered ("?" when Redis cannot tell), PENDING the
entries delivered but not acknowledged, OLDEST PENDING the age of the oldest
pending entry (now minus the time in its id: how long that post has been in
the stream) and IDLE how long ago it was last delivered.

With partitioned streams (streams.partitions > 1) each stream's row sums its
partitions and the unpartitioned key the router empties (group
partition-router); --partitions adds a row per partition (stream[pN]).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			rdb, err := connectRedis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			names := streamNames(configuredStreams(cfg, a.stages, false))
			// The old worker's keys that hold entries are shown even with
			// the legacy consumer off: nothing reads them then.
			var ignored []string
			if !cfg.Streams.LegacyConsumerEnabled {
				for _, name := range cfg.Streams.LegacyKeys() {
					if name == "" || slices.Contains(names, name) {
						continue
					}
					if n, err := rdb.XLen(cmd.Context(), keysOf(cfg).Stream(name)).Result(); err == nil && n > 0 {
						names = append(names, name)
						ignored = append(ignored, fmt.Sprintf("%s holds %d entries that nothing reads (streams.legacy_consumer_enabled is off)", name, n))
					}
				}
			}
			reports, err := operator.StreamsReport(cmd.Context(), rdb, keysOf(cfg), names)
			if err != nil {
				return err
			}
			for _, line := range ignored {
				fmt.Fprintln(a.stderr, "warning: "+line)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(streamsJSON(reports))
			}
			if showPartitions {
				reports = withPartitionRows(reports)
			}
			return writeStreamsTable(a.stdout, reports, showConsumers)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&showConsumers, "consumers", false, "list each group's consumers")
	cmd.Flags().BoolVar(&showPartitions, "partitions", false, "with partitioned streams, a row for each partition under its stream's sum")
	return cmd
}

// withPartitionRows puts each partition's report, named stream[pN], after
// its stream's sum.
func withPartitionRows(reports []operator.StreamReport) []operator.StreamReport {
	var out []operator.StreamReport
	for _, r := range reports {
		out = append(out, r)
		for _, p := range r.Partitions {
			p.Stream = fmt.Sprintf("%s[p%d]", p.Stream, p.Partition)
			out = append(out, p)
		}
	}
	return out
}

func writeStreamsTable(w io.Writer, reports []operator.StreamReport, showConsumers bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tLENGTH\tDLQ\tGROUP\tLAG\tPENDING\tOLDEST PENDING\tIDLE\tCONSUMERS")
	for _, r := range reports {
		length := strconv.FormatInt(r.Length, 10)
		if !r.Exists {
			length = "-"
		}
		dlq := strconv.FormatInt(r.DLQLength, 10)
		if len(r.Groups) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t\t\t\t\t\n", r.Stream, length, dlq)
			continue
		}
		for i, g := range r.Groups {
			stream, l, d := r.Stream, length, dlq
			if i > 0 {
				stream, l, d = "", "", ""
			}
			lag := strconv.FormatInt(g.Lag, 10)
			if g.Lag < 0 {
				lag = "?"
			}
			oldest, idle := "-", "-"
			if g.OldestPendingID != "" {
				oldest, idle = shortDuration(g.OldestPendingAge), shortDuration(g.OldestPendingIdle)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\n",
				stream, l, d, g.Name, lag, g.Pending, oldest, idle, len(g.Consumers))
			if showConsumers {
				for _, c := range g.Consumers {
					fmt.Fprintf(tw, "\t\t\t  %s\t\t%d\t\t%s\t\n", c.Name, c.Pending, shortDuration(c.Idle))
				}
			}
		}
	}
	return tw.Flush()
}

// shortDuration rounds a duration for a table: 1.2s, 3m4s, 5h6m, 7d8h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return trimZeroUnits(d.Round(time.Minute).String())
	default:
		days := int(d / (24 * time.Hour))
		hours := int((d % (24 * time.Hour)) / time.Hour)
		return fmt.Sprintf("%dd%dh", days, hours)
	}
}

func trimZeroUnits(s string) string {
	if len(s) > 2 && s[len(s)-2:] == "0s" {
		s = s[:len(s)-2]
	}
	return s
}

// streamJSON is a stream in `streams --json`: lists are [] rather than null
// when empty, and a time that does not exist (the newest DLQ entry of an
// empty DLQ) is left out rather than printed as 0001-01-01T00:00:00Z. The
// embedded report's other fields are written as they are.
type streamJSON struct {
	operator.StreamReport
	Groups        []groupJSON `json:"groups"`
	DLQNewestTime *time.Time  `json:"dlq_newest_time,omitempty"`
}

type groupJSON struct {
	operator.GroupReport
	Consumers []operator.ConsumerReport `json:"consumers"`
}

func streamsJSON(reports []operator.StreamReport) []streamJSON {
	out := make([]streamJSON, 0, len(reports))
	for _, r := range reports {
		s := streamJSON{StreamReport: r, Groups: make([]groupJSON, 0, len(r.Groups)), DLQNewestTime: timeOrNil(r.DLQNewestTime)}
		for _, g := range r.Groups {
			consumers := g.Consumers
			if consumers == nil {
				consumers = []operator.ConsumerReport{}
			}
			s.Groups = append(s.Groups, groupJSON{GroupReport: g, Consumers: consumers})
		}
		out = append(out, s)
	}
	return out
}
