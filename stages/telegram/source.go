package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/tg"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
)

// Network says where Telegram is. The zero value is Telegram's production
// data centers; tests point it at an in-process MTProto server.
type Network struct {
	PublicKeys []telegram.PublicKey
	DCList     dcs.List
	Resolver   dcs.Resolver
	DC         int
}

func (n Network) apply(o *telegram.Options) {
	o.PublicKeys = n.PublicKeys
	o.DCList = n.DCList
	o.Resolver = n.Resolver
	o.DC = n.DC
}

// Deps is what the source needs from the daemon.
type Deps struct {
	Redis redis.UniversalClient
	Keys  pipeline.Keys
	// DB holds the checkpoints (and the session, with storage postgres).
	DB *pgxpool.Pool
	// ParsedStream and DeletedStream are the unprefixed stream names
	// (config streams.parsed and streams.deleted).
	ParsedStream  string
	DeletedStream string
	Registerer    prometheus.Registerer
	Logger        *slog.Logger
	// Owner names this replica in the channel leases; empty means
	// <hostname>-<pid>-<random>.
	Owner   string
	Network Network
	// Session overrides the storage the configuration names (tests).
	Session telegram.SessionStorage
}

// Source is the live telegram source, a service of the daemon.
type Source struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	metrics *metrics
	limiter *limiter
	leases  *leases
	cps     checkpoints
	session telegram.SessionStorage
	refs    []ChannelRef
	hasher  *accessHashes

	mu        sync.Mutex
	channels  map[int64]*followed // by bare channel id, resolved ones
	connected bool
	lastErr   error
}

// followed is the state of one resolved channel.
type followed struct {
	info channelInfo
	// held: this replica holds the channel's lease and publishes it.
	held bool
	// last is the checkpoint as this replica knows it.
	last   int64
	lastAt time.Time
	// catchUp asks for a history read from the checkpoint: set when a
	// live message could not be published.
	catchUp bool
	// reading is true while a history read runs.
	reading bool
	// pub serializes live messages of the channel, so that the repeat
	// check and the checkpoint see one message at a time (the updates
	// engine may hand over a channel's updates from two goroutines).
	pub sync.Mutex
	// early holds the ids published live while a history read ran (the
	// checkpoint could not move past them yet); the updates engine may
	// deliver them again from the pts the read saw.
	early map[int64]bool
}

// New builds the source. It does not connect: Run does.
func New(cfg Config, deps Deps) (*Source, error) {
	if err := cfg.ValidateCredentials(); err != nil {
		return nil, err
	}
	if deps.Redis == nil || deps.DB == nil {
		return nil, errors.New("telegram source needs Redis and PostgreSQL")
	}
	if deps.ParsedStream == "" {
		deps.ParsedStream = "posts.parsed"
	}
	if deps.DeletedStream == "" {
		deps.DeletedStream = "posts.deleted"
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		deps.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	refs := make([]ChannelRef, 0, len(cfg.Channels))
	for _, c := range cfg.Channels {
		r, err := ParseChannelRef(c)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("telegram metrics: %w", err)
	}
	store := deps.Session
	if store == nil {
		if store, err = SessionStorage(cfg.Session, deps.DB); err != nil {
			return nil, err
		}
	}
	s := &Source{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger.With("service", "telegram"),
		metrics:  m,
		cps:      checkpoints{db: deps.DB},
		session:  store,
		refs:     refs,
		hasher:   &accessHashes{m: map[int64]int64{}},
		channels: map[int64]*followed{},
	}
	s.limiter = newLimiter(cfg.HistoryInterval, cfg.CallInterval, cfg.MaxFloodWait, func(d time.Duration) {
		m.floodWait.Add(d.Seconds())
		s.log.Warn("telegram flood wait", "seconds", d.Seconds())
	})
	s.leases = &leases{
		rdb:   deps.Redis,
		owner: deps.Owner,
		ttl:   cfg.LeaseTTL,
		key:   func(id int64) string { return deps.Keys.Prefix + "telegram:lease:" + itoa(id) },
	}
	return s, nil
}

// errNotAuthorized: the session is missing or was revoked.
var errNotAuthorized = errors.New("telegram session is not authorized: run `assistant telegram login`")

// Run connects and follows the channels until ctx ends. A lost or failed
// connection is retried with exponential backoff (reconnect_min doubling up
// to reconnect_max); the leases are given up on the way out.
func (s *Source) Run(ctx context.Context) error {
	defer s.releaseAll()
	backoff := s.cfg.ReconnectMin
	for {
		start := time.Now()
		err := s.connect(ctx)
		s.setConnected(false, err)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 2*s.cfg.ReconnectMax {
			backoff = s.cfg.ReconnectMin // it ran well for a while: start over
		}
		s.log.Warn("telegram connection ended; reconnecting", "err", err, "in", backoff)
		if err := sleep(ctx, backoff); err != nil {
			return nil
		}
		backoff = min(2*backoff, s.cfg.ReconnectMax)
	}
}

// Check reports the connection for /readyz.
func (s *Source) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		return nil
	}
	if s.lastErr != nil {
		return fmt.Errorf("telegram not connected: %w", s.lastErr)
	}
	return errors.New("telegram not connected yet")
}

func (s *Source) setConnected(ok bool, err error) {
	s.mu.Lock()
	s.connected = ok
	if err != nil {
		s.lastErr = err
	}
	s.mu.Unlock()
	if ok {
		s.metrics.connected.Set(1)
	} else {
		s.metrics.connected.Set(0)
	}
}

func (s *Source) clientOptions(handler telegram.UpdateHandler) telegram.Options {
	o := telegram.Options{
		SessionStorage: s.session,
		UpdateHandler:  handler,
		Middlewares:    []telegram.Middleware{s.limiter},
		Logger:         zap.NewNop(),
		Device:         deviceConfig(),
	}
	s.deps.Network.apply(&o)
	return o
}

func deviceConfig() telegram.DeviceConfig {
	return telegram.DeviceConfig{DeviceModel: "assistant", SystemVersion: "linux", AppVersion: "assistant"}
}

// connect runs one connection: authorize, read the channels' history
// above their checkpoints, start the updates engine seeded with the pts of
// those reads, and manage the channels until the connection or ctx ends.
func (s *Source) connect(ctx context.Context) error {
	disp := tg.NewUpdateDispatcher()
	state := newMemState()
	gaps := updates.New(updates.Config{Handler: disp, AccessHasher: s.hasher, Storage: state, Logger: zap.NewNop()})
	client := telegram.NewClient(s.cfg.APIID, s.cfg.APIHash, s.clientOptions(gaps))
	disp.OnNewChannelMessage(func(ctx context.Context, _ tg.Entities, u *tg.UpdateNewChannelMessage) error {
		s.onMessage(ctx, u.Message, false)
		return nil
	})
	disp.OnEditChannelMessage(func(ctx context.Context, _ tg.Entities, u *tg.UpdateEditChannelMessage) error {
		s.onMessage(ctx, u.Message, true)
		return nil
	})
	disp.OnDeleteChannelMessages(func(ctx context.Context, _ tg.Entities, u *tg.UpdateDeleteChannelMessages) error {
		s.onDelete(ctx, u.ChannelID, u.Messages)
		return nil
	})
	// The client runs on a context of its own, stopped only after the
	// callback's work has ended: on shutdown the engine and the readers
	// stop first, and the connection closes with no call in flight.
	outer := ctx
	clientCtx, stopClient := context.WithCancel(context.WithoutCancel(outer))
	defer stopClient()
	stopWithOuter := context.AfterFunc(outer, func() {
		// A callback stuck in a dead connection must not hold the
		// shutdown: give it a moment, then close the client anyway.
		time.AfterFunc(5*time.Second, stopClient)
	})
	defer stopWithOuter()
	err := client.Run(clientCtx, func(cbCtx context.Context) error {
		ctx, cancel := context.WithCancel(cbCtx)
		defer cancel()
		defer context.AfterFunc(outer, cancel)()
		err := s.follow(ctx, client, gaps, state)
		if outer.Err() != nil {
			return nil
		}
		return err
	})
	if outer.Err() != nil {
		return outer.Err()
	}
	return err
}

// follow is the work of one connection: authorize, read history, follow.
func (s *Source) follow(ctx context.Context, client *telegram.Client, gaps *updates.Manager, state *memState) error {
	{
		status, err := client.Auth().Status(ctx)
		if err != nil {
			return fmt.Errorf("telegram auth status: %w", err)
		}
		if !status.Authorized || status.User == nil {
			return errNotAuthorized
		}
		s.setConnected(true, nil)
		api := client.API()
		// Whatever happened while disconnected is read from the
		// checkpoints before following; the updates engine then starts
		// at the pts those reads saw, so nothing falls in between.
		s.markCatchUp()
		s.resolveAll(ctx, api)
		s.refreshLeases(ctx, true)
		keepCtx, stopKeeping := context.WithCancel(ctx)
		kept := make(chan struct{})
		go func() { // the leases outlive a long first read
			defer close(kept)
			s.keepLeases(keepCtx)
		}()
		for _, f := range s.toRead() {
			if pts := s.readHistory(ctx, api, f); pts > 0 {
				state.seed(f.info.ID, pts)
			}
		}
		stopKeeping()
		<-kept
		if ctx.Err() != nil {
			return ctx.Err()
		}
		g, ctx := errgroup.WithContext(ctx)
		started := make(chan struct{})
		g.Go(func() error {
			err := gaps.Run(ctx, api, status.User.ID, updates.AuthOptions{
				OnStart: func(context.Context) { close(started) },
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("telegram updates: %w", err)
		})
		select {
		case <-started:
		case <-ctx.Done():
			return g.Wait()
		}
		s.log.Info("telegram following", "user_id", status.User.ID, "channels", len(s.refs))
		g.Go(func() error { return s.manage(ctx, api) })
		g.Go(func() error { return s.ping(ctx, api) })
		return g.Wait()
	}
}

// markCatchUp asks for a history read of every channel.
func (s *Source) markCatchUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.channels {
		f.catchUp = true
	}
}

// ping checks the connection and the authorization while idle, so
// /readyz notices a dead one; updates.getState is the call Telegram
// suggests to keep updates flowing.
func (s *Source) ping(ctx context.Context, api *tg.Client) error {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PingInterval)
		_, err := api.UpdatesGetState(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.log.Warn("telegram ping failed", "err", err)
		}
		s.setConnected(err == nil, err)
	}
}

// manage resolves the configured channels, takes their leases, reads their
// history and keeps the leases, once per lease_ttl/3.
func (s *Source) manage(ctx context.Context, api *tg.Client) error {
	tick := time.NewTicker(s.leaseInterval())
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s.resolveAll(ctx, api)
		s.refreshLeases(ctx, true)
		s.updateAges()
		for _, f := range s.toRead() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.readHistory(ctx, api, f)
			}()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// resolveAll resolves the channels not resolved yet; a failure is logged
// and tried again at the next round.
func (s *Source) resolveAll(ctx context.Context, api *tg.Client) {
	var dialogs []channelInfo
	for _, ref := range s.refs {
		if s.resolvedRef(ref) {
			continue
		}
		info, err := s.resolve(ctx, api, ref, &dialogs)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("telegram channel not resolved", "channel", ref.String(), "err", err)
			}
			continue
		}
		s.hasher.set(info.ID, info.AccessHash)
		last, _, err := s.cps.load(ctx, info.ID)
		if err != nil {
			s.log.Error("telegram checkpoint", "channel", ref.String(), "err", err)
			continue
		}
		s.mu.Lock()
		if _, ok := s.channels[info.ID]; !ok {
			s.channels[info.ID] = &followed{info: info, last: last, catchUp: true}
		}
		s.mu.Unlock()
	}
}

func (s *Source) resolvedRef(ref ChannelRef) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.channels {
		if ref.ID != 0 && f.info.ID == ref.ID || ref.Username != "" && f.info.Username == ref.Username {
			return true
		}
	}
	return false
}

func (s *Source) resolve(ctx context.Context, api *tg.Client, ref ChannelRef, dialogs *[]channelInfo) (channelInfo, error) {
	if ref.Username != "" {
		res, err := api.ContactsResolveUsername(ctx, ref.Username)
		if err != nil {
			return channelInfo{}, fmt.Errorf("resolve @%s: %w", ref.Username, err)
		}
		peer, ok := res.Peer.(*tg.PeerChannel)
		if !ok {
			return channelInfo{}, fmt.Errorf("@%s is not a channel", ref.Username)
		}
		for _, c := range res.Chats {
			if ch, ok := c.(*tg.Channel); ok && ch.ID == peer.ChannelID {
				info := infoOf(ch)
				if info.Username == "" {
					info.Username = ref.Username
				}
				return info, nil
			}
		}
		return channelInfo{}, fmt.Errorf("resolve @%s: the answer lacks the channel", ref.Username)
	}
	if info, ok, err := s.cps.byID(ctx, ref.ID); err != nil || ok {
		return info, err
	}
	if *dialogs == nil {
		list, err := Dialogs(ctx, api)
		if err != nil {
			return channelInfo{}, err
		}
		for _, d := range list {
			*dialogs = append(*dialogs, d.info())
		}
	}
	for _, d := range *dialogs {
		if d.ID == ref.ID {
			return d, nil
		}
	}
	return channelInfo{}, fmt.Errorf("channel %d is not among the account's dialogs (join it, or give its username)", ref.ID)
}

func infoOf(ch *tg.Channel) channelInfo {
	return channelInfo{ID: ch.ID, AccessHash: ch.AccessHash, Username: lower(ch.Username), Title: ch.Title}
}

// leaseInterval is how often leases are renewed: three times per TTL.
func (s *Source) leaseInterval() time.Duration { return max(s.cfg.LeaseTTL/3, 10*time.Millisecond) }

// keepLeases renews the held leases until ctx ends.
func (s *Source) keepLeases(ctx context.Context) {
	t := time.NewTicker(s.leaseInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refreshLeases(ctx, false)
		}
	}
}

// refreshLeases renews the leases held and, with acquire, tries to take
// the others.
func (s *Source) refreshLeases(ctx context.Context, acquire bool) {
	s.mu.Lock()
	list := make([]*followed, 0, len(s.channels))
	for _, f := range s.channels {
		list = append(list, f)
	}
	s.mu.Unlock()
	for _, f := range list {
		s.mu.Lock()
		held := f.held
		s.mu.Unlock()
		var ok bool
		var err error
		if held {
			ok, err = s.leases.renew(ctx, f.info.ID)
		} else if !acquire {
			continue
		} else {
			ok, err = s.leases.acquire(ctx, f.info.ID)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("telegram lease", "channel", f.info.ID, "err", err)
			}
			continue
		}
		s.mu.Lock()
		switch {
		case ok && !held:
			f.held, f.catchUp = true, true
			s.log.Info("telegram channel taken", "channel", f.info.ID, "username", f.info.Username)
		case !ok && held:
			f.held = false
			s.log.Warn("telegram channel lease lost to another replica", "channel", f.info.ID)
		}
		s.mu.Unlock()
	}
}

func (s *Source) releaseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	var ids []int64
	for id, f := range s.channels {
		if f.held {
			ids = append(ids, id)
			f.held = false
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := s.leases.release(ctx, id); err != nil {
			s.log.Warn("telegram lease release", "channel", id, "err", err)
		}
	}
}

// toRead returns the held channels that need a history read, marking them
// as being read.
func (s *Source) toRead() []*followed {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*followed
	for _, f := range s.channels {
		if f.held && f.catchUp && !f.reading {
			f.catchUp, f.reading = false, true
			out = append(out, f)
		}
	}
	return out
}

func (s *Source) updateAges() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, f := range s.channels {
		if !f.lastAt.IsZero() && f.held {
			s.metrics.lastMessageAge.WithLabelValues(channelLabel(f.info)).Set(now.Sub(f.lastAt).Seconds())
		}
	}
}

func channelLabel(c channelInfo) string {
	if c.Username != "" {
		return c.Username
	}
	return itoa(c.ID)
}

// historyPage is the page size of messages.getHistory (Telegram's maximum).
const historyPage = 100

// readHistory publishes the channel's messages above its checkpoint (or of
// the last backfill_days for a channel never read), newest page first, and
// then moves the checkpoint to the newest message. Reading stops at the
// checkpoint, so a restart publishes nothing twice; if the read is cut
// short the checkpoint stays, and the next read publishes the pages again
// under the same post ids.
func (s *Source) readHistory(ctx context.Context, api *tg.Client, f *followed) (pts int) {
	s.mu.Lock()
	info, last := f.info, f.last
	s.mu.Unlock()
	// The stored checkpoint wins over the one in memory: another replica
	// may have read the channel since this one last held it.
	stored, known, err := s.cps.load(ctx, info.ID)
	if err == nil {
		last = max(last, stored)
		s.advance(f, last, time.Time{})
		pts, err = s.backfill(ctx, api, f, info, last, known)
	}
	s.mu.Lock()
	f.reading = false
	if err != nil {
		f.catchUp = true // again at the next round
	}
	s.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		s.log.Error("telegram history read failed; retrying", "channel", channelLabel(info), "err", err)
	}
	return pts
}

// backfill returns the channel's pts when the read began.
func (s *Source) backfill(ctx context.Context, api *tg.Client, f *followed, info channelInfo, last int64, known bool) (int, error) {
	label := channelLabel(info)
	gauge := s.metrics.backfillRemaining.WithLabelValues(label)
	defer gauge.Set(0)
	var cutoff time.Time
	if !known {
		cutoff = time.Now().AddDate(0, 0, -s.cfg.BackfillDays)
	}
	peer := &tg.InputPeerChannel{ChannelID: info.ID, AccessHash: info.AccessHash}
	var top int64
	var topAt time.Time
	offset, pts := 0, 0
	for {
		limit := historyPage
		if !known && s.cfg.BackfillDays == 0 {
			limit = 1 // only the newest id, to follow from there
		}
		res, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{
			Peer: peer, OffsetID: offset, Limit: limit, MinID: int(last),
		})
		if err != nil {
			return 0, fmt.Errorf("messages.getHistory: %w", err)
		}
		if cm, ok := res.(*tg.MessagesChannelMessages); ok && pts == 0 {
			pts = cm.Pts
		}
		msgs := historyMessages(res)
		if len(msgs) == 0 {
			break
		}
		now := time.Now()
		evs := make([]events.Event, 0, len(msgs))
		lowest, done := offset, false
		for _, mc := range msgs {
			id := int64(mc.GetID())
			if lowest == 0 || int(id) < lowest {
				lowest = int(id)
			}
			if id <= last {
				done = true
				continue
			}
			if m, ok := mc.(*tg.Message); ok {
				at := time.Unix(int64(m.Date), 0)
				if !cutoff.IsZero() && at.Before(cutoff) {
					done = true
					continue
				}
				if id > top {
					top, topAt = id, at
				}
			}
			if !known && s.cfg.BackfillDays == 0 {
				done = true
				continue
			}
			if ev, ok := parsedEvent(info, mc, now); ok {
				evs = append(evs, ev)
			} else {
				s.metrics.messages.WithLabelValues(statusSkipped).Inc()
			}
		}
		if err := s.publish(ctx, s.deps.ParsedStream, evs); err != nil {
			s.metrics.messages.WithLabelValues(statusFailed).Add(float64(len(evs)))
			return 0, err
		}
		s.metrics.messages.WithLabelValues(statusPublished).Add(float64(len(evs)))
		if top > 0 {
			gauge.Set(float64(max(int64(lowest)-last-1, 0)))
		}
		if done || lowest <= int(last)+1 || (offset != 0 && lowest >= offset) {
			break
		}
		offset = lowest
	}
	if top > last || !known {
		if err := s.cps.save(ctx, info, max(top, last), topAt); err != nil {
			return 0, err
		}
	}
	s.advance(f, top, topAt)
	if top > last {
		s.log.Info("telegram history read", "channel", label, "from", last, "to", top)
	}
	return pts, nil
}

func historyMessages(res tg.MessagesMessagesClass) []tg.MessageClass {
	switch r := res.(type) {
	case *tg.MessagesMessages:
		return r.Messages
	case *tg.MessagesMessagesSlice:
		return r.Messages
	case *tg.MessagesChannelMessages:
		return r.Messages
	}
	return nil
}

// advance moves the in-memory checkpoint and the age metrics.
func (s *Source) advance(f *followed, id int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id > f.last {
		f.last = id
		for e := range f.early {
			if e <= id {
				delete(f.early, e)
			}
		}
	}
	if at.After(f.lastAt) {
		f.lastAt = at
		s.metrics.lastMessageTime.WithLabelValues(channelLabel(f.info)).Set(float64(at.Unix()))
		s.metrics.lastMessageAge.WithLabelValues(channelLabel(f.info)).Set(time.Since(at).Seconds())
	}
}

// heldChannel returns the followed channel of an update when this replica
// publishes it.
func (s *Source) heldChannel(channelID int64) (*followed, channelInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.channels[channelID]
	if !ok || !f.held {
		return nil, channelInfo{}, false
	}
	return f, f.info, true
}

// onMessage publishes a new or edited message from the updates engine.
func (s *Source) onMessage(ctx context.Context, mc tg.MessageClass, edit bool) {
	m, ok := mc.(*tg.Message)
	if !ok {
		s.metrics.messages.WithLabelValues(statusSkipped).Inc()
		return
	}
	peer, ok := m.PeerID.(*tg.PeerChannel)
	if !ok {
		return
	}
	f, info, ok := s.heldChannel(peer.ChannelID)
	if !ok {
		return
	}
	f.pub.Lock()
	defer f.pub.Unlock()
	s.mu.Lock()
	seen := !edit && (int64(m.ID) <= f.last || f.early[int64(m.ID)])
	s.mu.Unlock()
	if seen {
		// Published already (by a history read that overlapped the
		// update): the engine delivers a channel's messages in order, so
		// an id at or below the checkpoint is a repeat.
		return
	}
	ev, ok := parsedEvent(info, m, time.Now())
	if !ok {
		s.metrics.messages.WithLabelValues(statusSkipped).Inc()
		return
	}
	if err := s.publish(ctx, s.deps.ParsedStream, []events.Event{ev}); err != nil {
		s.metrics.messages.WithLabelValues(statusFailed).Inc()
		s.log.Error("telegram message not published; the channel is read again from its checkpoint",
			"post_id", ev.PostID, "trace_id", ev.TraceID, "err", err)
		s.mu.Lock()
		f.catchUp = true
		s.mu.Unlock()
		return
	}
	status := statusPublished
	if edit {
		status = statusEdited
	}
	s.metrics.messages.WithLabelValues(status).Inc()
	s.log.Debug("telegram message published", "post_id", ev.PostID, "trace_id", ev.TraceID, "edit", edit)
	if edit {
		return
	}
	s.mu.Lock()
	// While a history read runs, older messages may still be unpublished:
	// the checkpoint moves when the read ends, not past it.
	advance := int64(m.ID) > f.last && !f.reading
	if f.reading {
		if f.early == nil {
			f.early = map[int64]bool{}
		}
		f.early[int64(m.ID)] = true
	}
	s.mu.Unlock()
	if !advance {
		return
	}
	at := time.Unix(int64(m.Date), 0)
	if err := s.cps.save(ctx, info, int64(m.ID), at); err != nil {
		s.log.Error("telegram checkpoint not saved", "post_id", ev.PostID, "err", err)
		return
	}
	s.advance(f, int64(m.ID), at)
}

// onDelete publishes posts.deleted entries for deleted channel messages.
func (s *Source) onDelete(ctx context.Context, channelID int64, ids []int) {
	if _, _, ok := s.heldChannel(channelID); !ok {
		return
	}
	now := time.Now()
	evs := make([]events.Event, 0, len(ids))
	for _, id := range ids {
		evs = append(evs, deletedEvent(channelID, id, now))
	}
	if err := s.publish(ctx, s.deps.DeletedStream, evs); err != nil {
		s.metrics.messages.WithLabelValues(statusFailed).Add(float64(len(evs)))
		s.log.Error("telegram deletions not published", "channel", channelID, "messages", ids, "err", err)
		return
	}
	s.metrics.messages.WithLabelValues(statusDeleted).Add(float64(len(evs)))
}

// publish adds the events to a stream in one pipelined round trip, with no
// MAXLEN (spec: a cap silently drops a backlog).
func (s *Source) publish(ctx context.Context, stream string, evs []events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	// Each event to its post's partition (streams.partitions; the one key
	// without partitions).
	_, err := s.deps.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ev := range evs {
			values, err := events.Encode(ev)
			if err != nil {
				return err
			}
			p.XAdd(ctx, &redis.XAddArgs{Stream: s.deps.Keys.EntryStream(stream, values), Values: values})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", s.deps.Keys.Stream(stream), err)
	}
	return nil
}

// accessHashes gives the updates engine the access hashes of the
// channels, which it needs to ask for a channel's missed updates.
type accessHashes struct {
	mu sync.Mutex
	m  map[int64]int64
}

func (a *accessHashes) set(id, hash int64) {
	a.mu.Lock()
	a.m[id] = hash
	a.mu.Unlock()
}

func (a *accessHashes) SetChannelAccessHash(_ context.Context, _, channelID, accessHash int64) error {
	a.set(channelID, accessHash)
	return nil
}

func (a *accessHashes) GetChannelAccessHash(_ context.Context, _, channelID int64) (int64, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.m[channelID]
	return h, ok, nil
}
