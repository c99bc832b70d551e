package telegram

import (
	"context"
	"sync"

	"github.com/gotd/td/telegram/updates"
)

// memState is the updates engine's state for one connection, in memory.
// It exists (rather than gotd's default) so that channels can be seeded
// with the pts their history was read at: the engine then asks
// getChannelDifference from there at once, and nothing posted between the
// history read and the first live update is missed.
type memState struct {
	mu       sync.Mutex
	state    updates.State
	found    bool
	channels map[int64]int
}

func newMemState() *memState { return &memState{channels: map[int64]int{}} }

// seed sets a channel's pts before the engine starts.
func (m *memState) seed(channelID int64, pts int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pts > m.channels[channelID] {
		m.channels[channelID] = pts
	}
}

func (m *memState) GetState(context.Context, int64) (updates.State, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.found, nil
}

func (m *memState) SetState(_ context.Context, _ int64, s updates.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state, m.found = s, true
	return nil
}

func (m *memState) set(f func(*updates.State)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.state)
	return nil
}

func (m *memState) SetPts(_ context.Context, _ int64, pts int) error {
	return m.set(func(s *updates.State) { s.Pts = pts })
}

func (m *memState) SetQts(_ context.Context, _ int64, qts int) error {
	return m.set(func(s *updates.State) { s.Qts = qts })
}

func (m *memState) SetDate(_ context.Context, _ int64, date int) error {
	return m.set(func(s *updates.State) { s.Date = date })
}

func (m *memState) SetSeq(_ context.Context, _ int64, seq int) error {
	return m.set(func(s *updates.State) { s.Seq = seq })
}

func (m *memState) SetDateSeq(_ context.Context, _ int64, date, seq int) error {
	return m.set(func(s *updates.State) { s.Date, s.Seq = date, seq })
}

func (m *memState) GetChannelPts(_ context.Context, _, channelID int64) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pts, ok := m.channels[channelID]
	return pts, ok, nil
}

func (m *memState) SetChannelPts(_ context.Context, _, channelID int64, pts int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.channels[channelID] = pts
	return nil
}

func (m *memState) ForEachChannels(ctx context.Context, userID int64, f func(context.Context, int64, int) error) error {
	m.mu.Lock()
	list := make(map[int64]int, len(m.channels))
	for id, pts := range m.channels {
		list[id] = pts
	}
	m.mu.Unlock()
	for id, pts := range list {
		if err := f(ctx, id, pts); err != nil {
			return err
		}
	}
	return nil
}
