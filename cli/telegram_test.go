package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTelegramLoginNeedsCredentials: without TELEGRAM_API_ID the command
// says what is missing.
func TestTelegramLoginNeedsCredentials(t *testing.T) {
	t.Setenv("TELEGRAM_API_ID", "")
	t.Setenv("TELEGRAM_API_HASH", "")
	code, _, stderr := runCLI(t, "telegram", "channels", "--session-file", filepath.Join(t.TempDir(), "s"))
	if code == 0 || !strings.Contains(stderr, "TELEGRAM_API_ID") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
