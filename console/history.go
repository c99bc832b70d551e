package console

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
)

// The console keeps the daemon's own recent samples: stage counters (for
// rates over a window rather than since the previous page view), group lag
// and pending, DLQ lengths and Redis memory. Run samples in the background
// from the daemon's start, so the first look at the overview already has a
// window; a page view also samples when the newest is older than the
// interval (a console whose Run was not started still works).

const (
	defaultSampleEvery = 5 * time.Second
	// historyKeep is what the charts show and the memory bound: at the
	// default interval, 720 samples of a few small maps.
	historyKeep = time.Hour
	// rateWindow is the window of the overview's rates.
	rateWindow = time.Minute
)

// sample is one look at the deployment.
type sample struct {
	at      time.Time
	counts  map[string]stageCounts // by stage (this replica's counters)
	lag     map[string]int64       // by group (stage)
	pending map[string]int64       // by group (stage)
	dlq     map[string]int64       // by stream
	// redisUsed is INFO memory used_memory in bytes; -1 unknown.
	redisUsed int64
}

type stageCounts struct {
	success, retry, dlq float64
}

// history is a bounded, time-ordered list of samples.
type history struct {
	mu      sync.Mutex
	samples []sample
}

func (h *history) add(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = slices.DeleteFunc(h.samples, func(x sample) bool { return s.at.Sub(x.at) > historyKeep })
	h.samples = append(h.samples, s)
}

func (h *history) snapshot() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.samples)
}

func (h *history) newest() (sample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == 0 {
		return sample{}, false
	}
	return h.samples[len(h.samples)-1], true
}

// rates returns each stage's successes per second over the window ending
// at the newest sample, against the oldest sample inside it; a stage
// missing from the map has no window yet (one sample, or under a second).
func rates(samples []sample, window time.Duration) (map[string]float64, time.Duration) {
	out := map[string]float64{}
	if len(samples) < 2 {
		return out, 0
	}
	now := samples[len(samples)-1]
	i := 0
	for i < len(samples)-1 && now.at.Sub(samples[i].at) > window {
		i++
	}
	old := samples[i]
	dt := now.at.Sub(old.at)
	if dt < time.Second {
		return out, 0
	}
	for stage, c := range now.counts {
		// A counter that went down is a restarted process: no rate.
		if d := c.success - old.counts[stage].success; d >= 0 {
			out[stage] = d / dt.Seconds()
		}
	}
	return out, dt
}

// Run samples every interval (Options.SampleEvery) until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		c.takeSample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// sampleIfStale samples unless the newest sample is fresh.
func (c *Console) sampleIfStale(ctx context.Context) {
	if s, ok := c.hist.newest(); ok && time.Since(s.at) < c.every {
		return
	}
	c.takeSample(ctx)
}

func (c *Console) takeSample(ctx context.Context) {
	s := sample{at: time.Now(), counts: stageCounters(c.o.Gatherer), lag: map[string]int64{},
		pending: map[string]int64{}, dlq: map[string]int64{}, redisUsed: -1}
	if c.o.Redis != nil {
		reps, err := operator.StreamsReport(ctx, c.o.Redis, c.o.Keys, c.o.Streams)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("console sample: streams", "err", err)
			}
		} else {
			for _, rep := range reps {
				s.dlq[rep.Stream] = rep.DLQLength
				for _, g := range rep.Groups {
					if c.o.Groups[g.Name] == rep.Stream {
						s.lag[g.Name], s.pending[g.Name] = max(g.Lag, 0), g.Pending
					}
				}
			}
		}
		if mem, err := redisMemory(ctx, c.o.Redis); err == nil {
			s.redisUsed = mem.Used
		}
	}
	c.hist.add(s)
}

// stageCounters reads stage_messages_total by stage and status.
func stageCounters(g prometheus.Gatherer) map[string]stageCounts {
	out := map[string]stageCounts{}
	if g == nil {
		return out
	}
	fams, err := g.Gather()
	if err != nil {
		return out
	}
	for _, f := range fams {
		if f.GetName() != "stage_messages_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var stage, status string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "stage":
					stage = l.GetValue()
				case "status":
					status = l.GetValue()
				}
			}
			c := out[stage]
			v := m.GetCounter().GetValue()
			switch status {
			case pipeline.StatusSuccess:
				c.success = v
			case pipeline.StatusRetry:
				c.retry = v
			case pipeline.StatusDLQ:
				c.dlq = v
			}
			out[stage] = c
		}
	}
	return out
}

// RedisMemory is the INFO memory section, the part operators watch.
type RedisMemory struct {
	Used, Peak, RSS, Max int64
	Policy               string
	Fragmentation        float64
}

// redisMemory reads INFO memory (one node: on a cluster, the node serving
// the client's first command).
func redisMemory(ctx context.Context, rdb redis.UniversalClient) (RedisMemory, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return RedisMemory{}, err
	}
	m := RedisMemory{Used: -1}
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "used_memory":
			m.Used = n
		case "used_memory_peak":
			m.Peak = n
		case "used_memory_rss":
			m.RSS = n
		case "maxmemory":
			m.Max = n
		case "maxmemory_policy":
			m.Policy = v
		case "mem_fragmentation_ratio":
			m.Fragmentation, _ = strconv.ParseFloat(v, 64)
		}
	}
	return m, nil
}
