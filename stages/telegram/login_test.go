package telegram_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/session"

	"github.com/assistant-dev/assistant/internal/tgfake"
	"github.com/assistant-dev/assistant/stages/telegram"
)

func scripted(lines ...string) (*telegram.LineReader, *bytes.Buffer) {
	var out bytes.Buffer
	return &telegram.LineReader{In: bufio.NewReader(strings.NewReader(strings.Join(lines, "\n") + "\n")), Out: &out}, &out
}

// TestLogin signs in against the test MTProto server with scripted answers
// (phone, code, 2FA password checked by SRP), and then lists the channels
// with the stored session; a wrong password leaves no usable session.
func TestLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string // the account's
		answers  []string
		wantErr  string
	}{
		{name: "code only", answers: []string{"+15550001", "24680"}},
		{name: "two-step password", password: "correct horse", answers: []string{"+15550001", "24680", "correct horse"}},
		{name: "wrong password", password: "correct horse", answers: []string{"+15550001", "24680", "wrong horse"}, wantErr: "invalid password"},
		{name: "wrong code", answers: []string{"+15550001", "11111"}, wantErr: "PHONE_CODE_INVALID"},
		{name: "input ends", answers: []string{"+15550001"}, wantErr: "input ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			srv := tgfake.New(t)
			srv.AddChannel(9001, "readable", "Читаемый", 1)
			srv.RequireLogin(t, "+15550001", "24680", tt.password)
			path := filepath.Join(t.TempDir(), "telegram.session")
			store := &telegram.FileSession{Path: path}
			cfg := testConfig()
			prompt, out := scripted(tt.answers...)
			user, err := telegram.Login(ctx, cfg, prompt, telegram.LoginOptions{Session: store, Network: srv.Network()})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Login error %v, want one with %q", err, tt.wantErr)
				}
				if _, err := telegram.ListChannels(ctx, cfg, store, srv.Network()); err == nil || !strings.Contains(err.Error(), "not authorized") {
					t.Errorf("after a failed login, channels: %v, want not authorized", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if user.ID != srv.Self().ID {
				t.Errorf("signed in as %d, want %d", user.ID, srv.Self().ID)
			}
			if tt.password != "" && strings.Contains(out.String(), tt.password) {
				t.Error("the password was echoed")
			}
			if !strings.Contains(out.String(), "Code Telegram sent you") {
				t.Errorf("prompts: %q", out.String())
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("session file mode %v, want 0600", st.Mode().Perm())
			}
			list, err := telegram.ListChannels(ctx, cfg, store, srv.Network())
			if err != nil {
				t.Fatalf("channels with the stored session: %v", err)
			}
			t.Logf("dialogs served: %d", srv.RequestCount())
			if len(list) != 1 || list[0].ID != 9001 || list[0].Username != "readable" || !list[0].Broadcast {
				t.Errorf("channels: %+v", list)
			}
			// A second login with the stored session asks nothing.
			again, _ := scripted()
			if _, err := telegram.Login(ctx, cfg, again, telegram.LoginOptions{Session: store, Network: srv.Network()}); err != nil {
				t.Errorf("login with a stored session: %v", err)
			}
		})
	}
}

// TestFileSessionRefusesOpenPermissions: a session file others can read is
// not used.
func TestFileSessionRefusesOpenPermissions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(path, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := (&telegram.FileSession{Path: path}).LoadSession(context.Background())
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("load of a 0644 session: %v", err)
	}
}

// telethonString builds a Telethon StringSession as Telethon writes it:
// "1" + urlsafe base64 of >B4sH256s (dc, IPv4, port, auth key).
func telethonString(dc byte, ip net.IP, port uint16, key []byte) string {
	b := []byte{dc}
	b = append(b, ip.To4()...)
	b = binary.BigEndian.AppendUint16(b, port)
	b = append(b, key...)
	return "1" + base64.URLEncoding.EncodeToString(b)
}

func TestImportTelethon(t *testing.T) {
	t.Parallel()
	key := make([]byte, 256)
	_, _ = rand.Read(key)
	store := &telegram.FileSession{Path: filepath.Join(t.TempDir(), "s")}
	s := telethonString(2, net.ParseIP("149.154.167.51"), 443, key)
	if err := telegram.ImportTelethon(context.Background(), store, s+"\n"); err != nil {
		t.Fatalf("import: %v", err)
	}
	data, err := (&session.Loader{Storage: store}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if data.DC != 2 || data.Addr != "149.154.167.51:443" || !bytes.Equal(data.AuthKey, key) {
		t.Errorf("imported session: dc %d addr %s key equal %v", data.DC, data.Addr, bytes.Equal(data.AuthKey, key))
	}
	if err := telegram.ImportTelethon(context.Background(), store, "1not-a-session"); err == nil {
		t.Error("a broken Telethon string was imported")
	}
}
