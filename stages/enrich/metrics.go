package enrich

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/pipeline"

	"github.com/assistant-dev/assistant/crawl"
)

// maxFailureHosts bounds the host label of crawl_host_failures_total: past
// it, failures count under "other" so a spam wave of random domains cannot
// blow up the series count.
const maxFailureHosts = 500

// metrics are the stage's series (spec section 5, enrich).
type metrics struct {
	processed *prometheus.CounterVec
	requests  *prometheus.CounterVec
	duration  prometheus.Histogram
	cacheHits prometheus.Counter
	hostFails *prometheus.CounterVec

	mu    sync.Mutex
	hosts map[string]bool
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_processed_total",
			Help: "posts.tagged entries handled by enrich, by status: success (every URL crawled or skipped), partial, error (every URL failed; still published), skipped (nothing to crawl; published), retry (failed transiently, retried by the runner), invalid (undecodable).",
		}, []string{"status"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crawl_requests_total",
			Help: "Crawls that reached the backend (cache hits excluded), by status: ok or the failure kind.",
		}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "crawl_duration_seconds",
			Help:    "Time of one crawl that reached the backend: fetch, extraction and conversion.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 40},
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crawl_cache_hits_total",
			Help: "Crawls answered from the Redis crawl cache.",
		}),
		hostFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crawl_host_failures_total",
			Help: "Failed crawls by host (at most 500 hosts, the rest as \"other\").",
		}, []string{"host"}),
		hosts: map[string]bool{},
	}
	if reg != nil {
		var err error
		if m.processed, err = pipeline.RegisterCollector(reg, m.processed); err != nil {
			return nil, err
		}
		if m.requests, err = pipeline.RegisterCollector(reg, m.requests); err != nil {
			return nil, err
		}
		if m.duration, err = pipeline.RegisterCollector(reg, m.duration); err != nil {
			return nil, err
		}
		if m.cacheHits, err = pipeline.RegisterCollector(reg, m.cacheHits); err != nil {
			return nil, err
		}
		if m.hostFails, err = pipeline.RegisterCollector(reg, m.hostFails); err != nil {
			return nil, err
		}
	}
	// Every status exists from the start, so rates and alerts see 0, not
	// an absent series.
	for _, s := range []string{"success", "partial", "error", "skipped", "retry", "invalid"} {
		m.processed.WithLabelValues(s)
	}
	for _, s := range []string{"ok", crawl.KindTimeout, crawl.KindNetwork, crawl.KindServerError, crawl.KindRateLimited,
		crawl.KindHTTPStatus, crawl.KindUnsupportedType, crawl.KindTooLarge, crawl.KindSSRF, crawl.KindRobots,
		crawl.KindRedirects, crawl.KindInvalidURL, crawl.KindNoHost, crawl.KindExtract, crawl.KindBackend,
		crawl.KindBackendPermanent} {
		m.requests.WithLabelValues(s)
	}
	return m, nil
}

func (m *metrics) hostFailure(host string) {
	m.mu.Lock()
	if !m.hosts[host] {
		if len(m.hosts) >= maxFailureHosts {
			host = "other"
		} else {
			m.hosts[host] = true
		}
	}
	m.mu.Unlock()
	m.hostFails.WithLabelValues(host).Inc()
}
