package telegram

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gotd/td/session"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// checkpoints keeps per-channel progress in telegram_channels.
type checkpoints struct{ db *pgxpool.Pool }

// load returns the stored row of a channel; found is false for a channel
// never read.
func (c checkpoints) load(ctx context.Context, channelID int64) (last int64, found bool, err error) {
	err = c.db.QueryRow(ctx, `SELECT last_message_id FROM telegram_channels WHERE channel_id = $1`, channelID).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("load checkpoint of channel %d: %w", channelID, err)
	}
	return last, true, nil
}

// byID finds a channel's access hash, for a channel configured by id.
func (c checkpoints) byID(ctx context.Context, channelID int64) (channelInfo, bool, error) {
	ch := channelInfo{ID: channelID}
	err := c.db.QueryRow(ctx, `SELECT access_hash, username, title FROM telegram_channels WHERE channel_id = $1`, channelID).
		Scan(&ch.AccessHash, &ch.Username, &ch.Title)
	if errors.Is(err, pgx.ErrNoRows) {
		return ch, false, nil
	}
	if err != nil {
		return ch, false, fmt.Errorf("load channel %d: %w", channelID, err)
	}
	return ch, true, nil
}

// save records the channel and moves its checkpoint forward (never back:
// an edit of an old post must not make history be read again).
func (c checkpoints) save(ctx context.Context, ch channelInfo, last int64, lastAt time.Time) error {
	var at *time.Time
	if !lastAt.IsZero() {
		at = &lastAt
	}
	_, err := c.db.Exec(ctx, `
INSERT INTO telegram_channels (channel_id, access_hash, username, title, last_message_id, last_message_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (channel_id) DO UPDATE SET
    access_hash = EXCLUDED.access_hash,
    username = EXCLUDED.username,
    title = EXCLUDED.title,
    last_message_at = CASE WHEN EXCLUDED.last_message_id > telegram_channels.last_message_id
        THEN EXCLUDED.last_message_at ELSE telegram_channels.last_message_at END,
    last_message_id = GREATEST(telegram_channels.last_message_id, EXCLUDED.last_message_id),
    updated_at = now()`,
		ch.ID, ch.AccessHash, ch.Username, ch.Title, last, at)
	if err != nil {
		return fmt.Errorf("save checkpoint of channel %d: %w", ch.ID, err)
	}
	return nil
}

// PostgresSession stores an MTProto session in telegram_sessions under a
// name. It implements gotd's session.Storage.
type PostgresSession struct {
	DB   *pgxpool.Pool
	Name string
}

// LoadSession implements session.Storage.
func (s *PostgresSession) LoadSession(ctx context.Context) ([]byte, error) {
	var data []byte
	err := s.DB.QueryRow(ctx, `SELECT data FROM telegram_sessions WHERE name = $1`, s.Name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load telegram session %q: %w", s.Name, err)
	}
	return data, nil
}

// StoreSession implements session.Storage.
func (s *PostgresSession) StoreSession(ctx context.Context, data []byte) error {
	_, err := s.DB.Exec(ctx, `
INSERT INTO telegram_sessions (name, data, updated_at) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated_at = now()`, s.Name, data)
	if err != nil {
		return fmt.Errorf("store telegram session %q: %w", s.Name, err)
	}
	return nil
}

// FileSession stores an MTProto session in a file only its owner can
// read: it is created with mode 0600, and an existing file readable by
// others is refused rather than used.
type FileSession struct{ Path string }

// LoadSession implements session.Storage.
func (s *FileSession) LoadSession(_ context.Context) ([]byte, error) {
	st, err := os.Stat(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("telegram session file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("telegram session file %s has mode %v: others can read the login; chmod 600 it", s.Path, st.Mode().Perm())
	}
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, fmt.Errorf("telegram session file: %w", err)
	}
	return data, nil
}

// StoreSession implements session.Storage: written to a temporary file
// with mode 0600 and renamed, so a crash never leaves half a session.
func (s *FileSession) StoreSession(_ context.Context, data []byte) error {
	dir := filepath.Dir(s.Path)
	f, err := os.CreateTemp(dir, ".telegram-session-*")
	if err != nil {
		return fmt.Errorf("telegram session file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) //nolint:errcheck // gone after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("telegram session file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("telegram session file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("telegram session file: %w", err)
	}
	if err := os.Rename(tmp, s.Path); err != nil {
		return fmt.Errorf("telegram session file: %w", err)
	}
	return nil
}

// SessionStorage opens the session storage the configuration names. db is
// needed for the postgres storage only.
func SessionStorage(cfg SessionConfig, db *pgxpool.Pool) (session.Storage, error) {
	switch cfg.Storage {
	case StoragePostgres:
		if db == nil {
			return nil, errors.New("telegram session storage postgres needs database.url")
		}
		return &PostgresSession{DB: db, Name: cfg.Name}, nil
	case StorageFile:
		return &FileSession{Path: cfg.File}, nil
	}
	return nil, fmt.Errorf("stages.telegram.session.storage %q is not postgres or file", cfg.Storage)
}
