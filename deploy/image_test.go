package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// releaseFlags are what every release build passes: a static binary
// (CGO_ENABLED=0), no local paths (-trimpath), no VCS lookup (the revision
// is stamped instead, as a Docker context has no .git), stripped, with the
// version and the revision stamped.
var releaseFlags = []string{
	"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "-s -w",
	"github.com/assistant-dev/assistant/cli.version=${VERSION}",
	"github.com/assistant-dev/assistant/cli.revision=${REVISION}",
}

// TestReleaseBuildsAgree: the Dockerfile (registries), scripts/image.sh
// (`make image`, podman) and `make build` pass the same release flags, so
// they build the same binary.
func TestReleaseBuildsAgree(t *testing.T) {
	files := map[string]string{}
	for _, f := range []string{"../Dockerfile", "../scripts/image.sh"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = strings.ReplaceAll(string(raw), "${PKG}", "github.com/assistant-dev/assistant/cli")
	}
	if _, err := exec.LookPath("make"); err == nil {
		out, err := exec.Command("make", "-n", "-s", "-C", "..", "build", "VERSION=@V@", "REVISION=@R@").CombinedOutput()
		if err != nil {
			t.Fatalf("make -n build: %v\n%s", err, out)
		}
		files["make build"] = strings.NewReplacer("@V@", "${VERSION}", "@R@", "${REVISION}").Replace(string(out))
	}
	for name, body := range files {
		for _, flag := range releaseFlags {
			if !strings.Contains(body, flag) {
				t.Errorf("%s: the release build lacks %s", name, flag)
			}
		}
	}
}

// TestImage builds the release image as `make image` does (podman, FROM
// scratch, pulling nothing) and runs its entrypoint: `version` (stamped),
// then `run --stages=tag,persist` against the local Redis and PostgreSQL
// (the test's own key prefix and schema) until `healthcheck --ready`
// passes and an ingested post is stored. The container runs with
// `podman run --network=host`; where the sandbox refuses that (cgroups,
// setrlimit), the image's root filesystem from `podman save` is run in a
// chroot as the image's user, uid 65532, on the host's network.
//
// Skipped only when podman is missing and cannot be installed, which is
// said loudly; .ci/run installs it.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image (-short)")
	}
	requirePodman(t)
	_, prefix := testenv.Redis(t)
	schema := testenv.SchemaName(t)

	tag := fmt.Sprintf("localhost/assistant-imagetest-%d", os.Getpid())
	version := "imagetest-" + time.Now().UTC().Format("20060102T150405")
	ctxDir := t.TempDir()
	build := exec.Command("bash", "../scripts/image.sh")
	build.Env = append(os.Environ(), "IMAGE="+tag, "VERSION="+version, "REVISION=0123456789abcdef", "CONTEXT="+ctxDir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	image := tag + ":" + version
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", image, tag+":latest").Run() })

	// The binary is static and carries the release flags.
	if out, err := exec.Command("go", "version", "-m", filepath.Join(ctxDir, "assistant")).CombinedOutput(); err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	} else {
		// With -trimpath the toolchain records no -ldflags: the stamp is
		// checked by running `version` below.
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the image's binary was not built with %s:\n%s", want, out)
			}
		}
	}

	cfg := inspectImage(t, image)
	if cfg.User != "65532:65532" || cfg.WorkingDir != "/etc/assistant" {
		t.Errorf("image user %q, workdir %q; want 65532:65532 and /etc/assistant", cfg.User, cfg.WorkingDir)
	}
	run := containerRunner(t, image, cfg)

	out, err := run(context.Background(), nil, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "assistant "+version+" (0123456789ab") {
		t.Fatalf("version in the image: %v\n%s", err, out)
	}

	opsAddr := freeAddr(t)
	env := []string{
		"REDIS_URL=" + testenv.RedisURL(), "DATABASE_URL=" + testenv.DatabaseURL(),
		"ASSISTANT_REDIS_KEY_PREFIX=" + prefix, "ASSISTANT_DATABASE_SCHEMA=" + schema,
		"ASSISTANT_HTTP_ADDR=" + opsAddr, "ASSISTANT_AI_TAGGER=local", "ASSISTANT_AI_EMBEDDER=local",
		"ASSISTANT_RUNNER_BLOCK=100ms", "ASSISTANT_RUNNER_SHUTDOWN_TIMEOUT=5s",
		"ASSISTANT_POSTS_RETENTION=87600h",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	daemon := run(ctx, env, "run", "--stages=tag,persist")
	var logs syncBuffer
	daemon.Stdout, daemon.Stderr = &logs, &logs
	daemon.Cancel = func() error { return daemon.Process.Signal(syscall.SIGTERM) }
	daemon.WaitDelay = 20 * time.Second
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the daemon is gone; waitErr is then its status.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = daemon.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop within 30s of SIGTERM")
		}
	})

	testenv.WaitFor(t, "healthcheck --ready in the image", 90*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("the daemon exited: %v\n%s", waitErr, logs.String())
		default:
		}
		return run(context.Background(), env, "healthcheck", "--ready", "--addr", opsAddr).Run() == nil
	})

	// One post in, through the same binary outside the image.
	sample := filepath.Join(t.TempDir(), "posts.jsonl")
	writeSample(t, sample, 3)
	ingest := exec.Command(filepath.Join(ctxDir, "assistant"), "ingest", sample)
	ingest.Dir = t.TempDir()
	ingest.Env = append(os.Environ(), env...)
	if out, err := ingest.CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(context.Background(), testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	testenv.WaitFor(t, "a post stored by the image's daemon", 60*time.Second, func() bool {
		var n int
		err := conn.QueryRow(context.Background(),
			"SELECT count(*) FROM "+pgx.Identifier{schema, "post_enrichment"}.Sanitize()+" WHERE kind = 'tags'").Scan(&n)
		return err == nil && n > 0
	})
	cancel()
	select {
	case <-exited:
		// Wait reports the cancellation itself; the exit status is the
		// daemon's answer to SIGTERM.
		if daemon.ProcessState == nil || daemon.ProcessState.ExitCode() != 0 {
			t.Errorf("the daemon's exit after SIGTERM: %v\n%s", waitErr, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30s of SIGTERM:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped cleanly"`) {
		t.Errorf("the daemon's log (JSON, the image's ASSISTANT_LOG_FORMAT) lacks a clean stop:\n%s", logs.String())
	}
}

// requirePodman makes sure podman is there, installing Debian's package
// when it is missing and this is root; it skips, loudly, only when that
// fails.
func requirePodman(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err == nil {
		return
	}
	var out []byte
	err := fmt.Errorf("not root")
	if os.Geteuid() == 0 {
		out, err = exec.Command("sh", "-c", "apt-get install -y podman || (apt-get update -qq && apt-get install -y podman)").CombinedOutput()
	}
	if _, lerr := exec.LookPath("podman"); err != nil || lerr != nil {
		msg := fmt.Sprintf("SKIPPING THE IMAGE TEST: podman is not installed and could not be installed (%v); the release image is NOT tested here\n%s", err, out)
		t.Log(msg)
		fmt.Fprintln(os.Stderr, "deploy: "+msg)
		t.Skip("podman unavailable")
	}
}

// imageConfig is the part of the image's configuration the test runs by.
type imageConfig struct {
	Entrypoint []string
	Cmd        []string
	User       string
	WorkingDir string
	Env        []string
}

func inspectImage(t *testing.T, image string) imageConfig {
	t.Helper()
	out, err := exec.Command("podman", "image", "inspect", "--format", "{{json .Config}}", image).Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("image config %s: %v", out, err)
	}
	if len(cfg.Entrypoint) == 0 {
		t.Fatalf("image has no entrypoint: %s", out)
	}
	return cfg
}

// containerRunner returns how to run the image's entrypoint with args:
// podman run when the sandbox allows it, else a chroot into the image's
// root filesystem as its user.
func containerRunner(t *testing.T, image string, cfg imageConfig) func(ctx context.Context, env []string, args ...string) *exec.Cmd {
	t.Helper()
	podmanRun := func(ctx context.Context, env []string, args ...string) *exec.Cmd {
		a := []string{"run", "--rm", "--network=host", "--pull=never"}
		for _, e := range env {
			a = append(a, "-e", e)
		}
		return exec.CommandContext(ctx, "podman", append(append(a, image), args...)...)
	}
	probe, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := podmanRun(probe, nil, "version").CombinedOutput()
	if err == nil {
		return podmanRun
	}
	t.Logf("podman run fails in this sandbox (%v: %s); running the image's root filesystem in a chroot as %s", err, bytes.TrimSpace(out), cfg.User)
	root := unpackImage(t, image)
	var uid, gid uint32
	if _, err := fmt.Sscanf(cfg.User, "%d:%d", &uid, &gid); err != nil {
		t.Fatalf("image user %q: %v", cfg.User, err)
	}
	return func(ctx context.Context, env []string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(root, cfg.Entrypoint[0]), append(cfg.Entrypoint[1:], args...)...)
		cmd.Path = cfg.Entrypoint[0] // resolved inside the chroot
		cmd.Dir = cfg.WorkingDir
		cmd.Env = append(append([]string{}, cfg.Env...), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		return cmd
	}
}

// unpackImage writes the image's layers (podman save, docker-archive) into
// a directory, in order.
func unpackImage(t *testing.T, image string) string {
	t.Helper()
	dir := t.TempDir()
	archive := filepath.Join(dir, "image.tar")
	if out, err := exec.Command("podman", "save", "--format", "docker-archive", "-o", archive, image).CombinedOutput(); err != nil {
		t.Fatalf("podman save: %v\n%s", err, out)
	}
	files := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json of the saved image: %v", err)
	}
	root := filepath.Join(dir, "rootfs")
	for _, layer := range manifest[0].Layers {
		if err := untar(root, files[layer]); err != nil {
			t.Fatalf("layer %s: %v", layer, err)
		}
	}
	return root
}

// untar extracts a layer (directories and regular files: a FROM scratch
// image of COPYs has nothing else) below root.
func untar(root string, layer []byte) error {
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(name, b, os.FileMode(h.Mode)&0o7777); err != nil {
				return err
			}
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeSample copies the first n posts of the repository's sample corpus.
func writeSample(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "telegram-news-ru", "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		b.Write(sc.Bytes())
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
