package bench_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/assistant-dev/assistant/bench"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/all"
)

// TestPipelineMeasuresEveryPost runs the end-to-end benchmark on a small N
// against the real Redis and PostgreSQL so that it keeps working; the
// figures come from `make bench`.
func TestPipelineMeasuresEveryPost(t *testing.T) {
	testenv.Redis(t)
	var out bytes.Buffer
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	res, err := bench.Pipeline(context.Background(), bench.PipelineOptions{
		RedisURL: testenv.RedisURL(), DatabaseURL: testenv.DatabaseURL(),
		Corpus: testenv.SamplePath(), N: 1200, Out: &out, Stages: all.Registry(),
		CPUProfile: cpu, MemProfile: mem,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Posts != 1200 || res.P50 <= 0 || res.P99 < res.P50 || res.Elapsed <= 0 {
		t.Fatalf("implausible result %+v", res)
	}
	// The profiles asked for are written, as pprof's gzipped protobuf; the
	// allocation profile with the base to subtract.
	for _, path := range []string{cpu, mem, mem + ".base"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("%s is not a gzipped profile (%d bytes)", path, len(b))
		}
	}
	t.Log(out.String())
}
