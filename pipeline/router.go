package pipeline

// router.go: with partitioned streams (streams.partitions > 1), producers
// that do not know partitions (the old ingest, telethon-ingest, an
// operator's XADD) still write the unpartitioned key of a stream. The
// router moves each entry of that key into its post's partition.
//
// The source key and the partition are in different hash slots, so the
// move cannot be one MULTI/EXEC. It is made idempotent instead: a script
// run in the partition's slot sets a mark named after the source entry id
// (SET NX) and adds the entry only if the mark was not there; the source
// entry is acknowledged afterwards. A router that dies between the two
// leaves the entry pending; the router that claims it finds the mark and
// only acknowledges it. Nothing is lost (the XACK follows a successful
// XADD) and nothing is routed twice while the mark lives (routeMarkTTL).
// The mark is not deleted after the XACK: a router that stalled past
// runner.claim_min_idle may still be about to run the script for an entry
// another router claimed and finished, and must find the mark.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
)

// RouterGroup is the consumer group of the router on an unpartitioned
// stream.
const RouterGroup = "partition-router"

// routeMarkTTL is how long a routed entry's mark lives: ten claim
// intervals' worth of runner.claim_min_idle (at least ten minutes), so a
// crashed router's entry is claimed and found marked well within it. An
// entry routed, left unacknowledged and claimed only after that (every
// router down that long) is routed once more: at-least-once, like every
// other redelivery.
func (r *Runner) routeMarkTTL() time.Duration {
	return max(10*r.cfg.Runner.ClaimMinIdle, 10*time.Minute)
}

// routeBatch is the most entries one read of the router takes.
const routeBatch = 256

// routeScript adds an entry to its partition unless it was routed before.
// KEYS[1] = mark, KEYS[2] = partition stream; ARGV[1] = mark TTL in
// seconds, ARGV[2...] = field, value, ... Returns 1 when it added, 0 when
// the mark was there.
var routeScript = redis.NewScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
  return 1
end
return 0`)

// router routes one unpartitioned stream into its partitions.
type router struct {
	r        *Runner
	src      groupRef
	consumer string
	log      *slog.Logger
}

// routes lists the unpartitioned source of every input stream of the
// stages run here; nil without partitions.
func (r *Runner) routes() []groupRef {
	if !r.keys.Partitioned() {
		return nil
	}
	var out []groupRef
	seen := map[string]bool{}
	for _, sr := range r.stages {
		for _, in := range sr.inputs {
			if seen[in.stream] {
				continue
			}
			seen[in.stream] = true
			out = append(out, groupRef{stream: in.stream, key: r.keys.Stream(in.stream), group: RouterGroup, start: "0", partition: -1})
		}
	}
	return out
}

func (r *Runner) newRouter(src groupRef, replica int) *router {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	return &router{
		r: r, src: src, log: r.log.With("router", src.stream),
		consumer: fmt.Sprintf("%s-%d-route-%s-%d", host, os.Getpid(), src.stream, replica),
	}
}

// run reads new entries, and every claim interval claims entries idle
// longer than runner.claim_min_idle (a router that died), until ctx ends.
func (rt *router) run(ctx context.Context) {
	cfg := rt.r.cfg.Runner
	lastClaim := time.Time{}
	failures := 0
	for ctx.Err() == nil {
		var msgs []redis.XMessage
		var err error
		if time.Since(lastClaim) >= cfg.ClaimInterval {
			lastClaim = time.Now()
			msgs, _, err = rt.r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream: rt.src.key, Group: RouterGroup, Consumer: rt.consumer,
				MinIdle: cfg.ClaimMinIdle, Start: "0-0", Count: routeBatch,
			}).Result()
		}
		if err == nil && len(msgs) == 0 {
			var res []redis.XStream
			res, err = rt.r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: RouterGroup, Consumer: rt.consumer, Streams: []string{rt.src.key, ">"},
				Count: routeBatch, Block: cfg.Block,
			}).Result()
			for _, st := range res {
				msgs = append(msgs, st.Messages...)
			}
		}
		if err == nil && len(msgs) > 0 {
			err = rt.route(ctx, msgs)
		}
		if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil {
			failures++
			if IsNoGroup(err) {
				err = createGroup(ctx, rt.r.rdb, rt.src.key, RouterGroup, "0")
			}
			if err != nil {
				rt.log.Error("route entries into partitions", "err", err, "consecutive_failures", failures)
			}
			sleepCtx(ctx, retryDelay(cfg, failures))
			continue
		}
		failures = 0
	}
}

// route adds each entry to its partition (once: routeScript), then
// acknowledges the entries. It returns the first failure; entries not
// acknowledged are routed again later.
func (rt *router) route(ctx context.Context, msgs []redis.XMessage) error {
	keys := rt.r.keys
	pipe := rt.r.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(msgs))
	marks := make([]string, len(msgs))
	for i, x := range msgs {
		if x.Values == nil { // deleted from the source: nothing to route
			continue
		}
		p := keys.PartitionOf(events.MetaOf(x.Values).PostID)
		marks[i] = keys.PartKey(p, "routed:"+rt.src.stream+":"+x.ID)
		args := make([]any, 0, 1+2*len(x.Values))
		args = append(args, int64(rt.r.routeMarkTTL()/time.Second))
		for _, k := range slices.Sorted(maps.Keys(x.Values)) { // a stable field order
			args = append(args, k, x.Values[k])
		}
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and
		// a failover leaves a new master without the script.
		cmds[i] = routeScript.Eval(ctx, pipe, []string{marks[i], keys.PartStream(p, rt.src.stream)}, args...)
	}
	_, err := pipe.Exec(ctx)
	var done, dropped []string
	added := 0
	var firstErr error
	for i, x := range msgs {
		if cmds[i] == nil {
			dropped = append(dropped, x.ID)
			continue
		}
		if cerr := cmds[i].Err(); cerr != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("route %s %s: %w", rt.src.key, x.ID, cerr)
			}
			continue
		}
		done = append(done, x.ID)
		if n, _ := cmds[i].Int(); n == 1 {
			added++
		}
	}
	if firstErr == nil && err != nil {
		firstErr = err
	}
	ack := append(done, dropped...)
	if len(ack) == 0 {
		return firstErr
	}
	if err := rt.r.rdb.XAck(ctx, rt.src.key, RouterGroup, ack...).Err(); err != nil {
		return fmt.Errorf("acknowledge routed entries of %s: %w", rt.src.key, err)
	}
	rt.r.metrics.routed.WithLabelValues(rt.src.stream).Add(float64(added))
	return firstErr
}
