package cli

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/assistant-dev/assistant/stages/all"
)

// helperEnv makes the test binary act as the assistant binary: TestMain
// runs Execute with the arguments after "--". Tests that need what only the
// real process does (slog's default logger, go-redis' global logger, signal
// handling, the working directory's config.yaml) run it as a subprocess.
const helperEnv = "ASSISTANT_CLI_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		i := slices.Index(os.Args, "--")
		os.Args = append([]string{"assistant"}, os.Args[i+1:]...)
		// The marker is the test's, not a setting: the command would warn
		// about an unknown ASSISTANT_* variable.
		_ = os.Unsetenv(helperEnv)
		os.Exit(Execute(all.Registry()))
	}
	// `assistant search` keeps its vector snapshot in the user's cache
	// directory: the tests' go to a directory of their own.
	cache, err := os.MkdirTemp("", "assistant-cli-cache-")
	if err != nil {
		panic(err)
	}
	_ = os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	_ = os.RemoveAll(cache)
	os.Exit(code)
}

// processCommand prepares the test binary as `assistant args...`, run in
// dir (a fresh temporary directory when empty) with env added.
func processCommand(t *testing.T, dir string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	return cmd
}

// runProcess runs `assistant args...` as a process and returns its exit
// status, stdout and stderr.
func runProcess(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := processCommand(t, dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}
