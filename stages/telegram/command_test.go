package telegram_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/internal/tgfake"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/all"
	"github.com/assistant-dev/assistant/stages/telegram"
)

// commandConfig writes a configuration on the test's Redis prefix and
// database.
func commandConfig(t *testing.T, prefix, dbURL string) string {
	t.Helper()
	body := fmt.Sprintf("log:\n  format: text\nredis:\n  url: %s\n  key_prefix: %q\ndatabase:\n  url: %q\n", testenv.RedisURL(), prefix, dbURL)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTelegram runs `assistant telegram ARGS...` against the test MTProto
// server with stdin as the operator's answers.
func runTelegram(t *testing.T, srv *tgfake.Server, configPath, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	reg := all.Registry()
	env := pipeline.CommandEnv{
		Registry: reg,
		Config: func() (*config.Config, error) {
			cfg, err := reg.LoadConfig(configPath)
			return &cfg, err
		},
		Logger: func() *slog.Logger { return slog.New(slog.NewTextHandler(&stderr, nil)) },
		Stdin:  strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
	}
	cmd := telegram.CommandsFor(srv.Network())(env)[0]
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), stderr.String(), err
}

// TestTelegramLoginCommand signs in through `assistant telegram login`
// with scripted terminal input (phone, code, 2FA password) against the
// test MTProto server (tgfake: gotd's tgtest with TL handlers, not
// Telegram), stores the session in PostgreSQL, and lists the channels with
// `assistant telegram channels`. Also: a session file is written 0600.
func TestTelegramLoginCommand(t *testing.T) {
	t.Setenv("TELEGRAM_API_ID", "12345")
	t.Setenv("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")
	srv := tgfake.New(t)
	srv.AddChannel(9100, "first", "Первый", 2)
	srv.AddChannel(9200, "", "Второй (private)", 2)
	srv.RequireLogin(t, "+15550002", "13579", "s3cret pass")
	_, prefix := testenv.Redis(t)
	cfgPath := commandConfig(t, prefix, testenv.Postgres(t))

	out, errOut, err := runTelegram(t, srv, cfgPath, "+15550002\n13579\ns3cret pass\n", "login")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "Signed in as Test (@tester)") || !strings.Contains(out, "telegram_sessions") {
		t.Errorf("login output: %q", out)
	}
	if strings.Contains(out+errOut, "s3cret") || strings.Contains(out+errOut, "13579") {
		t.Error("a secret was printed")
	}
	out, errOut, err = runTelegram(t, srv, cfgPath, "", "channels")
	if err != nil {
		t.Fatalf("channels: %v\n%s", err, errOut)
	}
	for _, want := range []string{"ID", "9100", "@first", "Первый", "9200", "Второй (private)", "channel"} {
		if !strings.Contains(out, want) {
			t.Errorf("channels output lacks %q:\n%s", want, out)
		}
	}

	// File storage: the same flow, the file is 0600.
	path := filepath.Join(t.TempDir(), "tg.session")
	if _, errOut, err := runTelegram(t, srv, cfgPath, "13579\ns3cret pass\n", "login", "--phone", "+15550002", "--session-file", path); err != nil {
		t.Fatalf("login to a file: %v\n%s", err, errOut)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", st, err)
	}
	// A wrong password fails with Telegram's reason.
	_, _, err = runTelegram(t, srv, cfgPath, "13579\nwrong\n", "login", "--phone", "+15550002", "--session-file", filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "invalid password") {
		t.Errorf("wrong password: %v", err)
	}
}
