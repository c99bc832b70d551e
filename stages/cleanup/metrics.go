package cleanup

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/pipeline"
)

// Metrics are the cleanup metrics (spec section 5, plus the lease and the
// sweep's position).
type Metrics struct {
	deleted     *prometheus.CounterVec
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
	leaseHeld   prometheus.Gauge
	phase       *prometheus.GaugeVec
	batches     prometheus.Gauge
}

// NewMetrics registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cleanup_deleted_total",
			Help: "Deleted by cleanup (sweep and posts.deleted), by store: postgres (posts rows), vector (points), graph (Post nodes), orphans (Tag/Channel/WebPage nodes), redis (dedup marks).",
		}, []string{"store"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cleanup_duration_seconds",
			Help:    "Duration of a finished sweep (from its start or resume).",
			Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cleanup_last_success_timestamp_seconds",
			Help: "Unix time of the last sweep that finished (0: none since start).",
		}),
		leaseHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cleanup_lease_held",
			Help: "1 while this process holds the sweep lease and sweeps.",
		}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cleanup_sweep_phase",
			Help: "1 for the phase the running sweep is in (posts, vectors, graph, orphans), 0 for the others.",
		}, []string{"phase"}),
		batches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cleanup_sweep_batches",
			Help: "Batches the current sweep has finished, counted across holders (the checkpoint's cursor): a resumed sweep continues the count.",
		}),
	}
	if reg != nil {
		var err error
		if m.deleted, err = pipeline.RegisterCollector(reg, m.deleted); err != nil {
			return nil, err
		}
		if m.duration, err = pipeline.RegisterCollector(reg, m.duration); err != nil {
			return nil, err
		}
		if m.lastSuccess, err = pipeline.RegisterCollector(reg, m.lastSuccess); err != nil {
			return nil, err
		}
		if m.leaseHeld, err = pipeline.RegisterCollector(reg, m.leaseHeld); err != nil {
			return nil, err
		}
		if m.phase, err = pipeline.RegisterCollector(reg, m.phase); err != nil {
			return nil, err
		}
		if m.batches, err = pipeline.RegisterCollector(reg, m.batches); err != nil {
			return nil, err
		}
	}
	for _, s := range storeLabels {
		m.deleted.WithLabelValues(s)
	}
	m.setPhase("")
	return m, nil
}

func (m *Metrics) observe(c Counts) {
	for k, v := range c {
		if v > 0 {
			m.deleted.WithLabelValues(k).Add(float64(v))
		}
	}
}

func (m *Metrics) setPhase(p string) {
	for _, ph := range phases {
		v := 0.0
		if ph == p {
			v = 1
		}
		m.phase.WithLabelValues(ph).Set(v)
	}
}
