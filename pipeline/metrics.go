package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/internal/promreg"
)

// Statuses of stage_messages_total.
const (
	StatusSuccess = "success"
	StatusRetry   = "retry"
	StatusDLQ     = "dlq"
)

// runnerMetrics are the runner metrics of docs/metrics.md.
type runnerMetrics struct {
	messages       *prometheus.CounterVec
	handleDuration *prometheus.HistogramVec
	inflight       *prometheus.GaugeVec
	lag            *prometheus.GaugeVec
	pending        *prometheus.GaugeVec
	oldestPending  *prometheus.GaugeVec
	retries        *prometheus.CounterVec
	dlq            *prometheus.CounterVec
	claimed        *prometheus.CounterVec
	republished    *prometheus.CounterVec
	paused         *prometheus.GaugeVec
	echoSkipped    *prometheus.CounterVec
	// Partitioned streams (streams.partitions > 1): the series above sum
	// the partitions of a stream; these hold each partition.
	partitionLag     *prometheus.GaugeVec
	partitionPending *prometheus.GaugeVec
	routed           *prometheus.CounterVec
}

func newRunnerMetrics(reg prometheus.Registerer) (*runnerMetrics, error) {
	m := &runnerMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stage_messages_total",
			Help: "Entries handled by a stage, by outcome: success (acknowledged), retry (a transient failure scheduled again), dlq (dead-lettered).",
		}, []string{"stage", "status"}),
		handleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stage_handle_duration_seconds",
			Help:    "Duration of one Handle call of a stage (one entry, or one batch for batch stages).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"stage"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stage_inflight",
			Help: "Entries read by a stage and not yet acknowledged or dead-lettered (including those waiting for a retry).",
		}, []string{"stage"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stream_lag",
			Help: "Entries in the stream not yet delivered to the group.",
		}, []string{"stream", "group"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stream_pending",
			Help: "Entries delivered to the group and not yet acknowledged.",
		}, []string{"stream", "group"}),
		oldestPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stream_oldest_pending_age_seconds",
			Help: "Age (by entry id time) of the oldest entry pending in the group; 0 when none is pending.",
		}, []string{"stream", "group"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stage_retries_total",
			Help: "Transient failures that were scheduled for another attempt.",
		}, []string{"stage"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stage_dlq_total",
			Help: "Entries moved to the dead-letter queue, by reason (permanent, exhausted).",
		}, []string{"stage", "reason"}),
		claimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stage_claimed_total",
			Help: "Entries claimed from other consumers, by reason: consumer_gone (its heartbeat is gone: taken at once), idle (pending longer than runner.claim_min_idle).",
		}, []string{"stage", "reason"}),
		republished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stage_republished_total",
			Help: "Entries waiting for a retry whose stream entry Redis lost (a restart without persistence), added to their stream again.",
		}, []string{"stage"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stage_paused",
			Help: "1 while a stage is paused because a dependency is unavailable (a store down, a table missing), else 0.",
		}, []string{"stage"}),
		echoSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stage_echo_skipped_total",
			Help: "Entries of an old worker's key that were the daemon's own copies (legacy_publish_*), acknowledged without being handled.",
		}, []string{"stage"}),
		partitionLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stream_partition_lag",
			Help: "Entries in one partition of the stream not yet delivered to the group (streams.partitions > 1; stream_lag is their sum).",
		}, []string{"stream", "group", "partition"}),
		partitionPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stream_partition_pending",
			Help: "Entries of one partition of the stream delivered to the group and not yet acknowledged (streams.partitions > 1; stream_pending is their sum).",
		}, []string{"stream", "group", "partition"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stream_routed_total",
			Help: "Entries of an unpartitioned stream (written by a producer that does not know partitions) moved into their partition.",
		}, []string{"stream"}),
	}
	if err := errors.Join(
		promreg.Into(reg, &m.messages), promreg.Into(reg, &m.handleDuration), promreg.Into(reg, &m.inflight),
		promreg.Into(reg, &m.lag), promreg.Into(reg, &m.pending), promreg.Into(reg, &m.oldestPending),
		promreg.Into(reg, &m.retries), promreg.Into(reg, &m.dlq), promreg.Into(reg, &m.claimed),
		promreg.Into(reg, &m.republished), promreg.Into(reg, &m.paused), promreg.Into(reg, &m.echoSkipped),
		promreg.Into(reg, &m.partitionLag), promreg.Into(reg, &m.partitionPending), promreg.Into(reg, &m.routed),
	); err != nil {
		return nil, err
	}
	return m, nil
}

// RegisterCollector registers c, or returns the collector already registered
// under the same description (the policy of internal/promreg, the one every
// package follows): a second instance of a stage in one process (tests, a
// stage and its service) shares the series instead of failing.
func RegisterCollector[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	return promreg.Register(reg, c)
}
