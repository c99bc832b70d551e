package telegram

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/config"
)

// Session storages.
const (
	StoragePostgres = "postgres"
	StorageFile     = "file"
)

// Config is the telegram service's settings block, stages.telegram; the
// `assistant telegram` commands read it too.
type Config struct {
	// Switch.Enabled runs the service (off by default: it needs a login).
	config.Switch `mapstructure:",squash" yaml:",inline"`
	// APIID and APIHash identify the application (my.telegram.org);
	// env TELEGRAM_API_ID and TELEGRAM_API_HASH.
	APIID   int    `mapstructure:"api_id" yaml:"api_id"`
	APIHash string `mapstructure:"api_hash" yaml:"api_hash" secret:"true"`
	// Channels to follow: public usernames (with or without @, or a
	// t.me/ link) or numeric ids (bare, or marked -100...); a channel
	// given by id must be among the account's dialogs.
	Channels []string `mapstructure:"channels" yaml:"channels"`
	// BackfillDays is how much history a channel read for the first time
	// gets; 0 reads none (follow from now).
	BackfillDays int `mapstructure:"backfill_days" yaml:"backfill_days"`
	// Session says where the login lives.
	Session SessionConfig `mapstructure:"session" yaml:"session"`
	// LeaseTTL is how long a replica's claim on a channel lasts without
	// renewal; a dead replica's channels move after it.
	LeaseTTL time.Duration `mapstructure:"lease_ttl" yaml:"lease_ttl"`
	// HistoryInterval is the least time between two messages.getHistory
	// calls; CallInterval the same for any other method.
	HistoryInterval time.Duration `mapstructure:"history_interval" yaml:"history_interval"`
	CallInterval    time.Duration `mapstructure:"call_interval" yaml:"call_interval"`
	// MaxFloodWait bounds a FLOOD_WAIT that is slept; a longer one fails
	// the call (and the connection is retried later with backoff).
	MaxFloodWait time.Duration `mapstructure:"max_flood_wait" yaml:"max_flood_wait"`
	// ReconnectMin and ReconnectMax bound the backoff between connection
	// attempts.
	ReconnectMin time.Duration `mapstructure:"reconnect_min" yaml:"reconnect_min"`
	ReconnectMax time.Duration `mapstructure:"reconnect_max" yaml:"reconnect_max"`
	// PingInterval is how often the connection is checked while idle.
	PingInterval time.Duration `mapstructure:"ping_interval" yaml:"ping_interval"`
}

// SessionConfig locates the MTProto session.
type SessionConfig struct {
	// Storage is "postgres" (table telegram_sessions) or "file".
	Storage string `mapstructure:"storage" yaml:"storage"`
	// Name is the row of telegram_sessions.
	Name string `mapstructure:"name" yaml:"name"`
	// File is the session file (written with mode 0600).
	File string `mapstructure:"file" yaml:"file"`
}

// DefaultConfig returns the defaults (mirrored in config.yaml).
func DefaultConfig() Config {
	return Config{
		Switch:          config.Switch{Enabled: false},
		Channels:        []string{},
		BackfillDays:    7,
		Session:         SessionConfig{Storage: StoragePostgres, Name: "default", File: "telegram.session"},
		LeaseTTL:        30 * time.Second,
		HistoryInterval: 500 * time.Millisecond,
		CallInterval:    100 * time.Millisecond,
		MaxFloodWait:    10 * time.Minute,
		ReconnectMin:    time.Second,
		ReconnectMax:    5 * time.Minute,
		PingInterval:    time.Minute,
	}
}

// ApplyEnv sets the API credentials from TELEGRAM_API_ID and
// TELEGRAM_API_HASH when they are set.
func (c *Config) ApplyEnv() error {
	if v := strings.TrimSpace(os.Getenv("TELEGRAM_API_ID")); v != "" {
		id, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("TELEGRAM_API_ID %q is not a number", v)
		}
		c.APIID = id
	}
	if v := strings.TrimSpace(os.Getenv("TELEGRAM_API_HASH")); v != "" {
		c.APIHash = v
	}
	return nil
}

// ValidateCredentials checks what any connection needs.
func (c *Config) ValidateCredentials() error {
	var errs []error
	if c.APIID <= 0 {
		errs = append(errs, errors.New("stages.telegram.api_id is not set (TELEGRAM_API_ID; from my.telegram.org)"))
	}
	if c.APIHash == "" {
		errs = append(errs, errors.New("stages.telegram.api_hash is not set (TELEGRAM_API_HASH)"))
	}
	switch c.Session.Storage {
	case StoragePostgres:
		if c.Session.Name == "" {
			errs = append(errs, errors.New("stages.telegram.session.name is empty"))
		}
	case StorageFile:
		if c.Session.File == "" {
			errs = append(errs, errors.New("stages.telegram.session.file is empty"))
		}
	default:
		errs = append(errs, fmt.Errorf("stages.telegram.session.storage %q is not postgres or file", c.Session.Storage))
	}
	return errors.Join(errs...)
}

// Validate checks the settings of an enabled service (the credentials may
// also come from TELEGRAM_API_ID and TELEGRAM_API_HASH).
func (c *Config) Validate(p *config.Problems) {
	if !c.Enabled {
		return
	}
	withEnv := *c
	if err := withEnv.ApplyEnv(); err != nil {
		p.Add("api_id", "%v", err)
	}
	if withEnv.APIID <= 0 {
		p.Add("api_id", "is not set (TELEGRAM_API_ID; from my.telegram.org)")
	}
	p.NotEmpty("api_hash", withEnv.APIHash)
	p.OneOf("session.storage", c.Session.Storage, StoragePostgres, StorageFile)
	if c.Session.Storage == StorageFile {
		p.NotEmpty("session.file", c.Session.File)
	} else {
		p.NotEmpty("session.name", c.Session.Name)
	}
	if len(c.Channels) == 0 {
		p.Add("channels", "is empty: name the channels to follow")
	}
	for _, ch := range c.Channels {
		if _, err := ParseChannelRef(ch); err != nil {
			p.Add("channels", "%v", err)
		}
	}
	p.AtLeast("backfill_days", c.BackfillDays, 0)
	if c.LeaseTTL < time.Second {
		p.Add("lease_ttl", "is under 1s")
	}
	p.Positive("max_flood_wait", c.MaxFloodWait)
	p.Positive("reconnect_min", c.ReconnectMin)
	if c.ReconnectMax < c.ReconnectMin {
		p.Add("reconnect_max", "is below reconnect_min")
	}
	p.Positive("ping_interval", c.PingInterval)
}

// ChannelRef is a configured channel: a username or an id.
type ChannelRef struct {
	Username string // lower-case, without @
	ID       int64  // bare channel id
}

func (r ChannelRef) String() string {
	if r.Username != "" {
		return "@" + r.Username
	}
	return strconv.FormatInt(r.ID, 10)
}

// ParseChannelRef reads "@name", "name", "https://t.me/name", "12345" or
// "-10012345".
func ParseChannelRef(s string) (ChannelRef, error) {
	v := strings.TrimSpace(s)
	for _, p := range []string{"https://", "http://"} {
		v = strings.TrimPrefix(v, p)
	}
	v = strings.TrimPrefix(v, "t.me/")
	v = strings.TrimPrefix(v, "@")
	v = strings.TrimSuffix(v, "/")
	if v == "" {
		return ChannelRef{}, fmt.Errorf("telegram channel %q is empty", s)
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= -channelIDOffset {
			n = -n - channelIDOffset
		}
		if n <= 0 {
			return ChannelRef{}, fmt.Errorf("telegram channel %q is not a channel id", s)
		}
		return ChannelRef{ID: n}, nil
	}
	for _, r := range v {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return ChannelRef{}, fmt.Errorf("telegram channel %q is neither a username nor an id", s)
		}
	}
	return ChannelRef{Username: strings.ToLower(v)}, nil
}

const channelIDOffset = 1_000_000_000_000
