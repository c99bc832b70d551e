package telegram

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/internal/promreg"
)

// Statuses of telegram_messages_total.
const (
	statusPublished = "published" // a new post or a re-read one
	statusEdited    = "edited"
	statusDeleted   = "deleted"
	statusSkipped   = "skipped" // service messages, empty placeholders
	statusFailed    = "failed"  // could not be published (retried from the checkpoint)
)

type metrics struct {
	messages          *prometheus.CounterVec
	floodWait         prometheus.Counter
	backfillRemaining *prometheus.GaugeVec
	lastMessageAge    *prometheus.GaugeVec
	lastMessageTime   *prometheus.GaugeVec
	connected         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telegram_messages_total",
			Help: "Channel messages handled by the telegram source, by outcome: published, edited, deleted, skipped, failed.",
		}, []string{"status"}),
		floodWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "telegram_flood_wait_seconds_total",
			Help: "Seconds slept because Telegram answered FLOOD_WAIT.",
		}),
		backfillRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "telegram_backfill_remaining",
			Help: "Messages of a channel's history still to read in the running backfill (estimated from message ids); 0 when following.",
		}, []string{"channel"}),
		lastMessageAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "telegram_last_message_age_seconds",
			Help: "Age of the newest message published for a channel, refreshed while the source runs.",
		}, []string{"channel"}),
		lastMessageTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "telegram_last_message_timestamp_seconds",
			Help: "Posting time of the newest message published for a channel.",
		}, []string{"channel"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "telegram_connected",
			Help: "1 while the telegram source is connected and authorized.",
		}),
	}
	for _, s := range []string{statusPublished, statusEdited, statusDeleted, statusSkipped, statusFailed} {
		m.messages.WithLabelValues(s)
	}
	if reg == nil {
		return m, nil
	}
	// One registration policy (internal/promreg): a collector already
	// registered is reused, so a second source in one process writes the
	// series that are scraped, not an unregistered copy.
	if err := errors.Join(
		promreg.Into(reg, &m.messages), promreg.Into(reg, &m.floodWait), promreg.Into(reg, &m.backfillRemaining),
		promreg.Into(reg, &m.lastMessageAge), promreg.Into(reg, &m.lastMessageTime), promreg.Into(reg, &m.connected),
	); err != nil {
		return nil, err
	}
	return m, nil
}
