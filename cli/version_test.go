package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeBuildStampsRevision: `make build` (and so `make run`, `make
// docker`) passes the work tree's revision to the linker, so that the
// binary carries it even where the toolchain records no VCS data
// (-buildvcs=false, a Docker context without .git). `make -n` prints the
// build command without running it; TestBuildInfoPrefersStampedRevision
// shows what the binary does with the stamp.
func TestMakeBuildStampsRevision(t *testing.T) {
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH", tool)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git work tree: %v", err)
	}
	for _, target := range []string{"build", "docker"} {
		out, err := exec.Command("make", "-n", "-s", "-C", root, target).CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		want := "github.com/assistant-dev/assistant/cli.revision=" + strings.TrimSpace(string(rev))
		if target == "docker" {
			want = "--build-arg REVISION=" + strings.TrimSpace(string(rev))
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("make %s does not stamp the revision (%s):\n%s", target, want, out)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "cli.revision=${REVISION}") {
		t.Error("the Dockerfile does not stamp the REVISION build argument")
	}
}

// TestBuildInfoPrefersStampedRevision: a revision stamped with -X wins, and
// is reported even when the toolchain recorded no VCS data.
func TestBuildInfoPrefersStampedRevision(t *testing.T) {
	saved, savedMod := revision, modified
	t.Cleanup(func() { revision, modified = saved, savedMod })
	revision, modified = "0123456789abcdef0123", "true"
	bi := readBuildInfo()
	if bi.Revision != "0123456789abcdef0123" || !bi.Modified {
		t.Errorf("build info %+v", bi)
	}
	if s := versionString(); !strings.Contains(s, "(0123456789ab+dirty") {
		t.Errorf("version %q", s)
	}
}
