package telegram

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// typeIDer is implemented by every TL request.
type typeIDer interface{ TypeID() uint32 }

// limiter is the invoker middleware that keeps the source inside
// Telegram's limits: calls of one method are spaced by the method's
// interval, and a FLOOD_WAIT_X answer is slept (X seconds, counted in
// telegram_flood_wait_seconds_total) and the call made again. A wait
// longer than maxWait is returned as the error it is.
type limiter struct {
	history, other time.Duration
	maxWait        time.Duration
	onWait         func(time.Duration)

	mu   sync.Mutex
	next map[uint32]time.Time // earliest start of the next call, by method
}

func newLimiter(history, other, maxWait time.Duration, onWait func(time.Duration)) *limiter {
	return &limiter{history: history, other: other, maxWait: maxWait, onWait: onWait, next: map[uint32]time.Time{}}
}

// interval of a method: getHistory is the call Telegram limits hardest.
func (l *limiter) interval(id uint32) time.Duration {
	if id == tg.MessagesGetHistoryRequestTypeID {
		return l.history
	}
	return l.other
}

// reserve books the next slot of a method and returns how long to wait
// for it.
func (l *limiter) reserve(id uint32) time.Duration {
	iv := l.interval(id)
	if iv <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	at := l.next[id]
	if at.Before(now) {
		at = now
	}
	l.next[id] = at.Add(iv)
	return at.Sub(now)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handle implements telegram.Middleware.
func (l *limiter) Handle(next tg.Invoker) telegram.InvokeFunc {
	return func(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
		var id uint32
		if t, ok := input.(typeIDer); ok {
			id = t.TypeID()
		}
		for {
			if err := sleep(ctx, l.reserve(id)); err != nil {
				return err
			}
			err := next.Invoke(ctx, input, output)
			d, isFlood := tgerr.AsFloodWait(err)
			if !isFlood {
				return err
			}
			if d > l.maxWait {
				return fmt.Errorf("flood wait of %s exceeds telegram.max_flood_wait: %w", d, err)
			}
			if l.onWait != nil {
				l.onWait(d)
			}
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
	}
}
